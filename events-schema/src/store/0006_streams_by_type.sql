-- A tenant's streams of one type (its staff, its rotas…) without scanning every
-- customer's stream: booking decisions list the staff, and availability checks the
-- versions of every staff record and rota it was computed from.
CREATE INDEX streams_by_type ON es.streams (tenant_id, stream_type, stream_id);
