-- 045_backfill_failed_alert: a backfill that fails is told, as a table's failure is. A chunk that
-- fails for good leaves its table's own state alone (044), so TABLE_FAILED does not fit: the
-- alert is its own kind, BACKFILL_FAILED. New destinations receive it by default; existing ones
-- keep the kinds they chose.
ALTER TABLE sqp_refresh_work.alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE sqp_refresh_work.alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('table_failed', 'table_recovered', 'table_late', 'table_blocked', 'backfill_failed'));

ALTER TABLE sqp_refresh_work.alert_destinations DROP CONSTRAINT alert_destinations_events_check;
ALTER TABLE sqp_refresh_work.alert_destinations ADD CONSTRAINT alert_destinations_events_check
    CHECK (cardinality(events) > 0 AND events <@ ARRAY['table_failed', 'table_recovered', 'table_late', 'table_blocked', 'backfill_failed']);
ALTER TABLE sqp_refresh_work.alert_destinations
    ALTER COLUMN events SET DEFAULT ARRAY['table_failed', 'table_recovered', 'table_late', 'table_blocked', 'backfill_failed'];
