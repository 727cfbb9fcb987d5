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

CREATE TABLE services (
    tenant_id   uuid NOT NULL,
    service_id  uuid NOT NULL,
    version     bigint NOT NULL,
    category_id uuid NOT NULL,
    name        text NOT NULL,
    published   boolean NOT NULL,
    details     jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- Every price with the instant it takes effect (SVC-4), in the order recorded.
    price_schedule jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, service_id)
);

-- The images each service shows (issue 4 item 2), in the order added (`position`: the
-- stream version of the ServiceImageAdded event). The bytes are in media.images
-- (command-service's migration 0006), named by image_id.
CREATE TABLE service_images (
    tenant_id    uuid NOT NULL,
    image_id     uuid NOT NULL,
    service_id   uuid NOT NULL,
    position     bigint NOT NULL,
    content_type text NOT NULL,
    size         int NOT NULL,
    sha256       text NOT NULL,
    alt          text,
    PRIMARY KEY (tenant_id, image_id)
);

-- The public directory of salons (slug → salon), for the unauthenticated catalogue. It
-- holds no tenant_id column on purpose: a slug is public (it is what customers type to
-- sign in), and the public catalogue must find the salon before it can set the tenant
-- that every other read-model row is fenced by.
CREATE TABLE salon_directory (
    slug     text PRIMARY KEY,
    salon_id uuid NOT NULL UNIQUE,
    name     text NOT NULL
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
