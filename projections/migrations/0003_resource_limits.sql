-- Resource limits (SEC-6, OWASP API4): query-service's role may not run a statement
-- longer than 5 s nor sit idle inside a transaction for more than 10 s, whatever a
-- request asks for. (Role settings are cluster-wide and take effect on new connections.)
ALTER ROLE belle_query SET statement_timeout = '5s';
ALTER ROLE belle_query SET idle_in_transaction_session_timeout = '10s';
