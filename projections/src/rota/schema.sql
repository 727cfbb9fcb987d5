-- Tables of one version of the rota read model (STF-2); run with search_path set to the
-- version's schema. A person's rota is kept as its rules (patterns, overrides, time
-- off), as the fold of their rota stream; views expand it per date in each location's
-- zone, so nothing here depends on today's date.

CREATE TABLE rota (
    tenant_id  uuid NOT NULL,
    staff_id   uuid NOT NULL,
    version    bigint NOT NULL,
    rota       jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, staff_id)
);

CREATE TABLE shift_templates (
    tenant_id   uuid NOT NULL,
    template_id uuid NOT NULL,
    version     bigint NOT NULL,
    name        text NOT NULL,
    intervals   jsonb NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, template_id)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
