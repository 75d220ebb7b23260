-- Retention (HERALD_RETENTION) finds finished rows by when they finished
-- (processed_events by processed_at and webhook_deliveries by event_id use
-- the indexes of 0009).
CREATE INDEX email_outbox_finished ON email_outbox (finished_at) WHERE status <> 'pending';
CREATE INDEX webhook_deliveries_finished
    ON webhook_deliveries (finished_at) WHERE status <> 'pending';
