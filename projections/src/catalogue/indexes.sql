-- Secondary indexes of one version of the catalogue read model.

CREATE INDEX categories_order ON categories (tenant_id, position, name);
