-- The same digest as 0004, three times cheaper to compute (5.9 µs instead of 17.8 µs per
-- 1.4 kB event on the development VM): each field is length-prefixed by an inlined SQL
-- function and concatenated directly, instead of unnesting an array and aggregating it.
-- The bytes hashed are identical (checked on 100,000 events), so existing links stay
-- valid.

CREATE FUNCTION es.length_prefixed(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT length(t)::text || ':' || t $$;

CREATE OR REPLACE FUNCTION es.event_digest(e es.events) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(
        es.length_prefixed(e.global_position::text) || es.length_prefixed(e.tx_id::text)
        || es.length_prefixed(e.event_id::text) || es.length_prefixed(e.tenant_id::text)
        || es.length_prefixed(e.stream_id) || es.length_prefixed(e.stream_type)
        || es.length_prefixed(e.stream_version::text) || es.length_prefixed(e.event_type)
        || es.length_prefixed(e.schema_version::text)
        || es.length_prefixed(to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
        || es.length_prefixed(e.metadata::text) || es.length_prefixed(e.payload::text),
        'UTF8'))
$$;

GRANT EXECUTE ON FUNCTION es.length_prefixed(text) TO belle_command, belle_projections, belle_query;
