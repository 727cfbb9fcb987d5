-- Which services a booking holds (SVC-5): a price change notifies the customers with
-- an upcoming booking of the service in the change's own transaction, found here.
-- A reschedule keeps a booking's services, so they are written once, when it is
-- placed; bookings placed before this migration take theirs from their event.
ALTER TABLE booking.bookings ADD COLUMN service_ids uuid[] NOT NULL DEFAULT '{}';
UPDATE booking.bookings b
SET service_ids = ARRAY(
    SELECT (s ->> 'service_id')::uuid
    FROM es.events e, json_array_elements(e.payload -> 'services') AS s
    WHERE e.tenant_id = b.tenant_id
      AND e.event_type = 'BookingPlaced'
      AND e.payload ->> 'booking_id' = b.booking_id::text
);
CREATE INDEX bookings_of_service ON booking.bookings USING gin (service_ids)
    WHERE cancelled_at IS NULL;
