-- Tables of one version of the locations read model; run with search_path set to the
-- version's schema. Each row is the location's settings as its last event left them.

CREATE TABLE locations (
    tenant_id   uuid NOT NULL,
    location_id uuid NOT NULL,
    version     bigint NOT NULL,
    name        text NOT NULL,
    time_zone   text NOT NULL,
    settings    jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, location_id)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
