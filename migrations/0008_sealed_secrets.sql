-- Webhook endpoint secrets sealed at rest under HERALD_SECRET_KEY (the
-- endpoint id as associated data). Existing clear secrets are sealed by
-- Herald itself at its next start-up or `herald migrate`, which then
-- empties `secret`: SQL alone cannot seal.
ALTER TABLE webhook_endpoints
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_sealed BYTEA,
    -- A rotation's outgoing secret, signed with too until `previous_secret_until`.
    ADD COLUMN previous_secret_sealed BYTEA,
    ADD COLUMN previous_secret_until TIMESTAMPTZ;

-- An email whose sealed token no configured key opens waits, recorded as
-- `undecryptable`, instead of failing.
ALTER TABLE email_attempts DROP CONSTRAINT email_attempts_outcome_check;
ALTER TABLE email_attempts ADD CONSTRAINT email_attempts_outcome_check
    CHECK (outcome IN ('sent', 'transient', 'permanent', 'rate_limited', 'invalid', 'undecryptable'));
