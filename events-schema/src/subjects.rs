//! NATS subject and JetStream stream names, and how feed entries are packed into
//! messages. Subjects carry only ids and stream types, never personal data:
//! `<prefix>.events.<tenant_id>.<stream_type>`.
//!
//! A message carries a *page*: a run of consecutive feed entries of one tenant and
//! stream type (so of one subject), as a JSON array of [`FeedEvent`]s, with the first
//! and last `seq` in the [`SEQ_HEADER`] and [`LAST_SEQ_HEADER`] headers. Under load the
//! relay publishes one message per run instead of one per event: JetStream's cost is
//! mostly per message (storing, de-duplicating, acknowledging), and a busy salon's
//! events come in long runs of one subject.

use crate::envelope::FeedEvent;
use crate::ids::TenantId;

/// The subject an event of `stream_type` in `tenant` is published on.
pub fn event_subject(prefix: &str, tenant: TenantId, stream_type: &str) -> String {
    format!("{prefix}.events.{tenant}.{stream_type}")
}

/// The filter covering every event subject under `prefix`.
pub fn events_filter(prefix: &str) -> String {
    format!("{prefix}.events.>")
}

/// The JetStream stream holding the events under `prefix` (`belle` → `BELLE_EVENTS`).
pub fn events_stream(prefix: &str) -> String {
    let upper: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{upper}_EVENTS")
}

/// Header carrying the feed position of a message's first entry.
pub const SEQ_HEADER: &str = "Belle-Seq";

/// Header carrying the feed position of a message's last entry.
pub const LAST_SEQ_HEADER: &str = "Belle-Last-Seq";

/// Most feed entries in one message.
pub const PAGE_ENTRIES: usize = 256;

/// Most payload bytes (estimated, see [`entry_bytes`]) in one message, well below NATS's
/// default `max_payload` of 1 MiB. One entry larger than this still makes a page alone.
pub const PAGE_BYTES: usize = 256 * 1024;

/// The estimated size of an entry on the wire: its payload and an allowance for the
/// envelope (ids, metadata, time). Pages are cut by it and the relay sizes their bodies
/// by it.
pub fn entry_bytes(entry: &FeedEvent) -> usize {
    entry.event.payload.get().len() + 512
}

/// Splits entries (consecutive, in feed order) into pages: maximal runs of one tenant
/// and stream type, cut at [`PAGE_ENTRIES`] entries or [`PAGE_BYTES`] bytes. Each page
/// is published as one message on its run's subject.
pub fn feed_pages(entries: &[FeedEvent]) -> Vec<&[FeedEvent]> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, entry) in entries.iter().enumerate() {
        let first = &entries[start].event;
        let size = entry_bytes(entry);
        let same_subject = entry.event.tenant_id == first.tenant_id
            && entry.event.stream_type == first.stream_type;
        if i > start && (!same_subject || i - start >= PAGE_ENTRIES || bytes + size > PAGE_BYTES) {
            pages.push(&entries[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        pages.push(&entries[start..]);
    }
    pages
}

/// The `Nats-Msg-Id` of a page: its event id when it holds one entry (as DESIGN §3
/// has it), else the first event id and the entry count, which together name exactly
/// these entries (the feed never changes), so JetStream drops a republished identical
/// page and lets a differently cut one through for consumers to de-duplicate by `seq`.
pub fn page_msg_id(page: &[FeedEvent]) -> String {
    match page {
        [] => String::new(),
        [only] => only.event.event_id.to_string(),
        [first, ..] => format!("{}+{}", first.event.event_id, page.len()),
    }
}

/// Decodes a message body: a page (JSON array), or a lone entry (JSON object) as
/// relays before pages published.
pub fn decode_page(body: &[u8]) -> Result<Vec<FeedEvent>, serde_json::Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body),
        _ => serde_json::from_slice::<FeedEvent>(body).map(|e| vec![e]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Metadata, Payload, RecordedEvent};
    use crate::ids::EventId;

    fn entry(seq: i64, tenant: TenantId, stream_type: &str, payload_bytes: usize) -> FeedEvent {
        FeedEvent {
            seq,
            event: RecordedEvent {
                global_position: seq * 10,
                event_id: EventId::new(),
                tenant_id: tenant,
                stream_id: format!("{stream_type}-{seq}"),
                stream_type: stream_type.into(),
                stream_version: 1,
                event_type: "Happened".into(),
                schema_version: 1,
                payload: Payload::from_value(
                    &serde_json::json!({ "x": "y".repeat(payload_bytes) }),
                ),
                metadata: Metadata::system(tenant, uuid::Uuid::now_v7()),
                recorded_at: chrono::Utc::now(),
            },
        }
    }

    fn seqs(pages: &[&[FeedEvent]]) -> Vec<Vec<i64>> {
        pages
            .iter()
            .map(|p| p.iter().map(|e| e.seq).collect())
            .collect()
    }

    #[test]
    fn pages_are_runs_of_one_subject_in_feed_order() {
        let (a, b) = (TenantId::new(), TenantId::new());
        let entries = vec![
            entry(1, a, "customer", 10),
            entry(2, a, "customer", 10),
            entry(3, a, "staff", 10),
            entry(4, b, "staff", 10),
            entry(5, b, "staff", 10),
            entry(6, a, "customer", 10),
        ];
        let pages = feed_pages(&entries);
        assert_eq!(seqs(&pages), vec![vec![1, 2], vec![3], vec![4, 5], vec![6]]);
        assert!(feed_pages(&[]).is_empty());
    }

    #[test]
    fn pages_are_cut_by_count_and_by_size() {
        let t = TenantId::new();
        let many: Vec<FeedEvent> = (1..=PAGE_ENTRIES as i64 * 2 + 3)
            .map(|s| entry(s, t, "customer", 1))
            .collect();
        let pages = feed_pages(&many);
        assert_eq!(
            pages.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![PAGE_ENTRIES, PAGE_ENTRIES, 3]
        );
        // Large payloads: a page stays under PAGE_BYTES, a lone oversized entry is a page.
        let big: Vec<FeedEvent> = (1..=5)
            .map(|s| entry(s, t, "customer", PAGE_BYTES / 3))
            .collect();
        assert_eq!(
            seqs(&feed_pages(&big)),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        let huge = vec![
            entry(1, t, "customer", PAGE_BYTES * 2),
            entry(2, t, "customer", 1),
        ];
        assert_eq!(seqs(&feed_pages(&huge)), vec![vec![1], vec![2]]);
    }

    #[test]
    fn a_page_round_trips_and_a_lone_entry_still_decodes() {
        let t = TenantId::new();
        let entries = vec![entry(7, t, "customer", 20), entry(8, t, "customer", 20)];
        let body = serde_json::to_vec(&entries).unwrap_or_default();
        assert_eq!(decode_page(&body).unwrap_or_default(), entries);
        let one = serde_json::to_vec(&entries[0]).unwrap_or_default();
        assert_eq!(decode_page(&one).unwrap_or_default(), entries[..1].to_vec());
        assert!(decode_page(b"{\"seq\": 1}").is_err());
        assert_eq!(
            page_msg_id(&entries[..1]),
            entries[0].event.event_id.to_string()
        );
        assert_eq!(
            page_msg_id(&entries),
            format!("{}+2", entries[0].event.event_id)
        );
    }

    #[test]
    fn subjects_are_built_from_ids_only() {
        let t = TenantId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            event_subject("belle", t, "customer"),
            "belle.events.00000000-0000-0000-0000-000000000000.customer"
        );
        assert_eq!(events_filter("t1"), "t1.events.>");
        assert_eq!(events_stream("belle"), "BELLE_EVENTS");
        assert_eq!(events_stream("test-ab.c"), "TEST_AB_C_EVENTS");
    }
}
