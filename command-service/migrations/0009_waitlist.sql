-- Waitlists (APT-13). The events are in waitlist-<location>-<date>; these write-side
-- tables are written in the transactions that append them.

CREATE SCHEMA waitlist;

-- Which stream holds an entry (and whose it is, for a customer's own requests).
CREATE TABLE waitlist.entries (
    tenant_id   uuid NOT NULL,
    entry_id    uuid NOT NULL,
    stream_id   text NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
);

-- A freed slot: the time a cancelled booking held, once considered for the waitlist.
CREATE TABLE waitlist.slots (
    tenant_id   uuid NOT NULL,
    slot_id     uuid NOT NULL,
    stream_id   text NOT NULL,
    location_id uuid NOT NULL,
    date        date NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, slot_id)
);

-- Every offer and where it stands. The two partial unique indexes make "one customer
-- holds a slot's offer at a time" and "one customer holds one offer at a time" hold
-- in the database whatever a decision said; an acceptance first claims its row
-- (open → accepting) so that an expiry cannot overtake it.
CREATE TABLE waitlist.offers (
    tenant_id   uuid NOT NULL,
    offer_id    uuid NOT NULL,
    stream_id   text NOT NULL,
    slot_id     uuid NOT NULL,
    entry_id    uuid NOT NULL,
    customer_id uuid NOT NULL,
    made_at     timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    state       text NOT NULL CHECK (state IN
                    ('open', 'accepting', 'accepted', 'declined', 'expired', 'withdrawn')),
    claimed_at  timestamptz,
    PRIMARY KEY (tenant_id, offer_id)
);
CREATE UNIQUE INDEX offers_one_holder_per_slot ON waitlist.offers (tenant_id, slot_id)
    WHERE state IN ('open', 'accepting');
CREATE UNIQUE INDEX offers_one_per_entry ON waitlist.offers (tenant_id, entry_id)
    WHERE state IN ('open', 'accepting');
CREATE INDEX offers_due ON waitlist.offers (expires_at) WHERE state = 'open';
CREATE INDEX offers_by_customer ON waitlist.offers (tenant_id, customer_id, made_at);

GRANT USAGE ON SCHEMA waitlist TO belle_command;
GRANT SELECT, INSERT ON waitlist.entries TO belle_command;
GRANT SELECT, INSERT ON waitlist.slots TO belle_command;
GRANT SELECT, INSERT, UPDATE ON waitlist.offers TO belle_command;
