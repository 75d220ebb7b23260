-- Webhook endpoints, one delivery row per event and endpoint, and every attempt.
-- A delivery's body is stored as sent, so every retry signs the same bytes.

CREATE TABLE webhook_endpoints (
    id              UUID PRIMARY KEY,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    -- Empty: every event type.
    event_types     TEXT[] NOT NULL DEFAULT '{}',
    enabled         BOOLEAN NOT NULL DEFAULT true,
    disabled_reason TEXT,
    disabled_at     TIMESTAMPTZ,
    -- First failed attempt since the last success: how long it has been down.
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The dispatcher claims due rows with a lease (FOR UPDATE SKIP LOCKED).
CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY,
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until     TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (created_at) WHERE status = 'failed';

CREATE TABLE webhook_attempts (
    id              UUID PRIMARY KEY,
    delivery_id     UUID NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    attempted_at    TIMESTAMPTZ NOT NULL,
    status_code     INTEGER,
    latency_ms      INTEGER NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    -- At most 1 KiB of the response body, or the error.
    response_excerpt TEXT,
    error           TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at DESC);
