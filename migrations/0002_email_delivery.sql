-- Email delivery: every attempt recorded, and the per-recipient rate limit.

CREATE TABLE email_attempts (
    id              BIGSERIAL PRIMARY KEY,
    outbox_id       UUID NOT NULL REFERENCES email_outbox (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    attempted_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome         TEXT NOT NULL
                    CHECK (outcome IN ('sent', 'transient', 'permanent', 'rate_limited', 'invalid')),
    smtp_code       INTEGER,
    detail          TEXT
);
CREATE INDEX email_attempts_outbox ON email_attempts (outbox_id, attempt);

-- When a row took one of its recipient's rate-limited slots. Set once, on the
-- first attempt, so retries of the same email do not count twice.
ALTER TABLE email_outbox ADD COLUMN counted_at TIMESTAMPTZ;
CREATE INDEX email_outbox_recipient_counted
    ON email_outbox (lower(recipient), counted_at) WHERE counted_at IS NOT NULL;

-- Transient SMTP failures so far: the position in HERALD_EMAIL_RETRY_SCHEDULE.
-- Attempts that could not reach the server at all do not move it.
ALTER TABLE email_outbox ADD COLUMN retries_used INTEGER NOT NULL DEFAULT 0;
