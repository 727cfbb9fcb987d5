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
