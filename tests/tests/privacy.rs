//! No plaintext personal data in events, metadata, commands or JetStream (G4), and
//! sealed values bound to their subject and field (DESIGN §6).

use events_schema::customer::CustomerRegistered;
use events_schema::ids::TenantId;
use events_schema::sealing::{Opened, SealContext};
use serde_json::json;
use tests::spawn_app;

const NAME: &str = "欧阳娜娜";
const PHONE: &str = "13912345678";
const ID_NUMBER: &str = "11010519491231002X";
const EMAIL: &str = "nana.ouyang@example.com";
const ADDRESS: &str = "杭州市西湖区文三路259号";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_appears_nowhere_in_the_log_or_on_the_bus() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("privacy").await;
    let saved = app
        .register(
            &token,
            &json!({
                "name": NAME, "phone": PHONE, "id_number": ID_NUMBER, "email": EMAIL,
                "address": ADDRESS, "birthday": "1949-12-31", "allergies": "青霉素过敏",
                "consent": { "privacy_policy_version": "v1" }
            }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    app.patch(
        &token,
        &format!("/customers/{id}"),
        &json!({ "reason": "更正邮箱", "changes": { "email": "nana2@example.com", "phone": "13912345679" } }),
    )
    .await;
    app.settle().await;
    let needles = [
        NAME,
        PHONE,
        "+8613912345678",
        "13912345679",
        ID_NUMBER,
        EMAIL,
        "nana2@example.com",
        ADDRESS,
        "1949-12-31",
        "青霉素",
        "更正邮箱",
    ];

    let admin = app.admin().await;
    let dump: String = admin
        .query_one(
            "SELECT string_agg(payload::text || metadata::text || stream_id || event_type, ' ') FROM es.events",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_default();
    let commands: String = admin
        .query_one(
            "SELECT coalesce(string_agg(response::text, ' '), '') FROM es.commands",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_default();
    assert!(dump.contains("customer-"), "the scan reads real events");
    for needle in needles {
        assert!(!dump.contains(needle), "events contain {needle}");
        assert!(
            !commands.contains(needle),
            "command records contain {needle}"
        );
    }

    let messages = app.stored_messages().await;
    assert!(messages.len() >= 4, "messages were published");
    for msg in &messages {
        let seq = msg.sequence;
        let text = format!(
            "{} {:?} {}",
            msg.subject,
            msg.headers,
            String::from_utf8_lossy(&msg.payload)
        );
        for needle in needles {
            assert!(
                !text.contains(needle),
                "JetStream message {seq} contains {needle}"
            );
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_customer_or_field_fails_to_open() {
    let app = spawn_app().await;
    let (tenant, token) = app.tenant("moved").await;
    let a = app
        .register(&token, &json!({ "name": "甲", "phone": "13811112222", "email": "a@example.com", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    let b = app
        .register(&token, &json!({ "name": "乙", "phone": "13811113333", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    let a_id: uuid::Uuid = a["customer_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let b_id: uuid::Uuid = b["customer_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let tenant: TenantId = tenant.parse().unwrap_or_else(|e| panic!("{e}"));
    let payload: serde_json::Value = app
        .admin()
        .await
        .query_one(
            "SELECT payload FROM es.events WHERE stream_id = $1",
            &[&format!("customer-{a_id}")],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_default();
    let registered: CustomerRegistered =
        serde_json::from_value(payload).unwrap_or_else(|e| panic!("{e}"));
    let phone = registered
        .details
        .phone
        .unwrap_or_else(|| panic!("sealed phone"));
    let keys = &app.command_app().keys;
    let ctx = |subject, field| SealContext {
        tenant,
        subject,
        field,
    };
    let opened = keys.open(&ctx(a_id, "phone"), &phone).await;
    assert!(matches!(opened, Ok(Opened::Plain(ref p)) if p == "+8613811112222"));
    assert!(
        keys.open(&ctx(b_id, "phone"), &phone).await.is_err(),
        "another customer"
    );
    assert!(
        keys.open(&ctx(a_id, "email"), &phone).await.is_err(),
        "another field"
    );
    let other_tenant = SealContext {
        tenant: TenantId::new(),
        subject: a_id,
        field: "phone",
    };
    assert!(
        keys.open(&other_tenant, &phone).await.is_err()
            || matches!(keys.open(&other_tenant, &phone).await, Ok(Opened::Erased))
    );
    app.cleanup().await;
}
