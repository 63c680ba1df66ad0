-- StatusHawk: mail the deployment sends on its own behalf (invitations,
-- address verification) through its `[email]` server. The API writes a row;
-- a notifier sends it, retrying with back-off, and records how it went.
-- Bodies carry one-time links, so a sent message keeps its subject only.

CREATE TABLE system_mail (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- What it is for: 'invitation', 'verification', ...
    purpose         text        NOT NULL CHECK (char_length(purpose) BETWEEN 1 AND 64),
    to_address      text        NOT NULL CHECK (char_length(to_address) BETWEEN 3 AND 254),
    subject         text        NOT NULL CHECK (char_length(subject) <= 998),
    body_text       text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);

CREATE INDEX system_mail_due ON system_mail (next_attempt_at) WHERE state IN ('pending', 'sending');

COMMENT ON TABLE system_mail IS
    'Mail sent on the deployment''s own behalf through [email]; written by the API, sent by a notifier.';
