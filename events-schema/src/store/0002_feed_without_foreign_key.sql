-- The feed's foreign key to es.events checked every feed row with a SELECT … FOR KEY
-- SHARE on its event: a row lock (and WAL) on every event the relay moves, and a third
-- of the relay's database time. It guarded nothing the schema does not guard already:
-- the relay takes positions only from es.events in the same statement that writes the
-- feed, and events can never be deleted (the es.reject_change triggers). The feed's own unique keys
-- (seq, global_position) stay.
ALTER TABLE es.feed DROP CONSTRAINT feed_global_position_fkey;
