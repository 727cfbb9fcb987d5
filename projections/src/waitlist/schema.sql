-- Tables of one version of the waitlist read model (APT-13, APT-14); run with
-- search_path set to the version's schema. One row per entry, one per offer, each
-- with where it stands and when it got there: the salon's view of waitlist activity.

CREATE TABLE waitlist_entries (
    tenant_id   uuid NOT NULL,
    entry_id    uuid NOT NULL,
    location_id uuid NOT NULL,
    date        date NOT NULL,
    customer_id uuid NOT NULL,
    services    jsonb NOT NULL,
    window_from timestamptz NOT NULL,
    window_to   timestamptz NOT NULL,
    joined_at   timestamptz NOT NULL,
    status      text NOT NULL,
    ended_at    timestamptz,
    booking_id  uuid,
    PRIMARY KEY (tenant_id, entry_id)
);

CREATE TABLE waitlist_offers (
    tenant_id   uuid NOT NULL,
    offer_id    uuid NOT NULL,
    entry_id    uuid NOT NULL,
    location_id uuid NOT NULL,
    date        date NOT NULL,
    customer_id uuid NOT NULL,
    slot_id     uuid NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    services    jsonb NOT NULL,
    made_at     timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    status      text NOT NULL,
    answered_at timestamptz,
    booking_id  uuid,
    reason      text,
    PRIMARY KEY (tenant_id, offer_id)
);

CREATE TABLE checkpoint (
    id  int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO checkpoint VALUES (1, 0);
