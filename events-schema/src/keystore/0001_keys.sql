-- Wrapped data keys, kept apart from the events (DESIGN §6). Only wrapped keys are
-- stored here: the key-encryption key comes from configuration, never from the database.
CREATE SCHEMA keys;

-- One data key per subject and version; `wrapped` = nonce || XChaCha20-Poly1305
-- ciphertext of the key, bound to tenant, subject and version. Deleting a subject's rows
-- erases every value sealed for it (crypto-shredding).
CREATE TABLE keys.subject_keys (
    tenant_id uuid NOT NULL,
    subject_id uuid NOT NULL,
    key_version int NOT NULL CHECK (key_version > 0),
    kek_id text NOT NULL,
    wrapped bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject_id, key_version)
);

-- Per-tenant keys by purpose (e.g. 'blind-index'), wrapped and bound to the tenant.
CREATE TABLE keys.tenant_keys (
    tenant_id uuid NOT NULL,
    purpose text NOT NULL,
    kek_id text NOT NULL,
    wrapped bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, purpose)
);

-- Subjects whose keys were destroyed; a subject listed here never gets a new key, so
-- its old sealed values stay erased rather than failing to open.
CREATE TABLE keys.erasures (
    tenant_id uuid NOT NULL,
    subject_id uuid NOT NULL,
    erased_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject_id)
);

GRANT USAGE ON SCHEMA keys TO belle_command, belle_projections, belle_query;
GRANT SELECT, INSERT ON keys.subject_keys, keys.tenant_keys, keys.erasures TO belle_command;
GRANT SELECT ON keys.subject_keys, keys.tenant_keys, keys.erasures
    TO belle_projections, belle_query;
