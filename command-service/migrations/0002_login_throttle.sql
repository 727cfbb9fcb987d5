-- Failed-login throttling (SEC-3, OWASP API4): attempts per account and per client
-- address in a fixed 15-minute window, shared by every command-service instance. Keys
-- are HMACs (the account's tenant slug and login name; the client address), so the
-- table holds no login name and no IP address.

CREATE TABLE iam.login_throttle (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     int NOT NULL CHECK (attempts >= 0)
);
CREATE INDEX login_throttle_window ON iam.login_throttle (window_start);

GRANT SELECT, INSERT, UPDATE, DELETE ON iam.login_throttle TO belle_command;
