//! Key management (issue 3 item 8): rotating the KEK re-wraps every key, rewrites no
//! event, and leaves the old KEK unneeded.

use events_schema::keystore::{rotate_kek, KeyStore, KeyStoreError};
use events_schema::sealing::{Kek, Opened, SealContext, SealedValue};
use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

/// Every customer's sealed phone in the store: (tenant, customer, sealed).
async fn sealed_phones(
    app: &TestApp,
) -> Vec<(events_schema::ids::TenantId, uuid::Uuid, SealedValue)> {
    app.admin()
        .await
        .query(
            "SELECT tenant_id, payload::text FROM es.events WHERE event_type = 'CustomerRegistered'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| {
            let payload: Value = serde_json::from_str(r.get(1)).unwrap_or_default();
            let customer = payload["customer_id"].as_str().unwrap_or_default().parse().unwrap_or_default();
            let sealed = serde_json::from_value(payload["details"]["phone"].clone())
                .unwrap_or_else(|e| panic!("sealed phone: {e}"));
            (events_schema::ids::TenantId::from_uuid(r.get(0)), customer, sealed)
        })
        .collect()
}

async fn open_all(
    keys: &KeyStore,
    phones: &[(events_schema::ids::TenantId, uuid::Uuid, SealedValue)],
) -> Result<Vec<String>, KeyStoreError> {
    let mut out = Vec::new();
    for (tenant, subject, sealed) in phones {
        let ctx = SealContext {
            tenant: *tenant,
            subject: *subject,
            field: "phone",
        };
        match keys.open(&ctx, sealed).await? {
            Opened::Plain(p) => out.push(p),
            Opened::Erased => panic!("not erased"),
        }
    }
    Ok(out)
}

#[tokio::test]
async fn rotating_the_kek_rewraps_every_key_and_retires_the_old_one() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("rotating").await;
    for i in 0..3 {
        app.register(
            &token,
            &json!({ "name": "方圆", "phone": format!("1355555000{i}"), "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    }
    let events_before: String = app
        .admin()
        .await
        .query_one(
            "SELECT string_agg(payload::text, '' ORDER BY global_position) FROM es.events",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let phones = sealed_phones(&app).await;
    assert_eq!(phones.len(), 3);
    let pool = events_schema::db::app_pool(&app.db_url, "belle_query", None, 2)
        .unwrap_or_else(|e| panic!("{e}"));
    let old = app.kek.clone();
    let new = Kek::generate("k2");

    // During the rotation the services hold both: everything still opens.
    let both = KeyStore::new(pool.clone(), new.clone()).with_previous(Some(old.clone()));
    let plain = open_all(&both, &phones)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        plain.iter().all(|p| p.starts_with("+86135555500")),
        "{plain:?}"
    );

    let mut admin = app.admin_pool.get().await.unwrap_or_else(|e| panic!("{e}"));
    let done = rotate_kek(&mut admin, &old, &new)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Three customers and the owner's account; one tenant index key.
    assert_eq!(
        (done.subject_keys, done.tenant_keys, done.foreign),
        (4, 1, 0),
        "{done:?}"
    );
    let again = rotate_kek(&mut admin, &old, &new)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (again.subject_keys, again.tenant_keys),
        (0, 0),
        "a second run has nothing to do"
    );
    let kek_ids: Vec<String> = app
        .admin()
        .await
        .query(
            "SELECT DISTINCT kek_id FROM keys.subject_keys UNION SELECT DISTINCT kek_id FROM keys.tenant_keys",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kek_ids, ["k2"]);

    // The new KEK alone opens everything; the old one alone opens nothing.
    let only_new = KeyStore::new(pool.clone(), new.clone());
    assert_eq!(
        open_all(&only_new, &phones)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        plain
    );
    let only_old = KeyStore::new(pool.clone(), old.clone());
    assert!(matches!(
        open_all(&only_old, &phones).await,
        Err(KeyStoreError::UnknownKek { .. })
    ));
    // Not one event was rewritten.
    let events_after: String = app
        .admin()
        .await
        .query_one(
            "SELECT string_agg(payload::text, '' ORDER BY global_position) FROM es.events",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events_before, events_after);
    pool.close();
    app.cleanup().await;
}
