//! Patch tests (SVC-3): a service that needs one is booked only for a customer with a
//! passed test valid on the visit's date, unless staff override with a reason. Price
//! changes (SVC-5): customers with an upcoming booking of the service are told, once
//! per change, and their booking keeps its price.

use super::bookings::{customer, salon, service, shanghai_date, technicians};
use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

/// The outbox's price-change notices: (customer, dedupe key), ordered.
async fn price_notices(app: &TestApp) -> Vec<(String, String)> {
    let db = app.admin().await;
    db.query(
        "SELECT subject_id::text, dedupe_key FROM notify.outbox WHERE kind = 'price_change'
         ORDER BY 1, 2",
        &[],
    )
    .await
    .unwrap_or_default()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// POSTs under an Idempotency-Key.
async fn keyed_post(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.command_url))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    (
        r.status().as_u16(),
        r.json::<Value>().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_price_change_tells_each_customer_with_an_upcoming_booking_once() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("price-notice").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", true).await;
    let massage = service(&app, &owner, "肩颈按摩", false).await;
    let date = shanghai_date(2);
    let staff = technicians(
        &app,
        &owner,
        &loc,
        &[&facial, &massage],
        2,
        &date.to_string(),
    )
    .await;
    let twice = customer(&app, &owner, "13700001001").await;
    let cancelled = customer(&app, &owner, "13700001002").await;
    let other = customer(&app, &owner, "13700001003").await;
    let book = |who: &str, svc: &str, time: &str, tech: usize| {
        json!({ "location_id": loc, "customer_id": who, "start": format!("{date}T{time}"),
                "services": [{ "service_id": svc, "staff_id": staff[tech] }] })
    };
    // Two bookings of one customer: one notice to her.
    let (status, first) = app
        .post(&owner, "/bookings", &book(&twice, &facial, "10:00", 0))
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["services"][0]["price"], "198.00", "{first}");
    let (status, out) = app
        .post(&owner, "/bookings", &book(&twice, &facial, "14:00", 0))
        .await;
    assert_eq!(status, 201, "{out}");
    let (status, gone) = app
        .post(&owner, "/bookings", &book(&cancelled, &facial, "10:00", 1))
        .await;
    assert_eq!(status, 201, "{gone}");
    let gone_id = gone["booking_id"].as_str().unwrap_or_default().to_owned();
    let (status, out) = app
        .post(
            &owner,
            &format!("/bookings/{gone_id}/cancel"),
            &json!({ "reason": "有事" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = app
        .post(&owner, "/bookings", &book(&other, &massage, "15:00", 1))
        .await;
    assert_eq!(status, 201, "{out}");

    let change = json!({ "price": "218.00", "method": "market", "reason": "成本上涨" });
    let prices = format!("/services/{facial}/prices");
    let (status, once) = keyed_post(&app, &owner, &prices, "raise-facial", &change).await;
    assert_eq!(status, 200, "{once}");
    let (status, again) = keyed_post(&app, &owner, &prices, "raise-facial", &change).await;
    assert_eq!(
        (status, &again),
        (200, &once),
        "the retry is answered the same"
    );

    let notices = price_notices(&app).await;
    let version = once["version"].as_i64().unwrap_or_default();
    assert_eq!(
        notices,
        [(twice.clone(), format!("price:{facial}:v{version}:{twice}"))],
        "one notice, to the one customer with upcoming bookings of the service"
    );

    // Her booking keeps the price it was booked at, also when moved.
    let first_id = first["booking_id"].as_str().unwrap_or_default().to_owned();
    let (status, moved) = app
        .post(
            &owner,
            &format!("/bookings/{first_id}/reschedule"),
            &json!({ "start": format!("{date}T11:00") }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["services"][0]["price"], "198.00", "{moved}");
    // A new booking takes the new price.
    let (status, new) = app
        .post(&owner, "/bookings", &book(&other, &facial, "17:00", 1))
        .await;
    assert_eq!(status, 201, "{new}");
    assert_eq!(new["services"][0]["price"], "218.00", "{new}");

    // The notice reaches her, saying so.
    while app.command_app().deliver_due().await.unwrap_or(0) > 0 {}
    let texts: Vec<String> = app
        .messages_to("+8613700001001")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("The price"))
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("keeps the price"), "{texts:?}");
    app.cleanup().await;
}

/// A published service of 40 minutes that needs a passed patch test done at most
/// `days` before the visit.
async fn tinting(app: &TestApp, owner: &str, days: i64) -> String {
    app.settle().await;
    let (_, categories) = app.get(owner, "/categories").await;
    let (status, created) = app
        .post(
            owner,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "睫毛染色",
                     "segments": { "work": 40 }, "price": "160.00",
                     "requires_patch_test_days": days }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = app
        .post(owner, &format!("/services/{id}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200);
    id
}

#[tokio::test]
async fn a_service_needing_a_patch_test_is_booked_only_with_a_valid_passed_one() {
    let app = spawn_app().await;
    let slug = "patch-salon";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = super::staff::account(&app, &owner, slug, "dee.desk", "front_desk").await;
    let (_, tech) = super::staff::account(&app, &owner, slug, "tia.tech", "technician").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let tint = tinting(&app, &owner, 3).await;
    let today = shanghai_date(0);
    let date = shanghai_date(2);
    let staff = technicians(&app, &owner, &loc, &[&tint], 1, &today.to_string()).await;
    let her = customer(&app, &owner, "13700002001").await;
    let book = |who: &str, day: chrono::NaiveDate, time: &str| {
        json!({ "location_id": loc, "customer_id": who, "start": format!("{day}T{time}"),
                "services": [{ "service_id": tint, "staff_id": staff[0] }] })
    };
    let tests = format!("/customers/{her}/patch-tests");
    let record = |done_on: chrono::NaiveDate, result: &str| json!({ "service_id": tint, "done_on": done_on.to_string(), "result": result });

    // None on record: refused, saying no more than that one is missing.
    let (status, out) = app
        .post(&desk, "/bookings", &book(&her, date, "10:00"))
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(out.to_string().contains("patch test"), "{out}");

    // Bad input is named; unknown fields are refused; the front desk may not record.
    let (status, out) = app
        .post(
            &tech,
            &tests,
            &json!({ "service_id": "x", "done_on": "soon", "result": "ok" }),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    let mut fields: Vec<&str> = out["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(fields, ["done_on", "result", "service_id"], "{out}");
    let mut extra = record(today, "passed");
    extra["notes"] = json!("红肿");
    let (status, out) = app.post(&tech, &tests, &extra).await;
    assert_eq!(status, 400, "{out}");
    let (status, out) = app
        .post(
            &tech,
            &tests,
            &record(today + chrono::Duration::days(5), "passed"),
        )
        .await;
    assert_eq!(status, 400, "not in the future: {out}");
    let (status, _) = app.post(&desk, &tests, &record(today, "passed")).await;
    assert_eq!(status, 403, "the front desk does not record health results");

    // Expired, then failed: still refused.
    let (status, out) = app
        .post(
            &tech,
            &tests,
            &record(today - chrono::Duration::days(10), "passed"),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let (status, out) = app
        .post(&desk, "/bookings", &book(&her, date, "10:00"))
        .await;
    assert_eq!(status, 422, "expired: {out}");
    let (status, out) = app.post(&tech, &tests, &record(today, "failed")).await;
    assert_eq!(status, 201, "{out}");
    let (status, out) = app
        .post(&desk, "/bookings", &book(&her, date, "10:00"))
        .await;
    assert_eq!(status, 422, "failed: {out}");
    assert!(
        !out.to_string().contains("failed"),
        "the result is not told: {out}"
    );

    // A passed one of today: booked.
    let (status, out) = app.post(&tech, &tests, &record(today, "passed")).await;
    assert_eq!(status, 201, "{out}");
    let (status, booked) = app
        .post(&desk, "/bookings", &book(&her, date, "10:00"))
        .await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["booking_id"].as_str().unwrap_or_default().to_owned();

    // Moved beyond its validity: refused; within it: moved.
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{id}/reschedule"),
            &json!({ "start": format!("{}T10:00", shanghai_date(5)) }),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{id}/reschedule"),
            &json!({ "start": format!("{}T11:00", shanghai_date(3)) }),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    // The result is sealed in her stream; the service and date are plain.
    let (status, events) = app
        .get(&owner, &format!("/audit/streams/customer-{her}/events"))
        .await;
    assert_eq!(status, 200, "{events}");
    let recorded: Vec<&Value> = events
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|x| x["event_type"] == "PatchTestRecorded")
                .map(|x| &x["payload"])
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(recorded.len(), 3, "{events}");
    for p in recorded {
        assert_eq!(p["service_id"], tint.as_str(), "{p}");
        assert_eq!(p["result"], "[sealed]", "{p}");
    }
    let stored: Vec<String> = app
        .admin()
        .await
        .query(
            "SELECT payload::text FROM es.events WHERE event_type = 'PatchTestRecorded'",
            &[],
        )
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len(), 3);
    for p in stored {
        assert!(
            !p.contains("passed") && !p.contains("failed"),
            "sealed: {p}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_missing_patch_test_is_overridden_only_with_a_reason_recorded_in_the_booking() {
    let app = spawn_app().await;
    let slug = "patch-override";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = super::staff::account(&app, &owner, slug, "dee.desk", "front_desk").await;
    let (_, manager) = super::staff::account(&app, &owner, slug, "mae.manager", "manager").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let tint = tinting(&app, &owner, 30).await;
    let date = shanghai_date(2);
    let staff = technicians(&app, &owner, &loc, &[&tint], 1, &date.to_string()).await;
    let her = customer(&app, &owner, "13700002002").await;
    let mut body = json!({ "location_id": loc, "customer_id": her, "start": format!("{date}T10:00"),
                           "services": [{ "service_id": tint, "staff_id": staff[0] }] });
    let (status, out) = app.post(&manager, "/bookings", &body).await;
    assert_eq!(status, 422, "{out}");
    body["override_reason"] = json!("上周在本店测试过，记录补录中");
    let (status, _) = app.post(&desk, "/bookings", &body).await;
    assert_eq!(status, 403, "the front desk may not override");
    let (status, out) = app.post(&manager, "/bookings", &body).await;
    assert_eq!(status, 201, "{out}");
    let (status, events) = app
        .get(
            &owner,
            &format!("/audit/streams/schedule-{loc}-{date}/events"),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let reasons: Vec<&str> = events
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["payload"]["override_reason"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(reasons, ["上周在本店测试过，记录补录中"], "{events}");
    app.cleanup().await;
}
