-- StatusHawk: invitations that wait for their one-time token, proven
-- e-mail addresses, and tokens bound to their creator's membership.
--
-- * invitations: an admin invites an address with a role; nobody joins
--   until the one-time token (only its SHA-256 is kept) is presented. An
--   invitation binds to its token, never to whoever registered the address.
--   A new invitation of the same address replaces the pending one.
-- * users.email_verified_at: when the address was proven (a verification
--   link, or an e-mailed invitation's link). NULL: never proven.
-- * email_verifications: the one-time links sent to prove an address.

CREATE TABLE invitations (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id     uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email       text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    role        team_role   NOT NULL,
    token_hash  bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    invited_by  uuid        REFERENCES users (id) ON DELETE SET NULL,
    -- Sent to the address by the deployment's mail server: only that
    -- address, proven, may accept it.
    emailed     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    revoked_at  timestamptz,
    CONSTRAINT invitations_expire_after_creation CHECK (expires_at > created_at),
    CONSTRAINT invitations_accepted_or_revoked CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);

-- At most one pending invitation per team and address.
CREATE UNIQUE INDEX invitations_one_pending ON invitations (team_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

COMMENT ON TABLE invitations IS
    'Pending until accepted with the one-time token whose SHA-256 is token_hash; then a membership.';

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

COMMENT ON COLUMN users.email_verified_at IS
    'When the address was proven (verification link or e-mailed invitation); NULL: never.';

CREATE TABLE email_verifications (
    token_hash  bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address it proves: a user whose address changed since is not verified by it.
    email       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX email_verifications_user_id_idx ON email_verifications (user_id);

COMMENT ON TABLE email_verifications IS 'One-time links that prove a user''s e-mail address (SHA-256 of the token).';
