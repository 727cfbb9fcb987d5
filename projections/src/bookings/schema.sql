-- Tables of one version of the bookings read model (APT); run with search_path set to
-- the version's schema. One row per booking, one per service it holds.

CREATE TABLE bookings (
    tenant_id       uuid NOT NULL,
    booking_id      uuid NOT NULL,
    location_id     uuid NOT NULL,
    date            date NOT NULL,
    number          int NOT NULL,
    customer_id     uuid NOT NULL,
    status          text NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    override_reason text,
    placed_at       timestamptz NOT NULL,
    cancelled_at    timestamptz,
    cancel_reason   text,
    PRIMARY KEY (tenant_id, booking_id)
);

CREATE TABLE booked_services (
    tenant_id  uuid NOT NULL,
    booking_id uuid NOT NULL,
    position   int NOT NULL,
    service_id uuid NOT NULL,
    staff_id   uuid NOT NULL,
    room_id    uuid,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    price      numeric(14, 2) NOT NULL,
    PRIMARY KEY (tenant_id, booking_id, position)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
