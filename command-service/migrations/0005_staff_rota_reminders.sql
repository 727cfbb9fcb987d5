-- Staff records, the shift rota and shift reminders (STF-1..3, issue 4).

-- One staff record per login account: a technician's token finds her own rota through
-- it. Written in the transaction that appends the staff event.
CREATE TABLE guard.staff_accounts (
    tenant_id  uuid NOT NULL,
    account_id uuid NOT NULL,
    staff_id   uuid NOT NULL,
    CONSTRAINT staff_accounts_pkey PRIMARY KEY (tenant_id, account_id)
);
GRANT SELECT, INSERT, DELETE ON guard.staff_accounts TO belle_command;

-- Each person's rota as it is after the last event of their rota stream (the fold,
-- written in the appending transaction): what the reminder planner expands, without
-- reading every rota stream every round.
CREATE SCHEMA rota;
CREATE TABLE rota.current (
    tenant_id uuid NOT NULL,
    staff_id  uuid NOT NULL,
    version   bigint NOT NULL,
    rota      jsonb NOT NULL,
    PRIMARY KEY (tenant_id, staff_id)
);
GRANT USAGE ON SCHEMA rota TO belle_command;
GRANT SELECT, INSERT, UPDATE ON rota.current TO belle_command;

-- Messages planned from a schedule (a shift reminder per shift and lead time) carry a
-- key naming what they are for: planning the same thing twice — another round, another
-- instance, a restart — finds the first and adds nothing. A planned message whose
-- reason went away (the shift moved) is withdrawn while unsent.
ALTER TABLE notify.outbox ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX outbox_dedupe ON notify.outbox (tenant_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
GRANT DELETE ON notify.outbox TO belle_command;
