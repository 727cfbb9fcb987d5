-- Secondary indexes of one version of the rota read model.

CREATE INDEX shift_templates_name ON shift_templates (tenant_id, name);
