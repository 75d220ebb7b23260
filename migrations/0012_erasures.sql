-- Erasure requested by user.deleted with an email: once nothing about that
-- user is pending any more, every row holding the address or the user's
-- data is deleted, and so is this row (it holds the address until then).
CREATE TABLE erasures (
    event_id        TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    email           TEXT NOT NULL,
    requested_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
