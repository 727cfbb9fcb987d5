-- Secondary indexes of one version of the locations read model.

CREATE INDEX locations_name ON locations (tenant_id, name);
