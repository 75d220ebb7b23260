-- Events Herald publishes itself (invite.accepted after an API accept),
-- written in the same transaction as the change they announce and relayed to
-- the exchange with publisher confirms: an accept stands even while the
-- broker is down, and its event goes out once it is back.
CREATE TABLE event_outbox (
    id              UUID PRIMARY KEY,
    routing_key     TEXT NOT NULL,
    body            JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
