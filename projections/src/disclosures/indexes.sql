-- Secondary indexes of one version of the disclosures read model.

CREATE INDEX disclosures_customer ON disclosures (tenant_id, customer_id, seq);
