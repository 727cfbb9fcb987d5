//! Customers sign up and sign in with a one-time code sent to their phone through the
//! notification mechanism (issue 3 item 2, DESIGN §9): the `log` channel's file stands
//! in for the phone; a local HTTP server stands in for an SMS gateway.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::{spawn_app, spawn_app_with, Options, TestApp};

const PHONE: &str = "13912345678";
const E164: &str = "+8613912345678";

async fn post_public(app: &TestApp, path: &str, body: &Value) -> (u16, Value, HeaderMap) {
    let r = app
        .http
        .post(format!("{}{path}", app.command_url))
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap_or(0);
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn a_customer_signs_up_and_in_with_a_code_sent_to_her_phone() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("otp-salon").await;
    let code = app.sign_in_code("otp-salon", PHONE).await;

    // Malformed input is refused before anything else.
    let (status, body, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": "12", "code": "12345" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": PHONE, "code": code, "role": "owner" }),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");

    // A phone new to the salon: the code is right, but signing up needs her name and
    // consent — and the code stays valid for the retry.
    let (status, body, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": PHONE, "code": code }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["name", "consent"], "{body}");

    let (status, body, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": PHONE, "code": other_code(&code),
                 "name": "苏小雨", "consent": { "privacy_policy_version": "2026-01" } }),
    )
    .await;
    assert_eq!(status, 401, "a wrong code: {body}");

    let (status, session, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": PHONE, "code": code,
                 "name": "苏小雨", "consent": { "privacy_policy_version": "2026-01" } }),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["role"], "customer");
    let customer_id = session["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let account_id = session["account_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !customer_id.is_empty() && !account_id.is_empty(),
        "{session}"
    );
    let token = session["access_token"].as_str().unwrap_or_default();

    // A used code is spent.
    let (status, _, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": PHONE, "code": code }),
    )
    .await;
    assert_eq!(status, 401);

    // Her own record; staff see her registered online, by her own account.
    app.settle().await;
    let (status, me) = app.get(token, "/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["customer_id"], customer_id.as_str());
    assert_eq!(me["name"], "苏小雨");
    assert!(!me.to_string().contains(PHONE), "masked: {me}");
    let (status, _) = app.get(token, &format!("/customers/{customer_id}")).await;
    assert_eq!(status, 403, "a customer may not read the salon's records");
    let (status, history) = app
        .get(&owner, &format!("/customers/{customer_id}/history"))
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history[0]["actor"]["role"], "customer", "{history}");
    assert_eq!(
        history[0]["actor"]["account_id"],
        account_id.as_str(),
        "{history}"
    );
    let (_, found) = app.get(&owner, &format!("/customers?phone={PHONE}")).await;
    assert_eq!(found["items"][0]["source_channel"], "online", "{found}");

    // Next time: the same customer, the same account, no details needed.
    let code = app.sign_in_code("otp-salon", PHONE).await;
    let (status, again, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-salon", "phone": PHONE, "code": code }),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["customer_id"], customer_id.as_str());
    assert_eq!(again["account_id"], account_id.as_str());

    // Her refresh token rotates like staff's, keeping her role and record.
    let (status, refreshed, _) = post_public(
        &app,
        "/auth/refresh",
        &json!({ "refresh_token": again["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 200, "{refresh_token}", refresh_token = refreshed);
    assert_eq!(refreshed["role"], "customer");
    assert_eq!(refreshed["customer_id"], customer_id.as_str());
    let (status, _) = app
        .get(
            refreshed["access_token"].as_str().unwrap_or_default(),
            "/me",
        )
        .await;
    assert_eq!(status, 200);

    // Each message was recorded once as sent; neither the phone nor a code is in the
    // log, and the messages' keys are gone.
    app.settle().await;
    let admin = app.admin().await;
    let sent: Vec<Value> = admin
        .query(
            "SELECT payload::text FROM es.events WHERE event_type = 'NotificationSent' ORDER BY global_position",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap_or(Value::Null))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent
        .iter()
        .all(|e| e["kind"] == "sign_in_code" && e["channel"] == "log"));
    assert_eq!(
        sent[1]["subject_id"],
        customer_id.as_str(),
        "the second knew her"
    );
    let leaks: i64 = admin
        .query_one(
            "SELECT count(*) FROM es.events
             WHERE payload::text LIKE '%' || $1 || '%' OR metadata::text LIKE '%' || $1 || '%'
                OR payload::text LIKE '%' || $2 || '%'",
            &[&&PHONE[3..], &code],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(leaks, 0);
    let (pending, keys_left): (i64, i64) = admin
        .query_one(
            "SELECT (SELECT count(*) FROM notify.outbox WHERE sent_at IS NULL),
                    (SELECT count(*) FROM keys.subject_keys k JOIN notify.outbox o
                       ON o.notification_id = k.subject_id)",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((pending, keys_left), (0, 0));
    let stored: i64 = admin
        .query_one(
            "SELECT count(*) FROM notify.outbox WHERE recipient LIKE '%' || $1 || '%' OR body LIKE '%' || $2 || '%'",
            &[&&PHONE[3..], &code],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, 0, "the outbox holds recipient and text sealed");

    // Erased, she is signed out for good: her sessions end with her keys.
    let (status, body) = app
        .post(
            &owner,
            &format!("/customers/{customer_id}/erase"),
            &json!({ "reference": "DSR-OTP-1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = post_public(
        &app,
        "/auth/refresh",
        &json!({ "refresh_token": refreshed["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 401);
    app.cleanup().await;
}

#[tokio::test]
async fn a_code_dies_after_five_wrong_guesses_and_codes_are_rate_limited() {
    let app = spawn_app().await;
    app.tenant("otp-limits").await;
    let code = app.sign_in_code("otp-limits", PHONE).await;
    let wrong = other_code(&code);
    for _ in 0..5 {
        let (status, _, _) = post_public(
            &app,
            "/auth/customer/sign-in",
            &json!({ "tenant": "otp-limits", "phone": PHONE, "code": wrong,
                     "name": "林静", "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, body, _) = post_public(
        &app,
        "/auth/customer/sign-in",
        &json!({ "tenant": "otp-limits", "phone": PHONE, "code": code,
                 "name": "林静", "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    assert_eq!(status, 401, "the right code after five wrong ones: {body}");

    // An unknown salon gets the same answer, and nothing is sent.
    let (status, _, _) = post_public(
        &app,
        "/auth/customer/code",
        &json!({ "tenant": "no-such-salon", "phone": "13700000001" }),
    )
    .await;
    assert_eq!(status, 202);

    // Five codes per phone and hour (one was sent above); the next waits.
    for _ in 0..4 {
        app.sign_in_code("otp-limits", PHONE).await;
    }
    let (status, body, headers) = post_public(
        &app,
        "/auth/customer/code",
        &json!({ "tenant": "otp-limits", "phone": PHONE }),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(retry > 0 && retry <= 3600, "Retry-After {retry}");
    assert!(!body.to_string().contains(PHONE));

    let queued: i64 = app
        .admin()
        .await
        .query_one("SELECT count(*) FROM notify.outbox", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        queued, 5,
        "nothing for the unknown salon, nothing past the limit"
    );
    app.cleanup().await;
}

/// What the fake gateway saw: (Idempotency-Key, body) per call.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

async fn gateway(State(calls): State<Calls>, headers: HeaderMap, body: String) -> StatusCode {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut calls = calls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    calls.push((key, body.clone()));
    let tries = calls.iter().filter(|(_, b)| b["to"] == body["to"]).count();
    match body["to"].as_str() {
        // Fails once, then takes it.
        Some("+8613912345678") if tries == 1 => StatusCode::INTERNAL_SERVER_ERROR,
        Some("+8613912345678") => StatusCode::OK,
        // Refuses it for good.
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

#[tokio::test]
async fn the_webhook_channel_retries_the_same_message_and_records_one_outcome() {
    let calls: Calls = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}/sms",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let router = axum::Router::new()
        .route("/sms", post(gateway))
        .with_state(calls.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn_app_with(Options {
        notify_webhook: Some(url),
        ..Default::default()
    })
    .await;
    app.tenant("otp-hook").await;
    for phone in [PHONE, "13700000002"] {
        let (status, _, _) = post_public(
            &app,
            "/auth/customer/code",
            &json!({ "tenant": "otp-hook", "phone": phone }),
        )
        .await;
        assert_eq!(status, 202);
    }

    // The first phone's message fails once and is sent again after its backoff (2 s);
    // the second is refused at once and given up.
    let admin = app.admin().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let outcomes = loop {
        let rows = admin
            .query(
                "SELECT event_type, payload::text FROM es.events
                 WHERE stream_type = 'notification' ORDER BY event_type",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if rows.len() == 2 {
            break rows
                .iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        serde_json::from_str::<Value>(r.get::<_, &str>(1)).unwrap_or(Value::Null),
                    )
                })
                .collect::<Vec<_>>();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outcomes: {}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(outcomes[0].0, "NotificationFailed");
    assert_eq!(outcomes[0].1["attempts"], 1);
    assert_eq!(outcomes[0].1["error"], "gateway answered 422");
    assert_eq!(outcomes[1].0, "NotificationSent");
    assert_eq!(outcomes[1].1["attempts"], 2);
    assert_eq!(outcomes[1].1["channel"], "webhook");

    let calls = calls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let to_first: Vec<&(String, Value)> = calls.iter().filter(|(_, b)| b["to"] == E164).collect();
    assert_eq!(to_first.len(), 2, "one failure, one retry: {calls:?}");
    assert_eq!(
        to_first[0], to_first[1],
        "a retry is the same message under the same key"
    );
    assert_eq!(
        to_first[0].0,
        outcomes[1].1["notification_id"]
            .as_str()
            .unwrap_or_default(),
        "the Idempotency-Key is the notification id"
    );
    assert_eq!(
        calls.len(),
        3,
        "the refused message was not tried again: {calls:?}"
    );
    server.abort();
    app.cleanup().await;
}
