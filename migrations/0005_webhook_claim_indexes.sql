-- Claiming webhook deliveries reads, per endpoint, only its earliest due rows
-- and its leased (in-flight) rows, so a claim costs the same with a backlog of
-- a hundred or a hundred thousand pending deliveries.
CREATE INDEX webhook_deliveries_endpoint_due
    ON webhook_deliveries (endpoint_id, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased
    ON webhook_deliveries (endpoint_id) WHERE status = 'pending' AND lease_until IS NOT NULL;
