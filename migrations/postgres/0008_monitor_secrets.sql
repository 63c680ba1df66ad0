-- StatusHawk: monitor credentials sealed at rest.
--
-- The secret parts of a monitor's check (HTTP header values, the HTTP
-- request body, the TCP payload) leave monitors.spec and are kept sealed
-- here with the deployment's secrets key (XChaCha20-Poly1305, bound to the
-- monitor's id), like channel secrets. Rows written before this migration
-- still hold them in spec; `statushawk migrate` (and `all`) seal those as
-- soon as a secrets key is configured.

ALTER TABLE monitors ADD COLUMN secret_ciphertext bytea;
ALTER TABLE monitors ADD COLUMN secret_nonce bytea;

ALTER TABLE monitors ADD CONSTRAINT monitors_secret_sealed_whole
    CHECK ((secret_ciphertext IS NULL) = (secret_nonce IS NULL));

COMMENT ON COLUMN monitors.secret_ciphertext IS
    'The spec''s secret parts (header values, body, TCP payload), sealed with secrets.key; see common::secrets.';

-- Which secret fields are set (`spec.headers[0].value`, `spec.body`,
-- `spec.send`): what the API shows instead of the values.
ALTER TABLE monitors ADD COLUMN secret_fields text[] NOT NULL DEFAULT '{}';
