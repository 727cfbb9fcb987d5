-- The hash chain's link moves into the feed row it links. The relay used to write a feed
-- entry in one statement and commit, then its link into es.chain in a second statement
-- and commit: per event a second row and index entry, per round a second statement and
-- WAL flush; about a sixth of the relay's database time. Now the relay reads the events
-- and its checkpoint (locked), computes the links, and writes each feed entry with its
-- link and the new checkpoint in one transaction, so an entry is never unlinked.
--
-- es.chain keeps the links of the entries moved before this migration (it stays
-- append-only); verification takes a link from the feed row, else from es.chain.

-- ACCESS EXCLUSIVE on es.feed: a relay of the previous version is blocked until the
-- migration commits, and then refused by the constraint below; the links computed next
-- cover every entry it moved.
ALTER TABLE es.feed ADD COLUMN link bytea;
-- Every entry written from now on carries its link. NOT VALID: entries written before
-- have theirs in es.chain, and the feed is immutable anyway.
ALTER TABLE es.feed ADD CONSTRAINT feed_link_present
    CHECK (link IS NOT NULL AND octet_length(link) = 32) NOT VALID;

-- Chain what a relay of the previous version moved but did not chain yet (normally
-- nothing), exactly as it would have: link n = sha256(link n-1 || es.event_digest).
-- Stops at a gap or a missing event row, which verification then reports.
DO $$
DECLARE
    head_seq  bigint;
    head_link bytea;
    entry     record;
BEGIN
    SELECT c.seq, c.link INTO head_seq, head_link FROM es.chain c ORDER BY c.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_link := decode(repeat('00', 32), 'hex');
    END IF;
    FOR entry IN
        SELECT f.seq, (SELECT es.event_digest(e) FROM es.events e
                       WHERE e.global_position = f.global_position) AS digest
        FROM es.feed f WHERE f.seq > head_seq ORDER BY f.seq
    LOOP
        EXIT WHEN entry.seq <> head_seq + 1 OR entry.digest IS NULL;
        head_link := sha256(head_link || entry.digest);
        head_seq := entry.seq;
        INSERT INTO es.chain (seq, link) VALUES (head_seq, head_link);
    END LOOP;
END $$;
