-- 039_target_identity: a run may skip reading its source only when the target is provably as
-- its last publish left it.
--
-- Before this migration a BigQuery refresh whose source tables had not changed ended
-- `success`/`unchanged` without a query even when someone had truncated, deleted from or
-- edited the target since: the damage stayed for good. Now every target table carries a
-- statement-level trigger that moves a per-table version in sqp_refresh_work.target_versions
-- on every INSERT, UPDATE, DELETE and TRUNCATE, in the writer's own transaction. The publish
-- records the version (and the table's relfilenode) after its own writes; a later run skips
-- only when both are still the same (src/runner/engine/target-identity.ts).
--
-- Why a trigger and a version row, and not what the catalog already counts:
--   pg_stat_all_tables' n_tup_ins/upd/del are not transactional (a rolled-back edit counts),
--     are flushed up to a second late, are lost by a crash and reset by pg_stat_reset():
--     they can say "untouched" when it is not;
--   max(xmin) or a checksum of the rows cost a scan of the whole table on every skipped run;
--   a statement-level trigger costs one row update per statement (not per row) and is exact:
--     the version moves in the same transaction as the change, so a rolled-back change does not
--     move it and a committed one always does.
-- relfilenode is recorded too: TRUNCATE, VACUUM FULL, CLUSTER and a table dropped and created
-- again under the same name all give the table a new one, even where triggers were disabled.

CREATE TABLE IF NOT EXISTS sqp_refresh_work.target_versions (
    table_schema TEXT NOT NULL,
    table_name   TEXT NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (table_schema, table_name)
);
COMMENT ON TABLE sqp_refresh_work.target_versions IS
    'sqp-refresh: a version per target table, moved by every statement that writes it (trigger sqp_refresh_target_version); a refresh skips its read only while the version its last publish recorded is unchanged';

-- Every version ever written is a new value of this sequence, never "the old one + 1": a row
-- emptied away (this schema says it may be emptied) and written again, or a table dropped and
-- created again, can never come back to a version a publish recorded. Two writers that race
-- may leave the smaller of their two values; it is still one no publish recorded.
CREATE SEQUENCE IF NOT EXISTS sqp_refresh_work.target_version_seq;

-- The trigger's function. SECURITY DEFINER: whoever writes the target (an analyst, another
-- application) needs no privilege on sqp_refresh_work for their statement to succeed; the
-- function can only be called as a trigger and only moves the version of the table it fires on.
CREATE OR REPLACE FUNCTION sqp_refresh_work.bump_target_version() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO sqp_refresh_work.target_versions AS v (table_schema, table_name, version)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, nextval('sqp_refresh_work.target_version_seq'))
    ON CONFLICT (table_schema, table_name) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END;
$$;

-- Why the trigger cannot see every write of a table, or NULL when it can. One definition for
-- the engine's check and for installing (below):
--   partitioned       a partitioned table holds no rows; its partitions are written directly;
--   inheritance       a table with a parent or children: a statement on one of them changes
--                     rows the other shows, and fires only its own triggers;
--   replicated        a logical replication subscriber's apply worker fires no statement trigger;
--   noTrigger         the trigger is not there;
--   triggerNotAlways  the trigger is disabled, or enabled only for origin or replica sessions
--                     (session_replication_role = replica skips an ordinary trigger);
--   triggerChanged    a trigger of that name that is not exactly ours (other events, a WHEN
--                     condition, UPDATE OF columns, another function).
-- tgtype 60: AFTER (no BEFORE bit), FOR EACH STATEMENT (no ROW bit), INSERT 4 + DELETE 8 +
-- UPDATE 16 + TRUNCATE 32.
CREATE OR REPLACE FUNCTION sqp_refresh_work.target_tracking_gap(p_relid OID) RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN c.relkind = 'p' THEN 'partitioned'
        WHEN c.relispartition OR EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid) THEN 'inheritance'
        WHEN EXISTS (SELECT FROM pg_subscription_rel s WHERE s.srrelid = c.oid) THEN 'replicated'
        WHEN t.oid IS NULL THEN 'noTrigger'
        WHEN t.tgtype <> 60 OR t.tgqual IS NOT NULL OR cardinality(t.tgattr::int2[]) > 0
             OR t.tgfoid <> 'sqp_refresh_work.bump_target_version()'::regprocedure THEN 'triggerChanged'
        WHEN t.tgenabled <> 'A' THEN 'triggerNotAlways'
    END
    FROM pg_class c
    LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'sqp_refresh_target_version'
    WHERE c.oid = p_relid
$$;

-- Makes a table's writes seen by the trigger where this role may: 'tracked' (it already was),
-- 'installed', or why not (a gap above that no trigger fixes, 'notOwner', 'missing', or the
-- error PostgreSQL gave). ENABLE ALWAYS needs the table's owner (a member of its owning role):
-- the least-privilege role of docs/deploy/create-role.sql, on tables another role owns, has
-- only SELECT/INSERT/UPDATE/DELETE there, and its tables are never skipped (the run says so).
-- Their owner may call it too, given USAGE on this schema (README, "Success means equal").
-- DROP + CREATE rather than CREATE OR REPLACE TRIGGER (PostgreSQL 14+): the same in one
-- transaction, on any version. The version row is created so that the publish can lock it.
-- Errors are caught (a subtransaction): the engine calls it inside its publish transaction,
-- which must go on untracked rather than fail.
CREATE OR REPLACE FUNCTION sqp_refresh_work.track_target(p_schema TEXT, p_table TEXT) RETURNS TEXT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_relid OID;
    v_gap TEXT;
BEGIN
    SELECT c.oid INTO v_relid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = p_schema AND c.relname = p_table AND c.relkind IN ('r', 'p');
    IF v_relid IS NULL THEN
        RETURN 'missing';
    END IF;
    v_gap := sqp_refresh_work.target_tracking_gap(v_relid);
    IF v_gap IS NULL THEN
        -- The version row the publish locks. Usually there: nothing is written (and no
        -- sequence value used) on a publish. A table owner calling this has no need of it.
        IF has_table_privilege('sqp_refresh_work.target_versions', 'SELECT') AND has_table_privilege('sqp_refresh_work.target_versions', 'INSERT') THEN
            INSERT INTO sqp_refresh_work.target_versions (table_schema, table_name, version)
            SELECT p_schema, p_table, nextval('sqp_refresh_work.target_version_seq')
            WHERE NOT EXISTS (SELECT FROM sqp_refresh_work.target_versions v WHERE v.table_schema = p_schema AND v.table_name = p_table)
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN 'tracked';
    END IF;
    IF v_gap NOT IN ('noTrigger', 'triggerNotAlways', 'triggerChanged') THEN
        RETURN v_gap;
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = v_relid), 'USAGE') THEN
        RETURN 'notOwner';
    END IF;
    IF v_gap <> 'noTrigger' THEN
        EXECUTE format('DROP TRIGGER sqp_refresh_target_version ON %I.%I', p_schema, p_table);
    END IF;
    EXECUTE format('CREATE TRIGGER sqp_refresh_target_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION sqp_refresh_work.bump_target_version()', p_schema, p_table);
    EXECUTE format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER sqp_refresh_target_version', p_schema, p_table);
    -- A write of no row: the trigger itself gives the table a new version, so that a table's
    -- owner who is not the service's role needs no privilege on target_versions to install it.
    EXECUTE format('DELETE FROM %I.%I WHERE false', p_schema, p_table);
    RETURN 'installed';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLERRM;
END;
$$;

-- The tables registered now. Tables registered later get the trigger at their first publish
-- (the engine calls track_target). One NOTICE names those this role may not track.
DO $$
DECLARE
    v_untracked TEXT;
BEGIN
    SELECT string_agg(format('%I.%I (%s)', r.table_schema, r.table_name, r.outcome), ', ' ORDER BY r.table_schema, r.table_name)
    INTO v_untracked
    FROM (SELECT c.table_schema, c.table_name, sqp_refresh_work.track_target(c.table_schema, c.table_name) AS outcome
          FROM sqp.refresh_config c) r
    WHERE r.outcome NOT IN ('tracked', 'installed', 'missing');
    IF v_untracked IS NOT NULL THEN
        RAISE NOTICE 'sqp-refresh: these tables cannot be proved untouched between refreshes, so they are read on every run: %', v_untracked;
    END IF;
END;
$$;
