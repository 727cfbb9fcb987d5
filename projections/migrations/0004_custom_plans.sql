-- Plans that follow the read models' growth. A read-model version starts empty and fills
-- while the services' pooled connections live on. After five executions of a prepared
-- statement PostgreSQL may switch to a generic plan and keep it for the connection's
-- life; made on an empty table, that plan scans the table (the projection's row lookup)
-- or the wrong index (a search by phone walking every row of the tenant), and its cost
-- then grows with the table. Planning each execution with its parameters and the
-- table's current size costs tens of microseconds and keeps lookups on their index.
-- (Role settings are cluster-wide and take effect on new connections.)
ALTER ROLE belle_query SET plan_cache_mode = 'force_custom_plan';
ALTER ROLE belle_projections SET plan_cache_mode = 'force_custom_plan';
