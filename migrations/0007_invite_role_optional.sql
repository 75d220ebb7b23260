-- An invite's role is optional: Medusa v2 invites carry none, and the invite
-- email names a role only when the event gave one. `named_role` holds the
-- role as given (NULL when none); `role` stays what readers saw before, the
-- given role else 'member', so the API and webhooks keep a non-null role.
ALTER TABLE invites RENAME COLUMN role TO named_role;
ALTER TABLE invites ALTER COLUMN named_role DROP NOT NULL;
ALTER TABLE invites
    ADD COLUMN role TEXT GENERATED ALWAYS AS (COALESCE(named_role, 'member')) STORED;
