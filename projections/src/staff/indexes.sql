-- Secondary indexes of one version of the staff read model.

CREATE INDEX staff_name ON staff (tenant_id, name);
CREATE INDEX staff_position ON staff (tenant_id, position);
CREATE INDEX staff_hire_date ON staff (tenant_id, hire_date);
CREATE INDEX staff_account ON staff (tenant_id, account_id) WHERE account_id IS NOT NULL;
