//! Utilisation per technician and day (issue 5 item 9): booked service time (the
//! technician's own minutes, processing excluded, of bookings that hold their time) ÷
//! shift time from the rota, through `GET /utilisation`.

use super::bookings::{customer, salon, service, shanghai_date, technicians};
use serde_json::{json, Value};
use tests::spawn_app;

/// The row of one technician on one date.
fn row<'a>(out: &'a Value, date: &str, staff: &str) -> Option<&'a Value> {
    out["days"]
        .as_array()?
        .iter()
        .find(|d| d["date"] == date && d["staff_id"] == staff)
}

fn ratio(booked: f64, shift: f64) -> Value {
    json!(booked / shift)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booked_minutes_shift_minutes_and_their_ratio_per_technician_and_day() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("util-day").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    // 45 work + 15 buffer after: an hour of the technician's time.
    let facial = service(&app, &owner, "水光护理", false).await;
    // 30 work, 20 processing (technician free), 10 finishing: 40 of her minutes in 60.
    let (_, categories) = app.get(&owner, "/categories").await;
    let (status, colour) = app
        .post(
            &owner,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "染发",
                     "segments": { "work": 30, "processing": 20, "finishing": 10 },
                     "price": "288.00" }),
        )
        .await;
    assert_eq!(status, 201, "{colour}");
    let colour = colour["service_id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app
        .post(&owner, &format!("/services/{colour}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let (day1, day2) = (shanghai_date(3), shanghai_date(4));
    // Both on shift 09:00–21:00 (720 minutes) every day from day 1.
    let staff = technicians(
        &app,
        &owner,
        &loc,
        &[&facial, &colour],
        2,
        &day1.to_string(),
    )
    .await;
    let (wang, li) = (&staff[0], &staff[1]);
    // Li works 09:00–13:00 and 14:00–18:00 on day 2 instead: 480 minutes.
    let (status, out) = app
        .post(
            &owner,
            &format!("/staff/{li}/rota"),
            &json!({ "action": "override_day", "date": day2.to_string(), "reason": "half day",
                     "shifts": [{ "location_id": loc, "start": "09:00", "end": "13:00" },
                                { "location_id": loc, "start": "14:00", "end": "18:00" }] }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let who = customer(&app, &owner, "13700002222").await;
    let book = |start: String, services: Value| {
        let (app, owner, loc, who) = (&app, &owner, &loc, &who);
        async move {
            let (status, out) = app
                .post(
                    owner,
                    "/bookings",
                    &json!({ "location_id": loc, "customer_id": who, "start": start,
                             "services": services }),
                )
                .await;
            assert_eq!(status, 201, "{out}");
            out["booking_id"].as_str().unwrap_or_default().to_owned()
        }
    };

    // Day 1. Wang: a facial (60), a colour (40 of 60), and the colour of a two-service
    // visit (40). Li: that visit's facial (60), and a facial that is cancelled.
    book(
        format!("{day1}T10:00"),
        json!([{ "service_id": facial, "staff_id": wang }]),
    )
    .await;
    let moved = book(
        format!("{day1}T12:00"),
        json!([{ "service_id": colour, "staff_id": wang }]),
    )
    .await;
    book(
        format!("{day1}T15:00"),
        json!([{ "service_id": facial, "staff_id": li },
               { "service_id": colour, "staff_id": wang }]),
    )
    .await;
    let cancelled = book(
        format!("{day1}T10:00"),
        json!([{ "service_id": facial, "staff_id": li }]),
    )
    .await;
    let (status, out) = app
        .post(
            &owner,
            &format!("/bookings/{cancelled}/cancel"),
            &json!({ "reason": "customer asked" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    // Day 2: Li a facial (60 of her 480).
    book(
        format!("{day2}T10:00"),
        json!([{ "service_id": facial, "staff_id": li }]),
    )
    .await;

    app.settle().await;
    let day0 = day1 - chrono::Duration::days(1);
    let path = format!("/utilisation?location_id={loc}&from={day0}&to={day2}");
    let (status, out) = app.get(&owner, &path).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["days"].as_array().map(Vec::len),
        Some(4),
        "two technicians on two days, nobody before the rota starts: {out}"
    );
    let (d1, d2) = (day1.to_string(), day2.to_string());
    let expect = |date: &str, staff: &str, booked: i64, shift: i64| {
        let r = row(&out, date, staff).unwrap_or_else(|| panic!("no row {date} {staff}: {out}"));
        assert_eq!(r["booked_minutes"], booked, "{date} {staff}: {r}");
        assert_eq!(r["shift_minutes"], shift, "{date} {staff}: {r}");
        let want = ratio(booked as f64, shift as f64);
        assert_eq!(r["utilisation"], want, "{date} {staff}: {r}");
    };
    expect(&d1, wang, 140, 720);
    expect(&d1, li, 60, 720);
    expect(&d2, wang, 0, 720);
    expect(&d2, li, 60, 480);
    assert_eq!(
        row(&out, &d1, wang).map(|r| r["name"].clone()),
        Some(json!("技师0"))
    );

    // The colour moves to day 2: its 40 minutes go with it.
    let (status, out) = app
        .post(
            &owner,
            &format!("/bookings/{moved}/reschedule"),
            &json!({ "start": format!("{day2}T11:00") }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let token = out["consistency_token"].as_str().map(str::to_owned);
    let path = format!(
        "/utilisation?location_id={loc}&from={day1}&to={day2}{}",
        token
            .map(|t| format!("&consistency_token={t}"))
            .unwrap_or_default()
    );
    app.settle().await;
    let (status, out) = app.get(&owner, &path).await;
    assert_eq!(status, 200, "{out}");
    let expect = |date: &str, staff: &str, booked: i64, shift: i64| {
        let r = row(&out, date, staff).unwrap_or_else(|| panic!("no row {date} {staff}: {out}"));
        assert_eq!(
            (r["booked_minutes"].clone(), r["shift_minutes"].clone()),
            (json!(booked), json!(shift)),
            "{date} {staff}: {r}"
        );
    };
    expect(&d1, wang, 100, 720);
    expect(&d2, wang, 40, 720);
    expect(&d2, li, 60, 480);

    // A day without a shift shows booked time with no ratio: an override booking on
    // day 0, before the rota starts.
    let (status, out) = app
        .post(
            &owner,
            "/bookings",
            &json!({ "location_id": loc, "customer_id": who, "start": format!("{day0}T10:00"),
                     "override_reason": "before the rota",
                     "services": [{ "service_id": facial, "staff_id": li }] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    app.settle().await;
    let (status, out) = app
        .get(
            &owner,
            &format!("/utilisation?location_id={loc}&from={day0}&to={day0}"),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["days"].as_array().map(Vec::len), Some(1), "{out}");
    let r = &out["days"][0];
    assert_eq!(
        (
            r["staff_id"].clone(),
            r["booked_minutes"].clone(),
            r["shift_minutes"].clone(),
            r["utilisation"].clone()
        ),
        (json!(li), json!(60), json!(0), Value::Null),
        "{out}"
    );

    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn bad_utilisation_requests_name_the_field_and_unknown_locations_are_not_found() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("util-bad").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    app.settle().await;
    for (query, field) in [
        (String::new(), "location_id"),
        ("?location_id=nope".to_owned(), "location_id"),
        (format!("?location_id={loc}&from=2027-02-30"), "from"),
        (
            format!("?location_id={loc}&from=2027-03-01&to=tomorrow"),
            "to",
        ),
        (
            format!("?location_id={loc}&from=2027-03-02&to=2027-03-01"),
            "to",
        ),
        (
            format!("?location_id={loc}&from=2027-03-01&to=2027-04-01"),
            "to",
        ),
        (format!("?location_id={loc}&nonsense=1"), ""),
    ] {
        let (status, out) = app.get(&owner, &format!("/utilisation{query}")).await;
        assert_eq!(status, 400, "{query}: {out}");
        if !field.is_empty() {
            assert_eq!(out["fields"][0]["field"], field, "{query}: {out}");
        }
    }
    // 31 days is the most.
    let (status, out) = app
        .get(
            &owner,
            &format!("/utilisation?location_id={loc}&from=2027-03-01&to=2027-03-31"),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["days"], json!([]), "{out}");
    let (status, _) = app
        .get(
            &owner,
            &format!("/utilisation?location_id={}", uuid::Uuid::new_v4()),
        )
        .await;
    assert_eq!(status, 404);
    app.cleanup().await;
}
