-- The by-type index serves a tenant's staff and rotas (booking decisions list the
-- staff; availability checks the versions of every staff record and rota). Nothing asks
-- for a tenant's customer streams by type, yet every registration added an entry: one
-- index insert in nine and a twenty-fifth of a registration's WAL. The queries name
-- their types as literals, so the planner proves them inside the predicate
-- (`the_by_type_stream_index_serves_staff_and_rotas_without_customer_entries`).
CREATE INDEX streams_by_type_except_customers ON es.streams (tenant_id, stream_type, stream_id)
    WHERE stream_type <> 'customer';
DROP INDEX es.streams_by_type;
