-- Tables of one version of the catalogue read model; run with search_path set to the
-- version's schema. One row per category as its last event left it.

CREATE TABLE categories (
    tenant_id   uuid NOT NULL,
    category_id uuid NOT NULL,
    version     bigint NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    position    int NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, category_id)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
