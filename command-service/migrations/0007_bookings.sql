-- Bookings (APT-11, DESIGN §7): the second guard against double booking. Every
-- resource a booking holds — a technician's busy spans, a room's place, a service's or
-- a location's capacity place — is a row here, written in the transaction that appends
-- the booking; the exclusion constraint refuses two overlapping holds of one resource
-- whatever the decision said. Cancelling deletes the booking's rows.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE SCHEMA booking;
CREATE TABLE booking.reservations (
    tenant_id  uuid NOT NULL,
    booking_id uuid NOT NULL,
    resource   text NOT NULL,
    during     tstzrange NOT NULL CHECK (NOT isempty(during)),
    CONSTRAINT reservations_no_overlap
        EXCLUDE USING gist (tenant_id WITH =, resource WITH =, during WITH &&)
);
CREATE INDEX reservations_booking ON booking.reservations (tenant_id, booking_id);

-- Which schedule stream (location and date) holds a booking, and what the reminder
-- planner needs of it: whose visit, where, when, whether it was cancelled.
CREATE TABLE booking.bookings (
    tenant_id    uuid NOT NULL,
    booking_id   uuid NOT NULL,
    stream_id    text NOT NULL,
    customer_id  uuid NOT NULL,
    location_id  uuid NOT NULL,
    starts_at    timestamptz NOT NULL,
    cancelled_at timestamptz,
    PRIMARY KEY (tenant_id, booking_id)
);
CREATE INDEX bookings_upcoming ON booking.bookings (starts_at) WHERE cancelled_at IS NULL;

GRANT USAGE ON SCHEMA booking TO belle_command;
GRANT SELECT, INSERT, DELETE ON booking.reservations TO belle_command;
GRANT SELECT, INSERT, UPDATE ON booking.bookings TO belle_command;
