-- Tamper evidence (SEC-6): a hash chain over the feed. Link n = SHA-256(link n-1 ‖
-- digest of the n-th event's stored row), link 0 = 32 zero bytes. The digest covers every
-- stored column, each length-prefixed, payload and metadata as their stored JSON text;
-- erasure destroys keys and never rewrites a row, so the chain stays verifiable after
-- it. The relay appends links as it moves events into the feed; `store::chain::verify`
-- recomputes them and names the first position that does not match.

CREATE FUNCTION es.event_digest(e es.events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(
        (SELECT string_agg(length(f)::text || ':' || f, '' ORDER BY i)
         FROM unnest(ARRAY[
             e.global_position::text, e.tx_id::text, e.event_id::text, e.tenant_id::text,
             e.stream_id, e.stream_type, e.stream_version::text, e.event_type,
             e.schema_version::text,
             to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
             e.metadata::text, e.payload::text]) WITH ORDINALITY AS t (f, i)),
        'UTF8'))
$$;

CREATE TABLE es.chain (
    seq  bigint PRIMARY KEY CHECK (seq >= 1),
    link bytea NOT NULL CHECK (length(link) = 32)
);
CREATE TRIGGER chain_immutable BEFORE UPDATE OR DELETE ON es.chain
    FOR EACH ROW EXECUTE FUNCTION es.reject_change();
CREATE TRIGGER chain_no_truncate BEFORE TRUNCATE ON es.chain
    FOR EACH STATEMENT EXECUTE FUNCTION es.reject_change();

GRANT SELECT, INSERT ON es.chain TO belle_command;
GRANT SELECT ON es.chain TO belle_projections, belle_query;
GRANT EXECUTE ON FUNCTION es.event_digest(es.events) TO belle_command, belle_projections, belle_query;
