-- Images of services (issue 4 item 2). The bytes of an uploaded image, written in the
-- transaction that appends its ServiceImageAdded event (which names it by image_id and
-- sha256), never changed afterwards: an image id is never reused, so query-service may
-- serve it with an immutable cache lifetime. Rows are never deleted by the services
-- (a removed image is still named by the log).
--
-- This table is a source of truth beside the log, not a read model: it cannot be
-- rebuilt from events. query-service reads it (one tenant per transaction); row-level
-- security fences it per tenant like the read models: the service roles own nothing and
-- have no BYPASSRLS, so belle_query sees a row only inside a transaction that set
-- `belle.tenant_id` to its tenant (read::tenant_tx), and no row with nothing set.
-- command-service, which writes for the tenant of the caller's token and sets no
-- tenant, sees and writes every tenant's rows. RLS is enabled but not forced: the
-- owner (the administrator: migrations, backup.sh's pg_dump) keeps every row in its
-- dumps.
CREATE SCHEMA media;

CREATE TABLE media.images (
    tenant_id    uuid NOT NULL,
    image_id     uuid NOT NULL,
    content_type text NOT NULL
        CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif')),
    size         int NOT NULL CHECK (size > 0 AND size = octet_length(bytes)),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes        bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT images_pkey PRIMARY KEY (tenant_id, image_id)
);
-- The bytes are already compressed (PNG, JPEG, WebP, GIF): store them out of line
-- without trying to compress them again.
ALTER TABLE media.images ALTER COLUMN bytes SET STORAGE EXTERNAL;

ALTER TABLE media.images ENABLE ROW LEVEL SECURITY;
CREATE POLICY command_rows ON media.images TO belle_command USING (true) WITH CHECK (true);
CREATE POLICY tenant_rows ON media.images FOR SELECT TO belle_query
    USING (tenant_id = nullif(current_setting('belle.tenant_id', true), '')::uuid);

GRANT USAGE ON SCHEMA media TO belle_command, belle_query;
GRANT SELECT, INSERT ON media.images TO belle_command;
GRANT SELECT ON media.images TO belle_query;
