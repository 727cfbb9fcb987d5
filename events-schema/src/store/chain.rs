//! The hash chain over the feed (SEC-6, migrations `0004_hash_chain` and
//! `0008_chain_link_in_feed`): link n = SHA-256(link n-1 ‖ `es.event_digest` of the n-th
//! feed entry's event row), link 0 = 32 zero bytes. The relay computes each link as it
//! moves the event and writes it in the feed entry itself (entries moved before
//! migration 0008 have theirs in `es.chain`); [`verify`] recomputes the chain from the
//! stored rows and names the first position that does not match: a changed row, a
//! deleted one, a link that is missing or differs, or an event row that was slipped in
//! behind the relay and so never reached the feed.

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
/// their links: the entry's own, or for an entry moved before migration 0008 the one in
/// `es.chain`. The chain is joined from `$1` on: without that bound a merge join reads
/// the chain's index from its first link on every call, and the cost of a batch grows
/// with the length of the chain.
const ENTRIES: &str = "\
SELECT f.seq, f.global_position, d.digest, coalesce(f.link, c.link)
FROM es.feed f
LEFT JOIN LATERAL (
    SELECT es.event_digest(e) AS digest FROM es.events e
    WHERE e.global_position = f.global_position OFFSET 0) d ON true
LEFT JOIN es.chain c ON c.seq = f.seq AND c.seq > $1
WHERE f.seq > $1 ORDER BY f.seq LIMIT $2";

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

/// The link of the feed entry at `seq`: its own, or for an entry moved before migration
/// 0008 the one in `es.chain`; `None` when there is no such entry or it has no link.
pub async fn link_at(client: &impl GenericClient, seq: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT coalesce(f.link, c.link) FROM es.feed f
             LEFT JOIN es.chain c ON c.seq = f.seq WHERE f.seq = $1",
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&seq])
        .await?
        .and_then(|row| row.get(0)))
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
    pub first_breach: Option<Breach>,
}

/// Recomputes the whole chain from the stored rows.
pub async fn verify(client: &impl GenericClient) -> Result<ChainReport, StoreError> {
    const BATCH: i64 = 10_000;
    let stmt = client.prepare_cached(ENTRIES).await?;
    let mut report = ChainReport {
        verified: 0,
        first_breach: None,
    };
    let (mut seq, mut previous) = (0i64, GENESIS.to_vec());
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
            let Some(stored) = stored else {
                report.first_breach = Some(breach("the entry has no link"));
                break 'scan;
            };
            previous = link(&previous, &digest);
            if stored != previous {
                report.first_breach = Some(breach("the event row or its link was changed"));
                break 'scan;
            }
            report.verified += 1;
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
