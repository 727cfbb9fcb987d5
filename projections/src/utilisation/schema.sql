-- Tables of one version of the utilisation read model (issue 5 item 9); run with
-- search_path set to the version's schema. One row per live booking and technician:
-- the minutes of the technician's own time in it (every segment but processing), on
-- the booking's local date. Shift time is not stored: query-service expands the rota
-- for the dates it is asked about.

CREATE TABLE booked_time (
    tenant_id   uuid NOT NULL,
    booking_id  uuid NOT NULL,
    staff_id    uuid NOT NULL,
    location_id uuid NOT NULL,
    date        date NOT NULL,
    minutes     int NOT NULL,
    PRIMARY KEY (tenant_id, booking_id, staff_id)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
