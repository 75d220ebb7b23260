-- Retention (HERALD_RETENTION) finds finished rows by when they finished,
-- and the erasure on user.deleted finds an event's deliveries by event id.
CREATE INDEX email_outbox_finished ON email_outbox (finished_at) WHERE status <> 'pending';
CREATE INDEX webhook_deliveries_finished
    ON webhook_deliveries (finished_at) WHERE status <> 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
CREATE INDEX password_reset_tokens_event ON password_reset_tokens (event_id);
