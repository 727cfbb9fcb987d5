//! Resource limits and log hygiene (issue 3 items 10 and the log acceptance): full-chain
//! verification and customer exports answer 429 with `Retry-After` past their limits;
//! the scanner behind "no log line holds personal data" does catch one.

use serde_json::json;
use tests::spawn_app;

#[tokio::test]
async fn chain_verifications_and_exports_are_rate_limited_per_salon() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("limits-a").await;
    let (_, other) = app.tenant("limits-b").await;
    let saved = app
        .register(
            &owner,
            &json!({ "name": "秦岚", "phone": "13955550101", "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();

    let verify = |token: String| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(format!("{}/audit/chain", app.query_url))
                .bearer_auth(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            (r.status().as_u16(), retry)
        }
    };
    for _ in 0..query_service::limits::CHAIN_VERIFICATIONS_PER_HOUR {
        assert_eq!(verify(owner.clone()).await.0, 200);
    }
    let (status, retry) = verify(owner.clone()).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| s > 0 && s <= 3600), "{retry:?}");
    assert_eq!(
        verify(other.clone()).await.0,
        200,
        "another salon has its own count"
    );

    let limit = command_service::app::export::EXPORTS_PER_TENANT.limit;
    for _ in 0..limit {
        let (status, body) = app
            .post(
                &owner,
                &format!("/customers/{id}/export"),
                &json!({ "reason": "DSR" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .post(
            &owner,
            &format!("/customers/{id}/export"),
            &json!({ "reason": "DSR" }),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(!body.to_string().contains("13955550101"));
    app.cleanup().await;
}

/// The suite-wide check of service logs works: a phone written to a service's log is
/// caught (and `cleanup` would fail the test that wrote it).
#[tokio::test]
async fn the_log_scanner_catches_a_phone_in_a_service_log_line() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("log-scan").await;
    app.register(
        &owner,
        &json!({ "name": "许晴", "phone": "13955550202", "id_number": "11010519491231002X",
                 "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    assert!(
        tests::log_scan::take_leaks().is_empty(),
        "registering logs nothing personal"
    );
    tracing::warn!(target: "command_service::app", "calling back 13955550202");
    let leaks = tests::log_scan::take_leaks();
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].contains("mainland mobile") && !leaks[0].contains("13955550202"));
    app.cleanup().await;
}
