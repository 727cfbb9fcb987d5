//! Bookings that never collide (issue 5, APT-11, DESIGN §7): both guards under heavy
//! concurrency, alternatives when a time is taken, daylight-saving times refused or
//! chosen, overrides only with the permission and a reason.

use super::staff::{account, hire, record};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tests::{spawn_app, TestApp};

/// A location open 09:00–21:00 every day with two facial rooms; returns its id and the
/// rooms' ids.
pub(crate) async fn salon(app: &TestApp, owner: &str, zone: &str) -> String {
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let (status, out) = app
        .post(
            owner,
            "/locations",
            &json!({ "name": "旗舰店", "time_zone": zone,
                     "weekly_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                     "rooms": [{ "name": "一号房", "kind": "facial_room", "capacity": 1 },
                               { "name": "二号房", "kind": "facial_room", "capacity": 1 }] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    out["location_id"].as_str().unwrap_or_default().to_owned()
}

/// A published service; `room`: it needs a facial room.
pub(crate) async fn service(app: &TestApp, owner: &str, name: &str, room: bool) -> String {
    app.settle().await;
    let (_, categories) = app.get(owner, "/categories").await;
    let mut body = json!({ "category_id": categories[0]["category_id"], "name": name,
                           "segments": { "work": 45, "buffer_after": 15 }, "price": "198.00" });
    if room {
        body["required_room_kind"] = json!("facial_room");
    }
    let (status, out) = app.post(owner, "/services", &body).await;
    assert_eq!(status, 201, "{out}");
    let id = out["service_id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app
        .post(owner, &format!("/services/{id}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200);
    id
}

/// `n` technicians at the location, skilled in `services`, on shift 09:00–21:00 every
/// day from `from`.
pub(crate) async fn technicians(
    app: &TestApp,
    owner: &str,
    location: &str,
    services: &[&str],
    n: usize,
    from: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut r = record(&[location], None);
        r["name"] = json!(format!("技师{i}"));
        r["skills"] = json!(services);
        let staff = hire(app, owner, &r).await;
        let day = json!([{ "start": "09:00", "end": "21:00" }]);
        let (status, body) = app
            .post(
                owner,
                &format!("/staff/{staff}/rota"),
                &json!({ "action": "set_pattern", "location_id": location, "valid_from": from,
                         "days": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day } }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        out.push(staff);
    }
    out
}

pub(crate) async fn customer(app: &TestApp, owner: &str, phone: &str) -> String {
    app.register(
        owner,
        &json!({ "name": "周敏", "phone": phone, "consent": { "privacy_policy_version": "v1" } }),
    )
    .await["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn shanghai_date(days_ahead: i64) -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::days(days_ahead))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_bookings_never_share_a_technician_room_or_place() {
    let app = spawn_app().await;
    let (tenant, owner) = app.tenant("book-race").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", true).await;
    let massage = service(&app, &owner, "肩颈按摩", false).await;
    let date = shanghai_date(3);
    let staff = technicians(
        &app,
        &owner,
        &loc,
        &[&facial, &massage],
        5,
        &date.to_string(),
    )
    .await;
    let who = customer(&app, &owner, "13700001111").await;
    let app = Arc::new(app);

    // Starts every 30 minutes from 10:00 to 14:00: an hour-long service overlaps the
    // next start and meets the one after edge to edge. Half the requests come over
    // HTTP, half through a second instance of the command side (its own queue per
    // day), so the two race each other's appends as two servers would.
    let mut second = app.command_app().clone();
    second.stream_turns = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let slot = i % 9;
        let start = format!("{date}T{:02}:{:02}", 10 + slot / 2, (slot % 2) * 30);
        let (service, tech) = (
            if i % 3 == 0 { &massage } else { &facial },
            &staff[(i * 7) % staff.len()],
        );
        let body = json!({
            "location_id": loc, "customer_id": who, "start": start,
            "services": [{ "service_id": service, "staff_id": tech }],
        });
        let (app, owner) = (app.clone(), owner.clone());
        if i % 2 == 0 {
            tasks.push(tokio::spawn(async move {
                app.post(&owner, "/bookings", &body).await
            }));
            continue;
        }
        let request = command_service::app::bookings::BookingRequest {
            location_id: loc.parse().unwrap_or_default(),
            customer_id: who.parse().unwrap_or_default(),
            start: chrono::NaiveDateTime::parse_from_str(&start, "%Y-%m-%dT%H:%M")
                .unwrap_or_default(),
            fold: None,
            services: vec![command_service::app::bookings::ServiceRequest {
                service_id: service.parse().unwrap_or_default(),
                staff_id: tech.parse().ok(),
                room_id: None,
            }],
            override_reason: None,
        };
        let (second, ctx) = (second.clone(), app.context(&tenant));
        tasks.push(tokio::spawn(async move {
            match second.place_booking(&ctx, request).await {
                Ok(o) => (o.status, o.body),
                Err(command_service::app::AppError::Unavailable409 { alternatives, .. }) => (
                    409,
                    json!({ "error": "unavailable", "alternatives": alternatives }),
                ),
                Err(e) => (500, json!({ "error": format!("{e:?}") })),
            }
        }));
    }
    let mut placed = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap_or_else(|e| panic!("{e}"));
        match status {
            201 => placed += 1,
            409 => {
                assert_eq!(body["error"], "unavailable", "{body}");
                assert!(body["alternatives"].is_object(), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(placed > 0 && placed < 200, "{placed} placed");

    // The database's view: no resource held twice at once.
    let admin = app.admin().await;
    let clashes: i64 = admin
        .query_one(
            "SELECT count(*) FROM booking.reservations a JOIN booking.reservations b
               ON a.tenant_id = b.tenant_id AND a.resource = b.resource
              AND a.booking_id < b.booking_id AND a.during && b.during",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clashes, 0);
    // …and that guard holds by itself: an overlapping hold is refused by the database.
    let refused = admin
        .execute(
            "INSERT INTO booking.reservations (tenant_id, booking_id, resource, during, stream_id)
             SELECT tenant_id, gen_random_uuid(), resource, during, stream_id FROM booking.reservations
             WHERE resource LIKE 'staff:%' LIMIT 1",
            &[],
        )
        .await;
    assert_eq!(
        refused.err().and_then(|e| e.code().cloned()),
        Some(tokio_postgres::error::SqlState::EXCLUSION_VIOLATION)
    );
    // The log's view, independently: per technician and per room, no overlap.
    let rows = admin
        .query(
            "SELECT payload::text FROM es.events WHERE event_type = 'BookingPlaced'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), placed);
    let mut by_resource: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in &rows {
        let p: Value = serde_json::from_str(r.get::<_, &str>(0)).unwrap_or(Value::Null);
        for s in p["services"].as_array().cloned().unwrap_or_default() {
            for b in s["staff_busy"].as_array().cloned().unwrap_or_default() {
                by_resource
                    .entry(format!("staff {}", s["staff_id"]))
                    .or_default()
                    .push((b["start"].to_string(), b["end"].to_string()));
            }
            if !s["room"].is_null() {
                by_resource
                    .entry(format!("room {}", s["room"][0]))
                    .or_default()
                    .push((s["span"]["start"].to_string(), s["span"]["end"].to_string()));
            }
        }
    }
    for (resource, spans) in &by_resource {
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                assert!(!(a.0 < b.1 && b.0 < a.1), "{resource}: {a:?} and {b:?}");
            }
        }
    }
    match Arc::try_unwrap(app) {
        Ok(app) => app.cleanup().await,
        Err(_) => panic!("app still shared"),
    }
}

#[tokio::test]
async fn a_taken_time_answers_with_alternatives_and_a_cancellation_frees_it() {
    let app = spawn_app().await;
    let slug = "book-alt";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = account(&app, &owner, slug, "fay.desk", "front_desk").await;
    let (_, manager) = account(&app, &owner, slug, "max.manager", "manager").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", true).await;
    let date = shanghai_date(2);
    let staff = technicians(&app, &owner, &loc, &[&facial], 2, &date.to_string()).await;
    let who = customer(&app, &owner, "13700002222").await;
    let at = |time: &str, tech: &str| {
        json!({ "location_id": loc, "customer_id": who, "start": format!("{date}T{time}"),
                "services": [{ "service_id": facial, "staff_id": tech }] })
    };

    let (status, first) = app.post(&desk, "/bookings", &at("10:00", &staff[0])).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["number"], 1);
    assert_eq!(first["services"][0]["price"], "198.00");
    // Same technician, overlapping: refused with alternatives.
    let (status, refused) = app.post(&desk, "/bookings", &at("10:30", &staff[0])).await;
    assert_eq!(status, 409, "{refused}");
    let alt = &refused["alternatives"];
    let same_day: Vec<&str> = alt["same_day"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["start"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        same_day.first().copied(),
        Some(format!("{date}T11:00").as_str()),
        "nearest free start first: {alt}"
    );
    assert_eq!(
        alt["other_staff"][0]["staff"][0],
        staff[1].as_str(),
        "{alt}"
    );
    let tomorrow = date + chrono::Duration::days(1);
    assert_eq!(
        alt["next_days"][0]["start"],
        format!("{tomorrow}T10:30"),
        "{alt}"
    );
    // Edge to edge is fine (an hour: 45 minutes and a 15-minute buffer).
    let (status, _) = app.post(&desk, "/bookings", &at("11:00", &staff[0])).await;
    assert_eq!(status, 201);

    // Outside opening hours: only an override with the permission and a reason.
    let (status, out) = app.post(&desk, "/bookings", &at("21:30", &staff[1])).await;
    assert_eq!(status, 409, "{out}");
    let mut late = at("21:30", &staff[1]);
    late["override_reason"] = json!("VIP after hours");
    let (status, _) = app.post(&desk, "/bookings", &late).await;
    assert_eq!(status, 403, "the front desk may not override");
    let (status, out) = app.post(&manager, "/bookings", &late).await;
    assert_eq!(status, 201, "{out}");
    let reasons: Vec<String> = app
        .admin()
        .await
        .query(
            "SELECT payload::jsonb->>'override_reason' FROM es.events
             WHERE event_type = 'BookingPlaced' AND payload::jsonb ? 'override_reason'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(reasons, ["VIP after hours"]);

    // Cancelled: the time is free again.
    let id = first["booking_id"].as_str().unwrap_or_default();
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{id}/cancel"),
            &json!({ "reason": "客户改期" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{id}/cancel"),
            &json!({ "reason": "again" }),
        )
        .await;
    assert_eq!((status, &out["cancelled"]), (200, &json!(true)), "{out}");
    let cancellations: i64 = app
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM es.events WHERE event_type = 'BookingCancelled'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cancellations, 1, "cancelling twice records once");
    let (status, again) = app.post(&desk, "/bookings", &at("10:00", &staff[0])).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["number"], 4, "numbers are never reused");

    // The day by technician and room; the customer's visits (with her name from the
    // customers read model, so every read model has caught up first).
    app.settle().await;
    let token = again["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, tech) = account(&app, &owner, slug, "tom.tech", "technician").await;
    let (status, day) = app
        .get(
            &tech,
            &format!("/locations/{loc}/calendar?date={date}&consistency_token={token}"),
        )
        .await;
    assert_eq!(status, 200, "{day}");
    let first_tech = day["technicians"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["staff_id"] == staff[0].as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    let starts: Vec<&str> = first_tech["bookings"]
        .as_array()
        .map(|b| b.iter().filter_map(|x| x["starts_at"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(starts.len(), 2, "10:00 again and 11:00: {day}");
    assert_eq!(first_tech["bookings"][0]["customer_name"], "周敏", "{day}");
    assert_eq!(first_tech["bookings"][0]["service_name"], "水光护理");
    assert_eq!(first_tech["shifts"][0]["start"], "09:00", "{first_tech}");
    let room_bookings: usize = day["rooms"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["bookings"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(room_bookings, 3, "every facial holds a room: {day}");
    let (status, visits) = app.get(&desk, &format!("/customers/{who}/bookings")).await;
    assert_eq!(status, 200, "{visits}");
    let mut statuses: Vec<&str> = visits["upcoming"]
        .as_array()
        .map(|b| b.iter().filter_map(|x| x["status"].as_str()).collect())
        .unwrap_or_default();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["booked", "booked", "booked", "cancelled"],
        "{visits}"
    );
    assert_eq!(visits["past"], json!([]));
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn local_times_that_do_not_exist_or_happen_twice_are_refused_or_chosen() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("book-dst").await;
    let loc = salon(&app, &owner, "Europe/London").await;
    let facial = service(&app, &owner, "Facial", false).await;
    let staff = technicians(&app, &owner, &loc, &[&facial], 1, "2027-01-01").await;
    let who = customer(&app, &owner, "13700003333").await;
    let at = |start: &str| {
        json!({ "location_id": loc, "customer_id": who, "start": start,
                "override_reason": "night opening",
                "services": [{ "service_id": facial, "staff_id": staff[0] }] })
    };
    let (status, out) = app.post(&owner, "/bookings", &at("2027-03-28T01:30")).await;
    assert_eq!(status, 422, "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "{out}"
    );
    let (status, out) = app.post(&owner, "/bookings", &at("2027-10-31T01:30")).await;
    assert_eq!(status, 422, "{out}");
    assert!(
        out["message"].as_str().unwrap_or_default().contains("fold"),
        "{out}"
    );
    let mut later = at("2027-10-31T01:30");
    later["fold"] = json!("later");
    let (status, out) = app.post(&owner, "/bookings", &later).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(
        out["services"][0]["starts_at"], "2027-10-31T01:30:00Z",
        "GMT: the second 01:30"
    );
    let mut earlier = at("2027-10-31T01:30");
    earlier["fold"] = json!("earlier");
    let (status, out) = app.post(&owner, "/bookings", &earlier).await;
    assert_eq!(
        status, 201,
        "the first 01:30 (BST) ends as the second begins: {out}"
    );
    assert_eq!(out["services"][0]["starts_at"], "2027-10-31T00:30:00Z");

    // Every bad field is named and nothing is written.
    let (status, out) = app
        .post(
            &owner,
            "/bookings",
            &json!({ "location_id": "x", "start": "tomorrow", "fold": "sideways",
                     "services": [{ "service_id": facial, "staff_id": "y" }] }),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    let fields: Vec<&str> = out["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        [
            "location_id",
            "customer_id",
            "start",
            "fold",
            "services[0].staff_id"
        ]
    );
    let placed: i64 = app
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM es.events WHERE event_type = 'BookingPlaced'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(placed, 2);
    app.cleanup().await;
}

#[tokio::test]
async fn visits_are_confirmed_at_once_and_reminded_once_per_lead_but_never_when_cancelled() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("book-remind").await;
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "静安店", "time_zone": "Asia/Shanghai",
                     "weekly_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                     "reminder_leads_minutes": [4320, 2880] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let loc = out["location_id"].as_str().unwrap_or_default().to_owned();
    let facial = service(&app, &owner, "补水护理", false).await;
    let today = shanghai_date(0);
    let staff = technicians(&app, &owner, &loc, &[&facial], 1, &today.to_string()).await;
    let who = customer(&app, &owner, "13700004444").await;
    let book = |date: chrono::NaiveDate, time: &str| {
        json!({ "location_id": loc, "customer_id": who, "start": format!("{date}T{time}"),
                "services": [{ "service_id": facial, "staff_id": staff[0] }] })
    };
    let tomorrow = shanghai_date(1);
    let (status, kept) = app
        .post(&owner, "/bookings", &book(tomorrow, "10:00"))
        .await;
    assert_eq!(status, 201, "{kept}");
    let (status, dropped) = app
        .post(&owner, "/bookings", &book(tomorrow, "12:00"))
        .await;
    assert_eq!(status, 201, "{dropped}");
    // Far enough ahead that neither lead time is due yet.
    let (status, later) = app
        .post(&owner, "/bookings", &book(shanghai_date(6), "10:00"))
        .await;
    assert_eq!(status, 201, "{later}");
    let dropped_id = dropped["booking_id"].as_str().unwrap_or_default();
    let (status, _) = app
        .post(
            &owner,
            &format!("/bookings/{dropped_id}/cancel"),
            &json!({ "reason": "生病" }),
        )
        .await;
    assert_eq!(status, 200);

    let command = app.command_app().clone();
    assert_eq!(
        command.plan_booking_reminders().await.ok(),
        Some(2),
        "two leads of one visit"
    );
    assert_eq!(
        command.plan_booking_reminders().await.ok(),
        Some(0),
        "planned once"
    );
    while command.deliver_due().await.unwrap_or(0) > 0 {}
    assert_eq!(
        command.plan_booking_reminders().await.ok(),
        Some(0),
        "sent ones stay sent"
    );
    while command.deliver_due().await.unwrap_or(0) > 0 {}

    let messages = app.messages_to("+8613700004444");
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    let confirmations = texts
        .iter()
        .filter(|t| t.starts_with("Booking confirmed"))
        .count();
    let reminders: Vec<&&str> = texts.iter().filter(|t| t.starts_with("Reminder")).collect();
    assert_eq!(confirmations, 3, "{texts:?}");
    assert_eq!(reminders.len(), 2, "{texts:?}");
    assert!(
        reminders
            .iter()
            .all(|t| t.contains("10:00") && t.contains("静安店")),
        "the kept visit's, never the cancelled one's: {texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("周敏")),
        "no name in any text"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_contraindicated_booking_needs_an_override_with_a_reason() {
    let app = spawn_app().await;
    let slug = "book-contra";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = account(&app, &owner, slug, "dee.desk", "front_desk").await;
    let (_, manager) = account(&app, &owner, slug, "mae.manager", "manager").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let (status, created) = app
        .post(
            &owner,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "果酸焕肤",
                     "segments": { "work": 40 }, "price": "380.00",
                     "contraindicated_groups": ["孕期", "皮肤破损"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let peel = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = app
        .post(&owner, &format!("/services/{peel}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let date = shanghai_date(2);
    let staff = technicians(&app, &owner, &loc, &[&peel], 1, &date.to_string()).await;
    let expecting = app
        .register(
            &owner,
            &json!({ "name": "孙丽", "phone": "13700005555", "conditions": "孕期 20 周",
                     "consent": { "privacy_policy_version": "v1" } }),
        )
        .await["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let healthy = customer(&app, &owner, "13700006666").await;
    let book = |who: &str, time: &str| {
        json!({ "location_id": loc, "customer_id": who, "start": format!("{date}T{time}"),
                "services": [{ "service_id": peel, "staff_id": staff[0] }] })
    };

    let (status, out) = app
        .post(&desk, "/bookings", &book(&expecting, "10:00"))
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(
        !out.to_string().contains("孕期"),
        "her condition is not told: {out}"
    );
    let (status, out) = app.post(&desk, "/bookings", &book(&healthy, "10:00")).await;
    assert_eq!(status, 201, "no contraindication: {out}");
    let mut overridden = book(&expecting, "11:00");
    overridden["override_reason"] = json!("医生书面同意");
    let (status, _) = app.post(&desk, "/bookings", &overridden).await;
    assert_eq!(status, 403, "the front desk may not override");
    let (status, out) = app.post(&manager, "/bookings", &overridden).await;
    assert_eq!(status, 201, "{out}");

    // The override and its reason are in the day's history.
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
    assert_eq!(reasons, ["医生书面同意"], "{events}");
    app.cleanup().await;
}

/// Availability's windows of one date, as (first, last) local start minutes.
pub(super) fn windows(avail: &Value) -> Vec<(u32, u32)> {
    let minute = |s: &str| -> u32 {
        let (h, m) = s.split_once(':').unwrap_or(("0", "0"));
        h.parse::<u32>().unwrap_or(0) * 60 + m.parse::<u32>().unwrap_or(0)
    };
    avail["dates"][0]["windows"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|x| {
                    (
                        minute(x["first_start"].as_str().unwrap_or_default()),
                        minute(x["last_start"].as_str().unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_start_availability_offers_can_be_booked_and_none_is_missing() {
    use rand::{Rng, SeedableRng};
    let app = spawn_app().await;
    let (_, owner) = app.tenant("book-avail").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", true).await;
    let massage = service(&app, &owner, "肩颈按摩", false).await;
    let who = customer(&app, &owner, "13700007777").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_129);
    for round in 0..3i64 {
        let date = shanghai_date(2 + round);
        let staff = technicians(
            &app,
            &owner,
            &loc,
            &[&facial, &massage],
            2,
            &date.to_string(),
        )
        .await;
        let book = |minute: u32, service: &str, tech: &str| {
            json!({ "location_id": loc, "customer_id": who,
                    "start": format!("{date}T{:02}:{:02}", minute / 60, minute % 60),
                    "services": [{ "service_id": service, "staff_id": tech }] })
        };
        // A random day: bookings at random five-minute starts (refusals are fine).
        for _ in 0..8 {
            let minute = rng.gen_range(9 * 12..20 * 12) * 5;
            let service = if rng.gen_bool(0.5) { &facial } else { &massage };
            let tech = &staff[rng.gen_range(0..staff.len())];
            let (status, out) = app
                .post(&owner, "/bookings", &book(minute, service, tech))
                .await;
            assert!(status == 201 || status == 409, "{status} {out}");
        }
        let r = app
            .http
            .get(format!(
                "{}/locations/{loc}/availability?service_id={facial}&staff_id={}&date={date}",
                app.command_url, staff[0]
            ))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
        let offered: Value = r.json().await.unwrap_or(Value::Null);
        let wins = windows(&offered);
        let is_offered = |m: u32| wins.iter().any(|(a, b)| *a <= m && m <= *b);
        let slots = offered["dates"][0]["slots"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let gaps: Vec<i64> = slots
            .iter()
            .filter_map(|s| s["idle_gap_minutes"].as_i64())
            .collect();
        assert!(
            gaps.windows(2).all(|w| w[0] <= w[1]),
            "best first: {gaps:?}"
        );
        // Brute force over the minute grid, sampled: a start is offered exactly when it
        // can be booked (then cancelled again, so nothing else changes).
        for _ in 0..25 {
            let minute = rng.gen_range(9 * 60..21 * 60);
            let (status, out) = app
                .post(&owner, "/bookings", &book(minute, &facial, &staff[0]))
                .await;
            assert_eq!(
                status == 201,
                is_offered(minute),
                "{date} {:02}:{:02}: {status} {out} against {wins:?}",
                minute / 60,
                minute % 60
            );
            if status == 201 {
                let id = out["booking_id"].as_str().unwrap_or_default();
                let (status, _) = app
                    .post(
                        &owner,
                        &format!("/bookings/{id}/cancel"),
                        &json!({ "reason": "probe" }),
                    )
                    .await;
                assert_eq!(status, 200);
            }
        }
    }
    app.cleanup().await;
}

/// Availability keeps answers (DESIGN §11 asks ≤ 20 ms); each of the things an answer
/// depends on must still show at once: a booking at this location, the technician's
/// booking at another location, a changed shift, a cancellation.
#[tokio::test]
async fn kept_availability_follows_every_change_it_depends_on() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("book-kept").await;
    let here = salon(&app, &owner, "Asia/Shanghai").await;
    let there = super::staff::location(&app, &owner, "分店", "Asia/Shanghai").await;
    let massage = service(&app, &owner, "肩颈按摩", false).await;
    let who = customer(&app, &owner, "13700008888").await;
    let date = shanghai_date(4);
    let mut r = record(&[&here, &there], None);
    r["skills"] = json!([massage]);
    let tech = hire(&app, &owner, &r).await;
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let (status, out) = app
        .post(
            &owner,
            &format!("/staff/{tech}/rota"),
            &json!({ "action": "set_pattern", "location_id": here, "valid_from": date.to_string(),
                     "days": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day } }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let offered = || async {
        let r = app
            .http
            .get(format!(
                "{}/locations/{here}/availability?service_id={massage}&staff_id={tech}&date={date}",
                app.command_url
            ))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status(), 200);
        windows(&r.json().await.unwrap_or(Value::Null))
    };
    let at = |wins: &[(u32, u32)], h: u32| wins.iter().any(|(a, b)| *a <= h * 60 && h * 60 <= *b);
    let book = |location: &str, hour: u32, reason: Option<&str>| {
        let mut b = json!({ "location_id": location, "customer_id": who,
                            "start": format!("{date}T{hour:02}:00"),
                            "services": [{ "service_id": massage, "staff_id": tech }] });
        if let Some(reason) = reason {
            b["override_reason"] = json!(reason);
        }
        b
    };
    // A one-hour visit may start 09:00..=20:00; asked twice, the second answer is kept.
    assert_eq!(offered().await, [(9 * 60, 20 * 60)]);
    assert_eq!(offered().await, [(9 * 60, 20 * 60)]);

    let (status, out) = app.post(&owner, "/bookings", &book(&here, 10, None)).await;
    assert_eq!(status, 201, "{out}");
    let ten = out["booking_id"].as_str().unwrap_or_default().to_owned();
    let wins = offered().await;
    assert!(!at(&wins, 10) && at(&wins, 12), "{wins:?}");

    // Booked at the other location (outside any shift there, so with a reason).
    let (status, out) = app
        .post(&owner, "/bookings", &book(&there, 15, Some("老客户指定")))
        .await;
    assert_eq!(status, 201, "{out}");
    let wins = offered().await;
    assert!(!at(&wins, 15) && at(&wins, 17), "{wins:?}");
    // …and the booking rule sees that hold elsewhere too.
    let (status, out) = app.post(&owner, "/bookings", &book(&here, 15, None)).await;
    assert_eq!(status, 409, "{out}");

    // The shift that day ends at 13:00.
    let (status, out) = app
        .post(
            &owner,
            &format!("/staff/{tech}/rota"),
            &json!({ "action": "override_day", "date": date.to_string(), "reason": "培训",
                     "shifts": [{ "location_id": here, "start": "09:00", "end": "13:00" }] }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let wins = offered().await;
    assert!(
        !at(&wins, 17) && at(&wins, 12) && !at(&wins, 10),
        "{wins:?}"
    );

    let (status, _) = app
        .post(
            &owner,
            &format!("/bookings/{ten}/cancel"),
            &json!({ "reason": "改期" }),
        )
        .await;
    assert_eq!(status, 200);
    let wins = offered().await;
    assert_eq!(wins, [(9 * 60, 12 * 60)]);
    app.cleanup().await;
}

/// Lead times are elapsed time before the visit's instant (APT-4, APT-15): around the
/// clocks going forward and back, each reminder is due exactly `lead` before the
/// instant the visit starts, whatever the wall clock did in between.
#[tokio::test]
async fn reminders_are_due_at_the_right_instants_around_daylight_saving_changes() {
    use chrono::{DateTime, Duration, Utc};
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("book-dst-remind").await;
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "Soho", "time_zone": "Europe/London",
                     "weekly_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                     "reminder_leads_minutes": [1440, 120] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let loc = out["location_id"].as_str().unwrap_or_default().to_owned();
    let facial = service(&app, &owner, "Facial", false).await;
    let staff = technicians(&app, &owner, &loc, &[&facial], 1, "2027-01-01").await;
    let who = customer(&app, &owner, "13700005555").await;
    let book = |start: &str, fold: Option<&str>| {
        let mut b = json!({ "location_id": loc, "customer_id": who, "start": start,
                            "override_reason": "early opening",
                            "services": [{ "service_id": facial, "staff_id": staff[0] }] });
        if let Some(fold) = fold {
            b["fold"] = json!(fold);
        }
        b
    };
    let instant = |s: &str| -> DateTime<Utc> { s.parse().unwrap_or_else(|e| panic!("{s}: {e}")) };
    // (local start, fold, the instant it is)
    let visits = [
        ("2027-03-28T03:00", None, "2027-03-28T02:00:00Z"), // BST, an hour after the gap
        ("2027-03-28T10:00", None, "2027-03-28T09:00:00Z"),
        ("2027-10-31T01:30", Some("earlier"), "2027-10-31T00:30:00Z"), // BST
        ("2027-10-31T01:30", Some("later"), "2027-10-31T01:30:00Z"),   // GMT
    ];
    let mut expected: Vec<(String, DateTime<Utc>)> = Vec::new();
    for (start, fold, at) in visits {
        let (status, out) = app.post(&owner, "/bookings", &book(start, fold)).await;
        assert_eq!(status, 201, "{start} {fold:?}: {out}");
        assert_eq!(out["services"][0]["starts_at"], at, "{start} {fold:?}");
        let id = out["booking_id"].as_str().unwrap_or_default().to_owned();
        for lead in [1440i64, 120] {
            expected.push((
                format!("booking:{id}:{lead}"),
                instant(at) - Duration::minutes(lead),
            ));
        }
    }
    // The planner runs ten minutes before each reminder is due, in time order: each
    // run queues exactly the one coming due, at its instant.
    expected.sort_by_key(|(_, due)| *due);
    let command = app.command_app().clone();
    for (key, due) in &expected {
        assert_eq!(
            command
                .plan_booking_reminders_at(*due - Duration::minutes(10))
                .await
                .ok(),
            Some(1),
            "{key} due {due}"
        );
    }
    let rows = app
        .admin()
        .await
        .query(
            "SELECT dedupe_key, next_attempt_at FROM notify.outbox
             WHERE kind = 'booking_reminder' ORDER BY next_attempt_at",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let queued: Vec<(String, DateTime<Utc>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(queued, expected);
    // Spring: the 03:00 visit's two-hour reminder is at 00:00 GMT, three wall-clock
    // hours before; autumn: the two 01:30s are reminded an hour apart.
    assert!(queued
        .iter()
        .any(|(_, due)| *due == instant("2027-03-28T00:00:00Z")));
    assert!(queued
        .iter()
        .any(|(_, due)| *due == instant("2027-10-30T22:30:00Z")));
    assert!(queued
        .iter()
        .any(|(_, due)| *due == instant("2027-10-30T23:30:00Z")));
    app.cleanup().await;
}

/// APT-4: one reminder per booking and lead time reaches the gateway even when the
/// worker is killed in the middle of each first send; a cancelled visit gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_reminders_go_out_once_per_lead_even_when_the_worker_is_killed() {
    let gateway = super::rota::Gateway::start().await;
    let app = tests::spawn_app_with(tests::Options {
        notify_webhook: Some(gateway.url.clone()),
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("book-kill").await;
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "徐汇店", "time_zone": "Asia/Shanghai",
                     "weekly_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                     "reminder_leads_minutes": [4320, 2880] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let loc = out["location_id"].as_str().unwrap_or_default().to_owned();
    let facial = service(&app, &owner, "补水护理", false).await;
    let today = shanghai_date(0);
    let staff = technicians(&app, &owner, &loc, &[&facial], 1, &today.to_string()).await;
    let who = customer(&app, &owner, "13700006666").await;
    let book = |time: &str| {
        json!({ "location_id": loc, "customer_id": who, "start": format!("{}T{time}", shanghai_date(1)),
                "services": [{ "service_id": facial, "staff_id": staff[0] }] })
    };
    let (status, kept) = app.post(&owner, "/bookings", &book("10:00")).await;
    assert_eq!(status, 201, "{kept}");
    let (status, dropped) = app.post(&owner, "/bookings", &book("12:00")).await;
    assert_eq!(status, 201, "{dropped}");
    let dropped_id = dropped["booking_id"].as_str().unwrap_or_default();
    let (status, _) = app
        .post(
            &owner,
            &format!("/bookings/{dropped_id}/cancel"),
            &json!({ "reason": "出差" }),
        )
        .await;
    assert_eq!(status, 200);
    let command = app.command_app().clone();
    assert_eq!(command.plan_booking_reminders().await.ok(), Some(2));

    let outbox: i64 = app
        .admin()
        .await
        .query_one("SELECT count(*) FROM notify.outbox", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let kills = super::rota::deliver_through_kills(
        &app,
        &command,
        &gateway,
        usize::try_from(outbox).unwrap_or_default(),
        async || command.plan_booking_reminders().await.ok(),
    )
    .await;
    assert!(kills >= 1, "the worker was killed at least once");

    let sent = super::rota::sent_events(&app).await;
    let reminders: Vec<&Value> = sent
        .iter()
        .filter(|s| s["kind"] == "booking_reminder")
        .collect();
    assert_eq!(reminders.len(), 2, "one per lead: {sent:?}");
    let calls = gateway.calls();
    let mut texts: Vec<String> = Vec::new();
    for r in &reminders {
        let id = r["notification_id"].as_str().unwrap_or_default();
        let bodies: Vec<&Value> = calls
            .iter()
            .filter(|(k, _)| k == id)
            .map(|(_, b)| b)
            .collect();
        assert!(!bodies.is_empty(), "{id} reached the gateway");
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "every try of a message is the same message"
        );
        texts.push(bodies[0]["text"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        texts
            .iter()
            .all(|t| t.contains("10:00") && !t.contains("12:00")),
        "the kept visit's, never the cancelled one's: {texts:?}"
    );
    assert_eq!(
        command.plan_booking_reminders().await.ok(),
        Some(0),
        "sent ones stay sent"
    );
    gateway.stop();
    app.cleanup().await;
}

/// The holds of technicians in other schedules (asked by every booking decision and
/// every availability check) are read per technician through the btree on (resource,
/// start), never through the GiST exclusion index, which answers the same question
/// four times slower: with generic and custom plans, on a table that has rows but no
/// statistics yet (the state in which a pooled connection may fix its generic plan).
#[tokio::test]
async fn holds_elsewhere_are_read_through_the_resource_index_whatever_the_statistics() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    admin
        .batch_execute(
            "ALTER TABLE booking.reservations SET (autovacuum_enabled = false);
             INSERT INTO booking.reservations (tenant_id, booking_id, resource, during, stream_id)
             SELECT t, gen_random_uuid(), 'staff:' || (i % 20),
                    tstzrange(now() + i * interval '1 hour', now() + i * interval '1 hour' + interval '45 minutes'),
                    'schedule-x-' || (i / 12)
             FROM (SELECT gen_random_uuid() AS t) a, generate_series(1, 2000) AS i;",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let statements = [
        (
            "holds",
            command_service::app::bookings::HOLDS_ELSEWHERE,
            "(uuid, text[], text, timestamptz, timestamptz, uuid)",
            "(gen_random_uuid(), ARRAY['staff:1','staff:2'], 'schedule-x-3', now(), now() + interval '1 day', gen_random_uuid())",
        ),
        (
            "sources",
            command_service::app::bookings::AVAILABILITY_SOURCES,
            "(uuid, text[], text[], text, timestamptz, timestamptz)",
            "(gen_random_uuid(), ARRAY['location-x'], ARRAY['staff:1','staff:2'], 'schedule-x-3', now(), now() + interval '1 day')",
        ),
    ];
    for mode in ["force_generic_plan", "force_custom_plan"] {
        for (name, sql, types, args) in statements {
            admin
                .batch_execute(&format!(
                    "SET ROLE belle_command; SET plan_cache_mode = {mode};
                     PREPARE {name} {types} AS {sql}"
                ))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let plan: Vec<String> = admin
                .query(&format!("EXPLAIN EXECUTE {name} {args}"), &[])
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .iter()
                .map(|r| r.get(0))
                .collect();
            let plan = plan.join("\n");
            assert!(
                plan.contains("reservations_by_resource")
                    && !plan.contains("reservations_no_overlap"),
                "{name} ({mode}):\n{plan}"
            );
            admin
                .batch_execute(&format!("DEALLOCATE {name}; RESET ROLE"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    app.cleanup().await;
}
