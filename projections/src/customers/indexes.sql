-- Secondary indexes of one version of the customers read model. A rebuild creates
-- them after the bulk load (faster than maintaining them row by row).

CREATE INDEX customers_phone ON customers (tenant_id, phone_hash);
CREATE INDEX customers_phone_tail ON customers (tenant_id, phone_tail_hash);
CREATE INDEX customers_id_number ON customers (tenant_id, id_number_hash) WHERE id_number_hash IS NOT NULL;
CREATE INDEX customers_created ON customers (tenant_id, created_at, customer_id);
CREATE INDEX customers_name_trgm ON customers USING gin (name public.gin_trgm_ops);
CREATE INDEX customers_pinyin_trgm ON customers USING gin (name_pinyin public.gin_trgm_ops);
CREATE INDEX customers_initials ON customers (tenant_id, name_initials text_pattern_ops);
CREATE INDEX customers_tags ON customers USING gin (tags);
