-- An email whose token expired (a reset past its expires_at) or whose invite
-- is no longer pending (expired, revoked, accepted) before it could be sent
-- ends `expired`, with an `expired` attempt saying why, and is never sent.
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_status_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'dropped', 'expired'));
ALTER TABLE email_attempts DROP CONSTRAINT email_attempts_outcome_check;
ALTER TABLE email_attempts ADD CONSTRAINT email_attempts_outcome_check
    CHECK (outcome IN ('sent', 'transient', 'permanent', 'rate_limited', 'invalid', 'undecryptable',
                       'expired'));
