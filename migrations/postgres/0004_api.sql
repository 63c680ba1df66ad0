-- StatusHawk: what the API needs beyond the initial schema.
--
-- * api_tokens.session: a token made by logging in acts with its user's
--   current role in the team (so a demotion takes effect at once); other
--   tokens act with their own fixed role.

ALTER TABLE api_tokens ADD COLUMN session boolean NOT NULL DEFAULT false;

ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_session_has_user
    CHECK (NOT session OR created_by IS NOT NULL);

COMMENT ON COLUMN api_tokens.session IS
    'Login session: acts with the creating user''s current membership role, not with role.';
