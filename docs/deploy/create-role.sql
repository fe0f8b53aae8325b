-- The login role sqp-refresh runs as: no superuser, and exactly the privileges the service
-- uses — found by running its migrations and `sqp-refresh start` (demo source included) as a
-- role that had nothing else, adding one grant at a time until every table refreshed.
-- test/deploy.test.ts runs this file as it is and the service on it, behind PgBouncer.
--
--   psql "postgresql://postgres@db.example.com:5432/postgres" \
--        -v role=sqp_refresh -v password='…' -v database=app -f docs/deploy/create-role.sql
--
-- Run it as a role that may create roles and grant on the database and on its `public` schema
-- (a superuser, the database owner, or Supabase's `postgres`). It is idempotent: running it
-- again resets the password and grants what tables added since then need. It never grants
-- superuser, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS, nor membership of any role
-- (pg_signal_backend, pg_read_all_stats, pg_monitor: the service reads pg_locks, which every
-- role may read, and never cancels or terminates another backend).
--
-- Without superuser, migration 031 skips its event trigger with a NOTICE (logged as a warning
-- at start) and the runner registers new `sqp` tables from the catalog on its tick instead
-- (migration 036). Nothing else changes.
\set ON_ERROR_STOP on

\if :{?role}
\else
  \set role sqp_refresh
\endif
\if :{?database}
\else
  DO $$ BEGIN RAISE EXCEPTION 'create-role.sql: give the database: -v database=NAME'; END $$;
\endif
\if :{?password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'create-role.sql: give the password: -v password=SECRET'; END $$;
\endif

-- The role. Only CREATE names the attributes: ALTER ROLE … NOSUPERUSER is refused to a
-- non-superuser (Supabase's `postgres`) even when nothing would change.
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN PASSWORD :'password';

-- CONNECT: hardened databases (and some platforms) revoke it from PUBLIC.
-- CREATE: the migrations create the schemas `sqp` (the refresh tables, and the eight SQP data
-- tables when they are missing) and `sqp_refresh_work` (staging tables, requests, heartbeats,
-- the read model); without BigQuery settings the demo source creates `sqp_demo`. The role
-- owns what it creates, so nothing inside those schemas needs a grant of its own.
-- Not TEMPORARY: the service creates no temporary tables (its staging tables are unlogged
-- tables in sqp_refresh_work). Nothing on the `postgres` database either.
GRANT CONNECT, CREATE ON DATABASE :"database" TO :"role";

\connect :"database"

-- `_prisma_migrations`, the migration bookkeeping Prisma and the service share, is created
-- in the first schema of the search path, `public`. PostgreSQL 15 and later no longer let
-- every role create there (USAGE alone is still granted to PUBLIC; granted here for databases
-- that revoked it).
GRANT USAGE, CREATE ON SCHEMA public TO :"role";

-- A database whose `sqp` schema already exists, owned by another role, with the user's own
-- data tables in it (a Supabase project that loads SQP data itself). Then the role also needs:
--   USAGE, CREATE on the schema: the refresh tables (refresh_config, refresh_audit_log, …) are
--     created in `sqp` beside the data tables;
--   SELECT, INSERT, UPDATE, DELETE on the data tables: a publish reads the target (the diff,
--     the quality checks), inserts and upserts (INSERT … ON CONFLICT DO UPDATE) its rows, and
--     deletes the window's missing rows (deleteMissing; the demo's summaries use it). No
--     TRUNCATE, no ownership: the service never alters, indexes, analyzes or truncates a table
--     it did not create;
--   the same on tables the owner creates later: the runner registers every new `sqp` table
--     and refreshes it, so default privileges of the schema's owner cover them.
-- ON ALL TABLES also names the role's own refresh tables, which changes nothing there.
-- A data table whose key or a column draws from a sequence that the load does not fill also
-- needs `GRANT USAGE ON ALL SEQUENCES IN SCHEMA sqp TO …` (the SQP tables have natural keys).
-- Decided from the catalog, so the same command serves both cases (one row, even with no `sqp`).
SELECT coalesce(bool_or(n.nspowner <> r.oid), false) AS sqp_schema_of_another,
       coalesce(bool_or(n.nspowner <> r.oid), false) OR EXISTS (
         SELECT FROM pg_class c JOIN pg_namespace cn ON cn.oid = c.relnamespace
          WHERE cn.nspname = 'sqp' AND c.relkind IN ('r', 'p') AND c.relowner <> r.oid) AS sqp_tables_of_another,
       max(pg_get_userbyid(n.nspowner)) AS sqp_owner
  FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = 'sqp'
 WHERE r.rolname = :'role'
 GROUP BY r.oid \gset
\if :sqp_tables_of_another
GRANT USAGE, CREATE ON SCHEMA sqp TO :"role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sqp TO :"role";
\endif
\if :sqp_schema_of_another
-- Needs membership of the owner (or superuser); on Supabase run it as that owner.
ALTER DEFAULT PRIVILEGES FOR ROLE :"sqp_owner" IN SCHEMA sqp GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"role";
\endif

-- Role-level settings are the platform's business, and the service lives with them: managed
-- platforms set statement_timeout and idle_in_transaction_session_timeout on roles (Supabase:
-- on its API roles, and a default for others). The service sets its own limits on its session
-- connections (DATABASE_STATEMENT_TIMEOUT_SECONDS, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS),
-- so a publish longer than the role's timeout still completes; its pooled connection
-- (DATABASE_URL behind a transaction pooler) keeps the role's limits, which suit its short work.
