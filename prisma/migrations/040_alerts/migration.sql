-- 040_alerts: someone is told. Webhook destinations, an outbox of alerts and the record of
-- every attempt to deliver them (issue 23; src/alerts/).
--
-- Durable and at-least-once: an alert is INSERTed in the same transaction as the state change it
-- reports (src/alerts/enqueue.ts), with one delivery row per destination subscribed to its kind,
-- so a change that rolls back alerts nobody and one that commits cannot lose its alert. Any
-- replica delivers (src/alerts/delivery.ts): it claims due deliveries with FOR UPDATE SKIP LOCKED
-- and records the claim as an attempt with a lease (claimed_until). A process killed after the
-- claim leaves its attempt unfinished; the delivery is due again when the lease ends and another
-- replica sends it again. Receivers deduplicate by the alert's event_id.
--
-- The tables live in sqp_refresh_work, outside the data schema: no registration sees them.

-- Where alerts go. A destination is enabled while disabled_at is NULL; it is disabled by an admin
-- or after its attempts have failed for a day (disabled_reason says which), and then its pending
-- deliveries are abandoned, not retried for ever.
CREATE TABLE sqp_refresh_work.alert_destinations (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    url TEXT NOT NULL CHECK (url ~ '^https?://'),
    -- The HMAC-SHA256 key of the signature header. Write-only: the graph's Prisma model does not
    -- map this column, so no resolver can read it; only the delivery's claim does. It is kept in
    -- clear because signing needs it (as GitHub and Stripe keep theirs).
    secret TEXT NOT NULL CHECK (length(secret) >= 16),
    format TEXT NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
    -- The kinds this destination receives.
    events TEXT[] NOT NULL DEFAULT ARRAY['table_failed', 'table_recovered', 'table_late', 'table_blocked']
        CHECK (cardinality(events) > 0 AND events <@ ARRAY['table_failed', 'table_recovered', 'table_late', 'table_blocked']),
    -- The first failed attempt since the latest success; NULL while healthy.
    failing_since TIMESTAMP WITH TIME ZONE,
    last_error TEXT,
    last_success_at TIMESTAMP WITH TIME ZONE,
    disabled_at TIMESTAMP WITH TIME ZONE,
    disabled_reason TEXT CHECK (disabled_reason IN ('failing', 'admin')),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    CONSTRAINT alert_destinations_disabled_why CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);
-- Names are unique as people read them: "Ops" and "ops" are one destination.
CREATE UNIQUE INDEX alert_destinations_name ON sqp_refresh_work.alert_destinations (lower(name));

-- The outbox: one row per alert, never changed after it is written (its body is built from it
-- on every attempt, so a retry sends the same bytes). event_id is what receivers deduplicate by.
-- config_id and run_id keep the alert when the table is unregistered or its run row removed.
CREATE TABLE sqp_refresh_work.alerts (
    id SERIAL PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    kind TEXT NOT NULL CHECK (kind IN ('table_failed', 'table_recovered', 'table_late', 'table_blocked')),
    config_id INTEGER REFERENCES sqp.refresh_config(id) ON DELETE SET NULL,
    table_schema TEXT NOT NULL,
    table_name TEXT NOT NULL,
    run_id INTEGER REFERENCES sqp.refresh_audit_log(id) ON DELETE SET NULL,
    reason TEXT NOT NULL,
    -- When the state changed (the caller's clock); created_at is when it was written.
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
-- The graph lists alerts newest first; the foreign keys' ON DELETE needs the other two.
CREATE INDEX alerts_newest ON sqp_refresh_work.alerts (occurred_at DESC, id DESC);
CREATE INDEX alerts_config ON sqp_refresh_work.alerts (config_id);
CREATE INDEX alerts_run ON sqp_refresh_work.alerts (run_id);

-- One alert to one destination. Due while pending and next_attempt_at has passed: a claim moves
-- next_attempt_at to the end of its lease, so a delivery whose worker died is due again then,
-- and the one condition (with its partial index) finds both new and abandoned-by-a-crash work.
-- claimed_attempt_id is the attempt whose result counts: a worker that reports after its lease
-- was taken over records its attempt but no longer changes the delivery.
CREATE TABLE sqp_refresh_work.alert_deliveries (
    id SERIAL PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES sqp_refresh_work.alerts(id) ON DELETE CASCADE,
    destination_id INTEGER NOT NULL REFERENCES sqp_refresh_work.alert_destinations(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'abandoned')),
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    claimed_attempt_id INTEGER,
    delivered_at TIMESTAMP WITH TIME ZONE,
    abandoned_at TIMESTAMP WITH TIME ZONE,
    abandon_reason TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    UNIQUE (alert_id, destination_id)
);
CREATE INDEX alert_deliveries_due ON sqp_refresh_work.alert_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX alert_deliveries_destination ON sqp_refresh_work.alert_deliveries (destination_id, id DESC);

-- Every attempt, written when it is claimed and completed when it ends: finished_at NULL after
-- claimed_until means its worker never reported (killed, or cut off). The response is kept only
-- as a short excerpt.
CREATE TABLE sqp_refresh_work.alert_delivery_attempts (
    id SERIAL PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES sqp_refresh_work.alert_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    worker_name TEXT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    claimed_until TIMESTAMP WITH TIME ZONE NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE,
    duration_ms INTEGER,
    http_status INTEGER,
    error TEXT,
    response_excerpt TEXT CHECK (length(response_excerpt) <= 512),
    UNIQUE (delivery_id, attempt)
);
