-- Each hold names the schedule stream (location and local date) its booking is in.
-- "A technician's holds in other schedules" is asked by every booking decision and by
-- every availability check; it joined each hold found in the time window to its
-- booking to learn the schedule, so on a busy day the day's own holds (200 for twenty
-- technicians) cost 200 lookups a request only to be discarded. With the column the
-- exclusion index's own scan answers it.
ALTER TABLE booking.reservations ADD COLUMN stream_id text;
-- A hold is written in its booking's transaction, so every hold has its booking; a
-- hold without one (none are expected) is marked as belonging to no schedule, so it
-- still counts as "elsewhere" and keeps its technician busy.
UPDATE booking.reservations r
   SET stream_id = coalesce((SELECT b.stream_id FROM booking.bookings b
                              WHERE b.tenant_id = r.tenant_id AND b.booking_id = r.booking_id), '');
ALTER TABLE booking.reservations ALTER COLUMN stream_id SET NOT NULL;

-- Those holds are found per technician through a btree on the hold's start, bounded
-- below by the longest a technician's hold can be (one service's span: at most 720
-- minutes by the catalogue's rule; one day here, checked for new rows), and covering
-- what the question reads, so a settled table answers from the index alone. The GiST
-- exclusion index stays the guard; probing it per technician cost four times as much.
ALTER TABLE booking.reservations ADD CONSTRAINT reservations_staff_hold_within_a_day
    CHECK (resource NOT LIKE 'staff:%' OR upper(during) - lower(during) <= interval '1 day') NOT VALID;
-- The resource column is indexed under the "C" collation and the queries compare it so
-- (equality is the same): the GiST index can then not serve the resource condition, and
-- the planner cannot prefer it, even with no statistics on the new index yet.
CREATE INDEX reservations_by_resource
    ON booking.reservations (tenant_id, resource COLLATE "C", lower(during))
    INCLUDE (stream_id, booking_id, during);
