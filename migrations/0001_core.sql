-- Invites, password-reset tokens, processed event ids and the email outbox.
-- Tokens are never stored: only SHA-256 hashes for lookup, and in the outbox
-- a token sealed with HERALD_SECRET_KEY until its email is sent.

CREATE TABLE invites (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'member', 'developer')),
    token_hash      BYTEA NOT NULL UNIQUE,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'accepted', 'revoked')),
    first_name      TEXT,
    invited_by      TEXT,
    locale          TEXT,
    metadata        JSONB NOT NULL DEFAULT '{}'::jsonb,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    accepted_at     TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX invites_status_created ON invites (status, created_at DESC);

CREATE TABLE password_reset_tokens (
    id              UUID PRIMARY KEY,
    email           TEXT NOT NULL,
    user_id         TEXT,
    token_hash      BYTEA NOT NULL UNIQUE,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at         TIMESTAMPTZ,
    invalidated_at  TIMESTAMPTZ,
    event_id        TEXT NOT NULL
);
CREATE INDEX password_reset_tokens_live_email
    ON password_reset_tokens (lower(email)) WHERE used_at IS NULL AND invalidated_at IS NULL;
CREATE INDEX password_reset_tokens_live_user
    ON password_reset_tokens (user_id) WHERE used_at IS NULL AND invalidated_at IS NULL;

-- One row per event id ever handled: the dedupe that makes redeliveries harmless.
CREATE TABLE processed_events (
    event_id        TEXT PRIMARY KEY,
    event_type      TEXT NOT NULL,
    processed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per email to send. The dispatcher claims due rows with a lease.
CREATE TABLE email_outbox (
    id              UUID PRIMARY KEY,
    event_id        TEXT NOT NULL,
    event_time      TIMESTAMPTZ NOT NULL,
    template        TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    locale          TEXT,
    data            JSONB NOT NULL,
    token_sealed    BYTEA,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until     TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_outbox_event ON email_outbox (event_id);
