//! The hash chain over the feed (SEC-6, migration `0004_hash_chain`): link n =
//! SHA-256(link n-1 ‖ `es.event_digest` of the n-th feed entry's event row), link 0 =
//! 32 zero bytes. The relay [`extend`]s it as it moves events; [`verify`] recomputes it
//! from the stored rows and names the first position that does not match: a changed
//! row, a deleted one, a link that is missing or differs, or an event row that was
//! slipped in behind the relay and so never reached the feed.

use super::StoreError;
use crate::envelope::RecordedEvent;
use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};

/// The link before the first.
pub const GENESIS: [u8; 32] = [0; 32];

/// Link n from link n-1 and the n-th event's digest.
pub fn link(previous: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(digest);
    h.finalize().to_vec()
}

/// Feed entries after `$1` with their events' digests (NULL when the row is gone) and
/// their stored links (NULL when not chained yet). The chain is joined from `$1` on:
/// without that bound a merge join reads the chain's index from its first link on every
/// call, and the cost of a batch grows with the length of the chain.
const ENTRIES: &str = "\
SELECT f.seq, f.global_position, d.digest, c.link
FROM es.feed f
LEFT JOIN LATERAL (
    SELECT es.event_digest(e) AS digest FROM es.events e
    WHERE e.global_position = f.global_position OFFSET 0) d ON true
LEFT JOIN es.chain c ON c.seq = f.seq AND c.seq > $1
WHERE f.seq > $1 ORDER BY f.seq LIMIT $2";

/// Feed entries after the chain's head `$1` with their events' digests: what
/// [`extend`] links. Entries past the head have no link yet, so the chain is not read.
const UNCHAINED: &str = "\
SELECT f.seq, d.digest
FROM es.feed f
LEFT JOIN LATERAL (
    SELECT es.event_digest(e) AS digest FROM es.events e
    WHERE e.global_position = f.global_position OFFSET 0) d ON true
WHERE f.seq > $1 ORDER BY f.seq LIMIT $2";

const HEAD: &str = "SELECT seq, link FROM es.chain ORDER BY seq DESC LIMIT 1";

/// `es.event_digest(e)` computed from the row as read, without asking PostgreSQL:
/// SHA-256 over each column's text rendering prefixed by its length in characters, in
/// the function's order. `tx_id` is the column's text (`e.tx_id::text`) and `metadata`
/// the stored JSON text; the payload's text is the event's raw payload. The caller must
/// know both JSON texts to be exactly as stored: a driver that trims white space around
/// a JSON value would make the digest differ from the one [`verify`] recomputes.
pub fn event_digest(event: &RecordedEvent, tx_id: &str, metadata: &str) -> Vec<u8> {
    fn put(h: &mut Sha256, text: &str) {
        h.update(text.chars().count().to_string());
        h.update(b":");
        h.update(text);
    }
    let mut h = Sha256::new();
    put(&mut h, &event.global_position.to_string());
    put(&mut h, tx_id);
    put(&mut h, &event.event_id.as_uuid().hyphenated().to_string());
    put(&mut h, &event.tenant_id.as_uuid().hyphenated().to_string());
    put(&mut h, &event.stream_id);
    put(&mut h, &event.stream_type);
    put(&mut h, &event.stream_version.to_string());
    put(&mut h, &event.event_type);
    put(&mut h, &event.schema_version.to_string());
    // to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), written
    // field by field: chrono's `format` would parse a format string for every event.
    put(&mut h, &recorded_at_text(&event.recorded_at));
    put(&mut h, metadata);
    put(&mut h, event.payload.get());
    h.finalize().to_vec()
}

/// `recorded_at` as `to_char(recorded_at AT TIME ZONE 'UTC',
/// 'YYYY-MM-DD"T"HH24:MI:SS.US')` renders it (PostgreSQL keeps microseconds).
fn recorded_at_text(at: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.timestamp_subsec_micros()
    )
}

/// The chain's head: its last seq and link (0 and [`GENESIS`] while empty).
pub async fn head(client: &impl GenericClient) -> Result<(i64, Vec<u8>), StoreError> {
    let stmt = client.prepare_cached(HEAD).await?;
    Ok(client
        .query_opt(&stmt, &[])
        .await?
        .map_or((0, GENESIS.to_vec()), |r| (r.get(0), r.get(1))))
}

/// Chains feed entries past the chain's head (at most `limit`); returns how many. Stops
/// before a feed entry whose event row is missing, which [`verify`] then reports.
/// Several relays racing compute the same links; the first insert wins.
pub async fn extend(client: &impl GenericClient, limit: i64) -> Result<usize, StoreError> {
    let (mut seq, mut previous) = head(client).await?;
    let stmt = client.prepare_cached(UNCHAINED).await?;
    let rows = client.query(&stmt, &[&seq, &limit]).await?;
    let (mut seqs, mut links) = (Vec::new(), Vec::new());
    for row in &rows {
        let (s, digest): (i64, Option<Vec<u8>>) = (row.get(0), row.get(1));
        let Some(digest) = digest.filter(|_| s == seq + 1) else {
            break;
        };
        previous = link(&previous, &digest);
        seq = s;
        seqs.push(s);
        links.push(previous.clone());
    }
    if seqs.is_empty() {
        return Ok(0);
    }
    let stmt = client
        .prepare_cached(
            "INSERT INTO es.chain (seq, link) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])
             ON CONFLICT (seq) DO NOTHING",
        )
        .await?;
    client.execute(&stmt, &[&seqs, &links]).await?;
    Ok(seqs.len())
}

/// Stores links the leading relay computed for what it just moved, `links[i]` at
/// `seqs[i]`. Without [`extend`]'s `ON CONFLICT` (a speculative insertion per row): a
/// link already there means another relay chained these entries, and the error ends
/// this one's round.
pub async fn append(
    client: &impl GenericClient,
    seqs: &[i64],
    links: &[Vec<u8>],
) -> Result<(), StoreError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let stmt = client
        .prepare_cached(
            "INSERT INTO es.chain (seq, link) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
        )
        .await?;
    client.execute(&stmt, &[&seqs, &links]).await?;
    Ok(())
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Breach {
    /// Feed position, when the problem is at a feed entry.
    pub seq: Option<i64>,
    /// The event's position in the store.
    pub global_position: i64,
    pub problem: &'static str,
}

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    /// Links recomputed and found equal to the stored ones.
    pub verified: i64,
    /// Feed entries past the chain's head (moved, not chained yet).
    pub unchained: i64,
    pub first_breach: Option<Breach>,
}

/// Recomputes the whole chain from the stored rows.
pub async fn verify(client: &impl GenericClient) -> Result<ChainReport, StoreError> {
    const BATCH: i64 = 10_000;
    let stmt = client.prepare_cached(ENTRIES).await?;
    let mut report = ChainReport {
        verified: 0,
        unchained: 0,
        first_breach: None,
    };
    let (mut seq, mut previous) = (0i64, GENESIS.to_vec());
    let mut chain_ended = false;
    'scan: loop {
        let rows = client.query(&stmt, &[&seq, &BATCH]).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let (s, position): (i64, i64) = (row.get(0), row.get(1));
            let (digest, stored): (Option<Vec<u8>>, Option<Vec<u8>>) = (row.get(2), row.get(3));
            let breach = |problem| Breach {
                seq: Some(s),
                global_position: position,
                problem,
            };
            if s != seq + 1 {
                report.first_breach = Some(breach("feed entries before this one are missing"));
                break 'scan;
            }
            seq = s;
            let Some(digest) = digest else {
                report.first_breach = Some(breach("the event row was deleted"));
                break 'scan;
            };
            match stored {
                None => {
                    chain_ended = true;
                    report.unchained += 1;
                }
                Some(_) if chain_ended => {
                    report.first_breach = Some(breach("a link follows a missing one"));
                    break 'scan;
                }
                Some(stored) => {
                    previous = link(&previous, &digest);
                    if stored != previous {
                        report.first_breach = Some(breach("the event row or its link was changed"));
                        break 'scan;
                    }
                    report.verified += 1;
                }
            }
        }
    }
    if report.first_breach.is_none() {
        // A row slipped in behind the relay's checkpoint never reaches the feed.
        let stmt = client
            .prepare_cached(
                "SELECT e.global_position FROM es.events e, es.relay_state r
                 WHERE r.id = 1 AND (e.tx_id, e.global_position) <= (r.last_tx_id, r.last_position)
                   AND NOT EXISTS (SELECT 1 FROM es.feed f WHERE f.global_position = e.global_position)
                 ORDER BY e.global_position LIMIT 1",
            )
            .await?;
        if let Some(row) = client.query_opt(&stmt, &[]).await? {
            report.first_breach = Some(Breach {
                seq: None,
                global_position: row.get(0),
                problem: "an event row behind the relay is not in the feed (inserted directly)",
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::recorded_at_text;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    proptest! {
        /// Written field by field, the time reads as chrono's (and PostgreSQL's)
        /// `YYYY-MM-DDTHH:MM:SS.ffffff` would render it, at microsecond precision.
        #[test]
        fn recorded_at_renders_as_the_format_string_would(
            seconds in 0i64..253_402_300_799,
            micros in 0u32..1_000_000,
        ) {
            let at = DateTime::<Utc>::from_timestamp(seconds, micros * 1000)
                .expect("in range");
            prop_assert_eq!(
                recorded_at_text(&at),
                at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
            );
        }
    }
}
