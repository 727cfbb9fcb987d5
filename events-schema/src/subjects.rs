//! NATS subject and JetStream stream names. Subjects carry only ids and stream types,
//! never personal data: `<prefix>.events.<tenant_id>.<stream_type>`.

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

/// Header carrying the feed position of a published event.
pub const SEQ_HEADER: &str = "Belle-Seq";

#[cfg(test)]
mod tests {
    use super::*;

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
