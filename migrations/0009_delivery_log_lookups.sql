-- The delivery log (`GET /v1/events/{id}`, `herald events show`) and the
-- email search (`GET /v1/emails`, `GET /v1/events?email=`).
--
-- processed_events keeps the event's own time and, for invite events, the
-- invite id: an `invite.accepted` or `invite.deleted` names no address, and
-- the invite id is how a person's events are found without storing the
-- address a second time. Both are written by the statement that records the
-- ids (nothing extra at intake); rows from before this migration have NULLs.
ALTER TABLE processed_events
    ADD COLUMN event_time TIMESTAMPTZ,
    ADD COLUMN invite_id  TEXT;
CREATE INDEX processed_events_invite ON processed_events (invite_id) WHERE invite_id IS NOT NULL;
CREATE INDEX processed_events_recent ON processed_events (processed_at DESC, event_id);

-- A person's emails, newest first; a delivery log's webhook rows.
CREATE INDEX email_outbox_recipient ON email_outbox (lower(recipient), created_at DESC);
CREATE INDEX email_outbox_recent ON email_outbox (created_at DESC, id);
CREATE INDEX invites_email ON invites (lower(email));
CREATE INDEX password_reset_tokens_email ON password_reset_tokens (lower(email));
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
