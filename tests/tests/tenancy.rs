//! Authentication, tenant isolation and the auditors' API (PLT-1).

use serde_json::json;
use tests::spawn_app;

#[tokio::test]
async fn another_tenant_can_neither_read_nor_change_a_customer_even_with_her_id() {
    let app = spawn_app().await;
    let (_, a) = app.tenant("tenant-a").await;
    let (_, b) = app.tenant("tenant-b").await;
    let saved = app
        .register(&a, &json!({ "name": "郑爽", "phone": "13844440000", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    let ct = saved["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        app.get(&a, &format!("/customers/{id}?consistency_token={ct}"))
            .await
            .0,
        200
    );

    assert_eq!(app.get(&b, &format!("/customers/{id}")).await.0, 404);
    assert_eq!(
        app.get(&b, &format!("/customers/{id}/history")).await.0,
        404
    );
    assert_eq!(
        app.get(&b, "/customers?phone=13844440000").await.1["total"],
        0
    );
    assert_eq!(app.get(&b, "/customers?q=zs").await.1["total"], 0);
    assert_eq!(
        app.get(&b, &format!("/audit/streams/customer-{id}/events"))
            .await
            .0,
        404
    );
    let (_, feed) = app.get(&b, "/audit/feed").await;
    assert!(
        !feed.to_string().contains(&id),
        "another tenant's feed excludes her"
    );
    let (status, _) = app
        .patch(
            &b,
            &format!("/customers/{id}"),
            &json!({ "reason": "hijack", "changes": { "name": "黑客" } }),
        )
        .await;
    assert_eq!(status, 404);
    let (_, detail) = app.get(&a, &format!("/customers/{id}")).await;
    assert_eq!(detail["name"], "郑爽", "unchanged");
    app.cleanup().await;
}

#[tokio::test]
async fn wrong_passwords_unknown_logins_and_unknown_tenants_get_the_same_401() {
    let app = spawn_app().await;
    app.tenant("auth").await;
    // Wrong passwords and unknown tenants get the same 401.
    for (t, l, p) in [
        ("auth", "owner", "wrong password!"),
        ("nope", "owner", "correct horse battery"),
        ("auth", "ghost", "correct horse battery"),
    ] {
        let r = app
            .http
            .post(format!("{}/auth/login", app.command_url))
            .json(&json!({ "tenant": t, "login": l, "password": p }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 401, "{t}/{l}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn auditors_read_a_stream_and_the_feed_with_sealed_values_masked() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("audit").await;
    let saved = app
        .register(&token, &json!({ "name": "冯雪", "phone": "13855550000", "email": "xue@example.com", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    let ct = saved["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, events) = app
        .get(
            &token,
            &format!("/audit/streams/customer-{id}/events?consistency_token={ct}"),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let e = &events[0];
    assert_eq!(e["event_type"], "CustomerRegistered");
    assert_eq!(e["stream_version"], 1);
    assert!(e["seq"].as_i64().unwrap_or(0) >= 1);
    assert_eq!(e["metadata"]["actor"]["role"], "owner");
    assert_eq!(e["payload"]["details"]["phone"], "138****0000");
    assert_eq!(e["payload"]["details"]["name"], "冯*");
    assert!(!events.to_string().contains("13855550000"));
    assert!(!events.to_string().contains("xue@example.com"));
    let (status, page) = app.get(&token, "/audit/feed?after=0&limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(page["events"].as_array().map(Vec::len), Some(2));
    let next = page["next_after"].as_i64().unwrap_or(0);
    let (_, rest) = app.get(&token, &format!("/audit/feed?after={next}")).await;
    assert!(rest["events"].as_array().is_some_and(|e| !e.is_empty()));
    app.cleanup().await;
}
