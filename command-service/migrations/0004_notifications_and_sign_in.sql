-- Notifications (DESIGN §9) and customers' sign-in by one-time code (SEC-3, issue 3).

-- The outbox: a message waits here until a channel has taken it. Recipient and text are
-- sealed with the notification's own data key (keys.subject_keys, subject =
-- notification_id), destroyed once the message is sent or given up, so a sent message
-- leaves nothing readable behind. Workers claim due rows with FOR UPDATE SKIP LOCKED;
-- the row is marked and the NotificationSent / NotificationFailed event appended in
-- the same transaction, so each is recorded exactly once.
CREATE SCHEMA notify;
CREATE TABLE notify.outbox (
    notification_id uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    kind            text NOT NULL,
    subject_id      uuid,
    recipient       text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX outbox_due ON notify.outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_subject ON notify.outbox (tenant_id, subject_id)
    WHERE subject_id IS NOT NULL;

GRANT USAGE ON SCHEMA notify TO belle_command;
GRANT SELECT, INSERT, UPDATE ON notify.outbox TO belle_command;

-- One live sign-in code per phone (a new request replaces it): only its keyed hash is
-- kept, with its expiry and the wrong guesses made against it.
CREATE TABLE iam.sign_in_codes (
    tenant_id  uuid NOT NULL,
    phone_hash text NOT NULL,
    code_hash  text NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   int NOT NULL DEFAULT 0,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sign_in_codes_pkey PRIMARY KEY (tenant_id, phone_hash)
);

-- A customer's own account (role customer, no password: she signs in with a code sent
-- to her phone). Its events are in account-<account_id>.
CREATE TABLE iam.customer_accounts (
    tenant_id   uuid NOT NULL,
    customer_id uuid NOT NULL,
    account_id  uuid NOT NULL CONSTRAINT customer_accounts_account_key UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_accounts_pkey PRIMARY KEY (tenant_id, customer_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON iam.sign_in_codes TO belle_command;
GRANT SELECT, INSERT, UPDATE ON iam.customer_accounts TO belle_command;
