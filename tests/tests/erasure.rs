//! Erasure by crypto-shredding (issue 3 item 7): nothing of her stays readable or
//! findable, the log and its chain stay whole, replays and rebuilds still work.

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

async fn count(app: &TestApp, sql: &str, id: &str) -> i64 {
    let id: uuid::Uuid = id.parse().unwrap_or_default();
    app.admin()
        .await
        .query_one(sql, &[&id])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_customer_leaves_nothing_readable_and_replays_still_work() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("forgetful").await;
    let her = app
        .register(
            &owner,
            &json!({ "name": "林黛玉", "phone": "13912345678", "id_number": "11010519491231002X",
                     "notes": "敏感肌", "consent": { "privacy_policy_version": "v1", "marketing": true } }),
        )
        .await;
    let id = her["customer_id"].as_str().unwrap_or_default().to_owned();
    let other = app
        .register(&owner, &json!({ "name": "薛宝钗", "phone": "13912340000", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    let (status, _) = app
        .patch(
            &owner,
            &format!("/customers/{id}"),
            &json!({ "reason": "moved house", "changes": { "address": "北京市海淀区" } }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &owner,
            &format!("/customers/{id}/reveal"),
            &json!({ "field": "phone", "reason": "call back" }),
        )
        .await;
    assert_eq!(status, 200);

    // Only the owner erases; the reference must not be free text.
    let (status, out) = app
        .post(
            &owner,
            &format!("/customers/{id}/erase"),
            &json!({ "reference": "林黛玉 asked" }),
        )
        .await;
    assert_eq!(
        (status, out["fields"][0]["field"].clone()),
        (400, json!("reference")),
        "{out}"
    );
    let (status, evidence) = app
        .post(
            &owner,
            &format!("/customers/{id}/erase"),
            &json!({ "reference": "DSR-2026-0042" }),
        )
        .await;
    assert_eq!(status, 200, "{evidence}");
    assert_eq!(evidence["customer_id"], id.as_str());
    assert_eq!(evidence["keys_destroyed"], 1);
    assert_eq!(evidence["reference"], "DSR-2026-0042");
    assert!(evidence["erased_at"].is_string());
    let (status, _) = app
        .post(
            &owner,
            &format!("/customers/{id}/erase"),
            &json!({ "reference": "DSR-2026-0042" }),
        )
        .await;
    assert_eq!(status, 410, "already erased");
    app.settle().await;

    // Nothing readable, nothing findable, no read-model row.
    assert_eq!(app.get(&owner, &format!("/customers/{id}")).await.0, 404);
    assert_eq!(
        app.get(&owner, &format!("/customers/{id}/history")).await.0,
        404
    );
    for q in [
        "phone=13912345678",
        "phone_tail=5678",
        "q=黛玉",
        "q=ldy",
        "id_number=11010519491231002X",
    ] {
        let (status, found) = app.get(&owner, &format!("/customers?{q}")).await;
        assert_eq!(status, 200);
        assert!(!found.to_string().contains(&id), "{q} finds her: {found}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM rm.customers WHERE customer_id = $1",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM rm.customer_history WHERE customer_id = $1",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM keys.subject_keys WHERE subject_id = $1",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM keys.erasures WHERE subject_id = $1",
            &id
        )
        .await,
        1,
        "evidence kept"
    );
    // Commands on her record answer 410; the other customer is untouched.
    let (status, _) = app
        .patch(
            &owner,
            &format!("/customers/{id}"),
            &json!({ "reason": "x", "changes": { "tags": ["vip"] } }),
        )
        .await;
    assert_eq!(status, 410);
    let (status, _) = app
        .post(
            &owner,
            &format!("/customers/{id}/reveal"),
            &json!({ "field": "phone", "reason": "x" }),
        )
        .await;
    assert_eq!(status, 410);
    let other_id = other["customer_id"].as_str().unwrap_or_default();
    assert_eq!(
        app.get(&owner, &format!("/customers/{other_id}")).await.0,
        200
    );

    // The log keeps every event, her values show as erased, the chain still verifies.
    let (status, events) = app
        .get(&owner, &format!("/audit/streams/customer-{id}/events"))
        .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["event_type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds,
        ["CustomerRegistered", "CustomerChanged", "CustomerErased"]
    );
    assert_eq!(
        events[0]["payload"]["details"]["phone"], "[erased]",
        "{}",
        events[0]
    );
    assert_eq!(events[0]["payload"]["details"]["name"], "[erased]");
    let (_, log) = app
        .get(&owner, &format!("/audit/disclosures?customer_id={id}"))
        .await;
    assert_eq!(log[0]["reason"], "[erased]", "{log}");
    let (_, chain) = app.get(&owner, "/audit/chain").await;
    assert_eq!(chain["first_breach"], Value::Null, "{chain}");

    // Her phone is free for a new registration.
    app.register(&owner, &json!({ "name": "新客", "phone": "13912345678", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    app.settle().await;

    // Replays agree: verify finds no difference, a rebuild has no row of her.
    for p in app.projections() {
        let diffs = projections::rebuild::verify(&app.admin_pool, p.as_ref())
            .await
            .unwrap_or_else(|e| panic!("verify {}: {e:#}", p.name()));
        assert!(diffs.is_empty(), "{}: {diffs:?}", p.name());
    }
    let customers = app
        .projections()
        .into_iter()
        .find(|p| p.name() == "customers")
        .unwrap_or_else(|| panic!("no customers projection"));
    projections::rebuild::rebuild(&app.admin_pool, customers.as_ref())
        .await
        .unwrap_or_else(|e| panic!("rebuild: {e:#}"));
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM rm.customers WHERE customer_id = $1",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM rm.customer_history WHERE customer_id = $1",
            &id
        )
        .await,
        0
    );
    let (_, found) = app.get(&owner, "/customers?phone=13912345678").await;
    assert_eq!(found["total"], 1, "only the new customer: {found}");
    app.cleanup().await;
}
