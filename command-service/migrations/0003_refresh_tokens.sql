-- Sessions (SEC-3): a login starts a family of refresh tokens; each refresh spends one
-- token and issues the next of the same family. Presenting a spent token again means it
-- was copied: the whole family is revoked. Only SHA-256 hashes of the tokens (256 random
-- bits each) are stored.

CREATE TABLE iam.refresh_tokens (
    token_hash  text PRIMARY KEY,
    family_id   uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    account_id  uuid NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON iam.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_account ON iam.refresh_tokens (account_id) WHERE revoked_at IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON iam.refresh_tokens TO belle_command;
