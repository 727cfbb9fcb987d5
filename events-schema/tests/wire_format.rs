//! Snapshots of the stored wire format of every event variant and of the envelope:
//! an accidental change to a stored shape fails here (a change needs a new schema
//! version and an upcaster, never an edit of history).

use events_schema::customer::{
    Consent, CustomerChanged, CustomerEvent, CustomerField, CustomerRegistered, SealedDetails,
    SourceChannel,
};
use events_schema::envelope::{Actor, DomainEvent, Metadata, Payload, Role};
use events_schema::identity::{AccountCreated, AccountEvent, TenantCreated, TenantEvent};
use events_schema::ids::{AccountId, CommandId, CustomerId, TenantId};
use events_schema::sealing::SealedValue;
use serde_json::json;
use uuid::Uuid;

fn sealed(tag: &str) -> SealedValue {
    SealedValue {
        v: 1,
        kv: 1,
        n: format!("nonce-{tag}"),
        c: format!("cipher-{tag}"),
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn round_trip<E: DomainEvent + PartialEq + std::fmt::Debug>(e: &E, expected: serde_json::Value) {
    let new = e.to_new_event().unwrap_or_else(|err| panic!("{err}"));
    let payload: serde_json::Value =
        serde_json::from_str(new.payload.get()).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(payload, expected, "{} payload", new.event_type);
    let back = E::from_stored(
        new.event_type,
        new.schema_version,
        &Payload::from_raw(new.payload.clone()),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(&back, e);
}

#[test]
fn customer_registered_v1() {
    let e = CustomerEvent::Registered(CustomerRegistered {
        customer_id: CustomerId::from_uuid(id(1)),
        details: SealedDetails {
            name: Some(sealed("name")),
            phone: Some(sealed("phone")),
            source_channel: Some(SourceChannel::WalkIn),
            tags: Some(vec!["vip".into()]),
            ..SealedDetails::default()
        },
        consent: Consent {
            privacy_policy_version: "2026-01".into(),
            purpose: None,
            marketing: true,
        },
    });
    assert_eq!(e.event_type(), "CustomerRegistered");
    round_trip(
        &e,
        json!({
            "customer_id": "00000000-0000-0000-0000-000000000001",
            "details": {
                "name": { "v": 1, "kv": 1, "n": "nonce-name", "c": "cipher-name" },
                "phone": { "v": 1, "kv": 1, "n": "nonce-phone", "c": "cipher-phone" },
                "source_channel": "walk_in",
                "tags": ["vip"]
            },
            "consent": { "privacy_policy_version": "2026-01", "marketing": true }
        }),
    );
}

#[test]
fn customer_changed_v1() {
    let e = CustomerEvent::Changed(CustomerChanged {
        customer_id: CustomerId::from_uuid(id(2)),
        details: SealedDetails {
            email: Some(sealed("email")),
            ..SealedDetails::default()
        },
        cleared: vec![CustomerField::IdNumber],
        reason: sealed("reason"),
    });
    assert_eq!(e.event_type(), "CustomerChanged");
    round_trip(
        &e,
        json!({
            "customer_id": "00000000-0000-0000-0000-000000000002",
            "details": { "email": { "v": 1, "kv": 1, "n": "nonce-email", "c": "cipher-email" } },
            "cleared": ["id_number"],
            "reason": { "v": 1, "kv": 1, "n": "nonce-reason", "c": "cipher-reason" }
        }),
    );
}

#[test]
fn tenant_created_v1_and_account_created_v1() {
    round_trip(
        &TenantEvent::Created(TenantCreated {
            tenant_id: TenantId::from_uuid(id(3)),
            slug: "demo-salon".into(),
            name: "Demo Salon".into(),
            currency: "CNY".into(),
            time_zone: "Asia/Shanghai".into(),
        }),
        json!({
            "tenant_id": "00000000-0000-0000-0000-000000000003",
            "slug": "demo-salon", "name": "Demo Salon", "currency": "CNY", "time_zone": "Asia/Shanghai"
        }),
    );
    round_trip(
        &AccountEvent::Created(AccountCreated {
            account_id: AccountId::from_uuid(id(4)),
            role: Role::FrontDesk,
            login: sealed("login"),
            customer_id: None,
        }),
        json!({
            "account_id": "00000000-0000-0000-0000-000000000004",
            "role": "front_desk",
            "login": { "v": 1, "kv": 1, "n": "nonce-login", "c": "cipher-login" }
        }),
    );
}

#[test]
fn service_image_added_v1_and_removed_v1() {
    use events_schema::catalogue::{ServiceEvent, ServiceImageAdded, ServiceImageRemoved};
    use events_schema::ids::{ImageId, ServiceId};
    let added = ServiceEvent::ImageAdded(ServiceImageAdded {
        service_id: ServiceId::from_uuid(id(5)),
        image_id: ImageId::from_uuid(id(6)),
        content_type: "image/png".into(),
        size: 67,
        sha256: "ab".repeat(32),
        alt: Some("补水焕颜护理".into()),
    });
    assert_eq!(added.event_type(), "ServiceImageAdded");
    round_trip(
        &added,
        json!({
            "service_id": "00000000-0000-0000-0000-000000000005",
            "image_id": "00000000-0000-0000-0000-000000000006",
            "content_type": "image/png", "size": 67, "sha256": "ab".repeat(32),
            "alt": "补水焕颜护理"
        }),
    );
    let removed = ServiceEvent::ImageRemoved(ServiceImageRemoved {
        service_id: ServiceId::from_uuid(id(5)),
        image_id: ImageId::from_uuid(id(6)),
    });
    assert_eq!(removed.event_type(), "ServiceImageRemoved");
    round_trip(
        &removed,
        json!({
            "service_id": "00000000-0000-0000-0000-000000000005",
            "image_id": "00000000-0000-0000-0000-000000000006"
        }),
    );
}

#[test]
fn metadata_carries_ids_and_a_role_only() {
    let m = Metadata {
        command_id: CommandId::from_uuid(id(5)),
        correlation_id: id(6),
        causation_id: id(7),
        actor: Actor {
            account_id: Some(AccountId::from_uuid(id(8))),
            role: Role::Owner,
        },
        tenant_id: TenantId::from_uuid(id(9)),
        occurred_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
    };
    assert_eq!(
        serde_json::to_value(&m).unwrap_or_default(),
        json!({
            "command_id": "00000000-0000-0000-0000-000000000005",
            "correlation_id": "00000000-0000-0000-0000-000000000006",
            "causation_id": "00000000-0000-0000-0000-000000000007",
            "actor": { "account_id": "00000000-0000-0000-0000-000000000008", "role": "owner" },
            "tenant_id": "00000000-0000-0000-0000-000000000009",
            "occurred_at": "2023-11-14T22:13:20Z"
        })
    );
}

#[test]
fn unknown_types_and_versions_are_refused_not_guessed() {
    assert!(
        CustomerEvent::from_stored("CustomerRegistered", 2, &Payload::from_value(&json!({})))
            .is_err()
    );
    assert!(
        CustomerEvent::from_stored("CustomerDeleted", 1, &Payload::from_value(&json!({}))).is_err()
    );
    assert!(CustomerEvent::from_stored(
        "CustomerChanged",
        1,
        &Payload::from_value(&json!({ "bogus": 1 }))
    )
    .is_err());
}

#[test]
fn a_feed_message_is_one_flat_object_with_the_payload_as_json_and_reads_back() {
    use events_schema::envelope::{FeedEvent, RecordedEvent};
    use events_schema::ids::{CommandId, EventId, TenantId};
    let tenant = TenantId::new();
    let feed = FeedEvent {
        seq: 7,
        event: RecordedEvent {
            global_position: 42,
            event_id: EventId::new(),
            tenant_id: tenant,
            stream_id: "customer-x".into(),
            stream_type: "customer".into(),
            stream_version: 3,
            event_type: "CustomerChanged".into(),
            schema_version: 1,
            payload: Payload::from_value(&json!({ "a": [1, 2], "b": { "c": "d" } })),
            metadata: Metadata {
                command_id: CommandId::new(),
                correlation_id: uuid::Uuid::now_v7(),
                causation_id: uuid::Uuid::now_v7(),
                actor: Actor {
                    account_id: None,
                    role: Role::System,
                },
                tenant_id: tenant,
                occurred_at: chrono::Utc::now(),
            },
            recorded_at: chrono::Utc::now(),
        },
    };
    let text = serde_json::to_string(&feed).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "event_id",
            "event_type",
            "global_position",
            "metadata",
            "payload",
            "recorded_at",
            "schema_version",
            "seq",
            "stream_id",
            "stream_type",
            "stream_version",
            "tenant_id"
        ]
    );
    assert_eq!(value["payload"], json!({ "a": [1, 2], "b": { "c": "d" } }));
    assert_eq!(value["seq"], 7);
    let back: FeedEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, feed);
}
