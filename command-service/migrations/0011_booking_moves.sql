-- The times bookings were moved away from (APT-9, APT-13). A reschedule frees the
-- time the booking held, and the waitlist is offered it as a cancellation's is: one
-- row per move, written in the moving transaction, with the revision it left (0 as
-- placed, n after the n-th move), the slot id that time is offered under (derived from
-- the booking and that revision, so every move frees a slot of its own), and where and
-- when it was (its services' spans, from the first's start to the last's end). A move
-- whose time has no `waitlist.slots` row yet was not offered (its hook did not run):
-- the waitlist sweeper offers it, as it does a cancellation's. Moves made before this
-- migration have no row and are not offered. Ids and instants only.
CREATE TABLE booking.moves (
    tenant_id   uuid NOT NULL,
    booking_id  uuid NOT NULL,
    revision    int NOT NULL,
    slot_id     uuid NOT NULL,
    location_id uuid NOT NULL,
    date        date NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, booking_id, revision),
    UNIQUE (tenant_id, slot_id)
);
CREATE INDEX moves_upcoming ON booking.moves (ends_at);

GRANT SELECT, INSERT ON booking.moves TO belle_command;
