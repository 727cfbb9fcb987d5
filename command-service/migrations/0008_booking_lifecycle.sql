-- The booking lifecycle (APT-9, APT-10): where each booking stands, for the rules
-- that read across schedules (a customer's upcoming bookings) and the reminder
-- planner; and its revision, so a rescheduled visit's reminders are keyed apart from
-- the ones its earlier time had (`booking:<id>:r<revision>:<lead>`; revision 0 keeps
-- the first placement's `booking:<id>:<lead>`).
ALTER TABLE booking.bookings
    ADD COLUMN status text NOT NULL DEFAULT 'booked',
    ADD COLUMN revision int NOT NULL DEFAULT 0;
UPDATE booking.bookings SET status = 'cancelled' WHERE cancelled_at IS NOT NULL;
CREATE INDEX bookings_of_customer ON booking.bookings (tenant_id, customer_id, starts_at)
    WHERE cancelled_at IS NULL;
