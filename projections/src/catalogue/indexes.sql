-- Secondary indexes of one version of the catalogue read model.

CREATE INDEX categories_order ON categories (tenant_id, position, name);
CREATE INDEX services_category ON services (tenant_id, category_id, name);
CREATE INDEX service_images_service ON service_images (tenant_id, service_id, position);
