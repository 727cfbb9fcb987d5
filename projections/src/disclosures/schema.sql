-- Tables of one version of the disclosures read model (the auditors' log of unmasked
-- fields); run with search_path set to the version's schema. Values come from events
-- only. The reason stays sealed here (query-service opens it for auditors).

CREATE TABLE disclosures (
    tenant_id        uuid NOT NULL,
    seq              bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_account_id uuid,
    actor_role       text NOT NULL,
    customer_id      uuid NOT NULL,
    field            text NOT NULL,
    reason           jsonb NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
