-- The relay leases event_outbox rows instead of holding a transaction across
-- the AMQP publish, and a row that keeps failing backs off alone.
ALTER TABLE event_outbox
    ADD COLUMN next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN lease_until     TIMESTAMPTZ,
    ADD COLUMN attempts        INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_error      TEXT;
CREATE INDEX event_outbox_due ON event_outbox (next_attempt_at, id);
