//! The waitlist (issue 5 item 5, APT-13, APT-14): a cancellation or a reschedule offers
//! the freed time to the first waiting customer it fits (every move its own slot); a
//! decline or an expired reply window moves it to the next; an acceptance books it
//! through the booking path; two customers never hold the same offer, under concurrency
//! too; a customer gets a bounded number of offers a day; the sweeper catches up what a
//! hook did not do; the salon sees it all.

use super::bookings::{customer, salon, service, shanghai_date, technicians};
use serde_json::{json, Value};
use std::sync::Arc;
use tests::TestApp;

/// Events of a type in the log, oldest first (payloads).
async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    app.admin()
        .await
        .query(
            "SELECT payload::text FROM es.events WHERE event_type = $1 ORDER BY global_position",
            &[&event_type],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap_or(Value::Null))
        .collect()
}

/// The offers' rows of the command side: (offer, entry, state), oldest first.
async fn offer_rows(app: &TestApp) -> Vec<(String, String, String)> {
    app.admin()
        .await
        .query(
            "SELECT offer_id::text, entry_id::text, state FROM waitlist.offers ORDER BY made_at, offer_id",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The offers made, oldest first: (slot, entry, starts_at).
async fn offers_made(app: &TestApp) -> Vec<(String, String, String)> {
    events(app, "OfferMade")
        .await
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (field("slot_id"), field("entry_id"), field("starts_at"))
        })
        .collect()
}

/// A count of the admin's query.
async fn count(app: &TestApp, sql: &str) -> i64 {
    app.admin()
        .await
        .query_one(sql, &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn reschedule(app: &TestApp, token: &str, booking: &str, start: String) {
    let (status, out) = app
        .post(
            token,
            &format!("/bookings/{booking}/reschedule"),
            &json!({ "start": start }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

async fn join(app: &TestApp, token: &str, body: &Value) -> String {
    let (status, out) = app.post(token, "/waitlist", body).await;
    assert_eq!(status, 201, "{out}");
    out["entry_id"].as_str().unwrap_or_default().to_owned()
}

/// A salon with one technician for a one-hour facial on `date`, and a booking of it at
/// `time` by a customer of its own; returns (location, service, technician, booking).
async fn one_booked_hour(
    app: &TestApp,
    owner: &str,
    date: chrono::NaiveDate,
    times: &[&str],
) -> (String, String, String, Vec<String>) {
    let loc = salon(app, owner, "Asia/Shanghai").await;
    let facial = service(app, owner, "水光护理", false).await;
    let staff = technicians(app, owner, &loc, &[&facial], 1, &date.to_string()).await;
    let booker = customer(app, owner, "13800000001").await;
    let mut bookings = Vec::new();
    for time in times {
        let (status, booked) = app
            .post(
                owner,
                "/bookings",
                &json!({ "location_id": loc, "customer_id": booker, "start": format!("{date}T{time}"),
                         "services": [{ "service_id": facial, "staff_id": staff[0] }] }),
            )
            .await;
        assert_eq!(status, 201, "{booked}");
        bookings.push(booked["booking_id"].as_str().unwrap_or_default().to_owned());
    }
    (loc, facial, staff[0].clone(), bookings)
}

#[tokio::test]
async fn waitlist_offers_a_freed_slot_in_join_order_and_moves_it_on_when_declined_or_expired() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("wait-order").await;
    let date = shanghai_date(2);
    let (loc, facial, tech, booked) = one_booked_hour(&app, &owner, date, &["10:00"]).await;
    let wanted = |from: &str, to: &str, who: &str| {
        json!({ "location_id": loc, "customer_id": who, "date": date.to_string(),
                "from": from, "to": to, "services": [{ "service_id": facial }] })
    };
    // First in line, but for the afternoon: the morning's slot does not fit her.
    let late = customer(&app, &owner, "13800000010").await;
    join(&app, &owner, &wanted("15:00", "18:00", &late)).await;
    let mut waiting = Vec::new();
    for (i, phone) in ["13800000011", "13800000012", "13800000013"]
        .iter()
        .enumerate()
    {
        let who = customer(&app, &owner, phone).await;
        let entry = join(&app, &owner, &wanted("09:30", "12:00", &who)).await;
        waiting.push((who, entry, format!("+86{phone}")));
        assert_eq!(
            offer_rows(&app).await.len(),
            0,
            "nothing offered on joining {i}"
        );
    }
    // Every bad field named, and nothing written.
    let (status, out) = app
        .post(
            &owner,
            "/waitlist",
            &json!({ "location_id": "x", "date": "soon", "from": "12:00", "to": "11:00",
                     "services": [], "colour": "red" }),
        )
        .await;
    assert_eq!(status, 400, "an unknown field is refused: {out}");
    let (status, out) = app
        .post(
            &owner,
            "/waitlist",
            &json!({ "location_id": "x", "date": "soon", "from": "12:00", "to": "11:00", "services": [] }),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    let fields: Vec<&str> = out["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["location_id", "customer_id", "date", "to", "services"],
        "{out}"
    );
    let (status, out) = app
        .post(
            &owner,
            "/waitlist",
            &wanted("09:30", "12:00", &waiting[0].0),
        )
        .await;
    assert_eq!(
        status, 409,
        "one waiting entry per customer and date: {out}"
    );

    // The cancellation offers the hour to the first waiting customer it fits.
    let (status, out) = app
        .post(
            &owner,
            &format!("/bookings/{}/cancel", booked[0]),
            &json!({ "reason": "客户有事" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((&rows[0].1, rows[0].2.as_str()), (&waiting[0].1, "open"));
    let made = events(&app, "OfferMade").await;
    assert_eq!(made[0]["services"][0]["staff_id"], tech.as_str());
    assert_eq!(
        made[0]["starts_at"],
        format!("{date}T02:00:00Z"),
        "10:00 in Shanghai"
    );
    let command = app.command_app().clone();
    while command.deliver_due().await.unwrap_or(0) > 0 {}
    let texts: Vec<String> = app
        .messages_to(&waiting[0].2)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("has become free") && texts[0].contains("10:00"),
        "{texts:?}"
    );
    assert!(!texts[0].contains("周敏"), "no name in the text");
    assert!(app.messages_to(&waiting[1].2).is_empty());

    // She declines: the second is offered (never the first again).
    let first_offer = rows[0].0.clone();
    let (status, out) = app
        .post(
            &owner,
            &format!("/waitlist/offers/{first_offer}/decline"),
            &json!({}),
        )
        .await;
    assert_eq!((status, &out["status"]), (200, &json!("declined")), "{out}");
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].2, "declined");
    assert_eq!((&rows[1].1, rows[1].2.as_str()), (&waiting[1].1, "open"));

    // The second lets her window pass: a sweep judged half an hour on expires it and
    // offers the third; sweeping again changes nothing.
    let later = chrono::Utc::now() + chrono::Duration::minutes(31);
    let swept = command
        .sweep_waitlist(later)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.expired, swept.offered), (1, 1), "{swept:?}");
    let swept = command
        .sweep_waitlist(later)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.expired, swept.offered), (0, 0), "{swept:?}");
    let rows = offer_rows(&app).await;
    assert_eq!(
        rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        ["declined", "expired", "open"]
    );
    assert_eq!(rows[2].1, waiting[2].1);
    let (status, out) = app
        .post(
            &owner,
            &format!("/waitlist/offers/{}/accept", rows[1].0),
            &json!({}),
        )
        .await;
    assert_eq!(status, 409, "an expired offer cannot be accepted: {out}");

    // The third accepts: the visit is booked through the booking path, once.
    let third = rows[2].0.clone();
    let (status, accepted) = app
        .post(
            &owner,
            &format!("/waitlist/offers/{third}/accept"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 201, "{accepted}");
    let booking = accepted["booking_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(accepted["services"][0]["staff_id"], tech.as_str());
    let (status, again) = app
        .post(
            &owner,
            &format!("/waitlist/offers/{third}/accept"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &again["booking_id"]),
        (200, &json!(booking)),
        "{again}"
    );
    let placed = events(&app, "BookingPlaced").await;
    assert_eq!(placed.len(), 2, "the original and the accepted one");
    assert_eq!(placed[1]["customer_id"], waiting[2].0.as_str());
    assert_eq!(events(&app, "OfferAccepted").await.len(), 1);
    // The time is taken again: nobody else can book it.
    let (status, _) = app
        .post(
            &owner,
            "/bookings",
            &json!({ "location_id": loc, "customer_id": waiting[0].0, "start": format!("{date}T10:00"),
                     "services": [{ "service_id": facial, "staff_id": tech }] }),
        )
        .await;
    assert_eq!(status, 409);

    // The salon sees the activity.
    app.settle().await;
    let token = accepted["consistency_token"].as_str().unwrap_or_default();
    let (status, list) = app
        .get(
            &owner,
            &format!("/waitlist?location_id={loc}&date={date}&consistency_token={token}"),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let entries = list["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries
            .iter()
            .map(|e| e["status"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["waiting", "waiting", "waiting", "booked"],
        "{list}"
    );
    assert_eq!(entries[0]["customer_id"], late.as_str());
    assert_eq!(entries[1]["offers"][0]["status"], "declined", "{list}");
    assert_eq!(entries[2]["offers"][0]["status"], "expired", "{list}");
    assert_eq!(entries[3]["offers"][0]["status"], "accepted", "{list}");
    assert_eq!(entries[3]["booking_id"], booking.as_str(), "{list}");
    assert_eq!(entries[3]["customer_name"], "周敏");
    let (status, out) = app.get(&owner, "/waitlist").await;
    assert_eq!(status, 400, "{out}");
    // Another tenant sees nothing of it.
    let (_, other) = app.tenant("wait-other").await;
    let (status, theirs) = app
        .get(&other, &format!("/waitlist?location_id={loc}"))
        .await;
    assert_eq!((status, &theirs["entries"]), (200, &json!([])), "{theirs}");

    // Leaving: recorded once.
    for _ in 0..2 {
        let (status, out) = app
            .post(
                &owner,
                &format!("/waitlist/{}/leave", waiting[0].1),
                &json!({}),
            )
            .await;
        assert_eq!((status, &out["status"]), (200, &json!("left")), "{out}");
    }
    assert_eq!(events(&app, "WaitlistLeft").await.len(), 1);
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_customers_never_hold_the_same_waitlist_offer_under_concurrency() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (tenant, owner) = app.tenant("wait-race").await;
    let date = shanghai_date(3);
    let (loc, facial, _, booked) = one_booked_hour(&app, &owner, date, &["10:00"]).await;
    // Cancelled while nobody waits; the slot is then forgotten, as if the cancelling
    // instance had died before its hook ran: the sweepers must find it.
    let (status, _) = app
        .post(
            &owner,
            &format!("/bookings/{}/cancel", booked[0]),
            &json!({ "reason": "改期" }),
        )
        .await;
    assert_eq!(status, 200);
    app.admin()
        .await
        .execute("DELETE FROM waitlist.slots", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut entries = Vec::new();
    for i in 0..6 {
        let who = customer(&app, &owner, &format!("1380000002{i}")).await;
        entries.push(
            join(
                &app,
                &owner,
                &json!({ "location_id": loc, "customer_id": who, "date": date.to_string(),
                         "from": "09:00", "to": "13:00", "services": [{ "service_id": facial }] }),
            )
            .await,
        );
    }

    // Sweeps through two instances at once (each its own in-process queue), one of
    // them killed at once: one offer, to the first in line.
    let now = chrono::Utc::now();
    let first = app.command_app().clone();
    let mut second = first.clone();
    second.stream_turns = Arc::default();
    let killed = tokio::spawn({
        let a = first.clone();
        async move { a.sweep_waitlist(now).await }
    });
    killed.abort();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let a = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move { a.sweep_waitlist(now).await }));
    }
    let mut offered = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(swept)) => offered += swept.offered,
            Ok(Err(e)) => panic!("{e:?}"),
            Err(e) => panic!("{e}"),
        }
    }
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(offered <= 1, "{offered}");
    assert_eq!((&rows[0].1, rows[0].2.as_str()), (&entries[0], "open"));
    let queued: i64 = app
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM notify.outbox WHERE kind = 'waitlist_offer'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(queued, 1, "one message for one offer");

    // The database refuses a second holder of the slot by itself.
    let refused = app
        .admin()
        .await
        .execute(
            "INSERT INTO waitlist.offers (tenant_id, offer_id, stream_id, slot_id, entry_id,
                 customer_id, made_at, expires_at, state)
             SELECT tenant_id, gen_random_uuid(), stream_id, slot_id, gen_random_uuid(),
                    gen_random_uuid(), made_at, expires_at, 'open'
             FROM waitlist.offers LIMIT 1",
            &[],
        )
        .await;
    assert_eq!(
        refused.err().and_then(|e| e.code().cloned()),
        Some(tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );

    // A decline and expiring sweeps race: the offer ends once, one next customer holds
    // the slot.
    // Judged at the first offer's expiry: an offer made after it is not yet due.
    let later = now + chrono::Duration::minutes(30);
    let offer = rows[0].0.clone();
    let app = Arc::new(app);
    let mut tasks: Vec<tokio::task::JoinHandle<u16>> = Vec::new();
    {
        let (app, owner, offer) = (app.clone(), owner.clone(), offer.clone());
        tasks.push(tokio::spawn(async move {
            app.post(
                &owner,
                &format!("/waitlist/offers/{offer}/decline"),
                &json!({}),
            )
            .await
            .0
        }));
    }
    for i in 0..4 {
        let a = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            match a.sweep_waitlist(later).await {
                Ok(_) => 200,
                Err(e) => panic!("{e:?}"),
            }
        }));
    }
    for t in tasks {
        let status = t.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(status == 200 || status == 409, "{status}");
    }
    let ended =
        events(&app, "OfferDeclined").await.len() + events(&app, "OfferExpired").await.len();
    assert_eq!(ended, 1, "the first offer ended once");
    let rows = offer_rows(&app).await;
    let open: Vec<_> = rows.iter().filter(|r| r.2 == "open").collect();
    assert_eq!(open.len(), 1, "{rows:?}");
    assert_eq!(open[0].1, entries[1], "the next in line");

    // Ten acceptances at once, through both instances: one booking.
    let offer = open[0].0.clone();
    let mut tasks = Vec::new();
    for i in 0..10 {
        if i % 2 == 0 {
            let (app, owner, offer) = (app.clone(), owner.clone(), offer.clone());
            tasks.push(tokio::spawn(async move {
                app.post(
                    &owner,
                    &format!("/waitlist/offers/{offer}/accept"),
                    &json!({}),
                )
                .await
            }));
        } else {
            let (a, ctx, id) = (second.clone(), app.context(&tenant), offer.clone());
            tasks.push(tokio::spawn(async move {
                match a
                    .accept_offer(&ctx, id.parse().unwrap_or_default(), None)
                    .await
                {
                    Ok(o) => (o.status, o.body),
                    Err(e) => (409, json!({ "error": format!("{e:?}") })),
                }
            }));
        }
    }
    let mut bookings = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap_or_else(|e| panic!("{e}"));
        if status == 200 || status == 201 {
            bookings.insert(body["booking_id"].as_str().unwrap_or_default().to_owned());
        } else {
            // Only a twin still finishing the same acceptance may be told to wait.
            assert_eq!(status, 409, "{body}");
        }
    }
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(events(&app, "BookingPlaced").await.len(), 2);
    assert_eq!(events(&app, "OfferAccepted").await.len(), 1);
    match Arc::try_unwrap(app) {
        Ok(app) => {
            app.assert_replays_agree().await;
            app.cleanup().await;
        }
        Err(_) => panic!("app still shared"),
    }
}

#[tokio::test]
async fn waitlist_offers_per_customer_are_limited_and_customers_act_only_for_themselves() {
    let app = tests::spawn_app().await;
    let slug = "wait-limit";
    let (_, owner) = app.tenant(slug).await;
    let date = shanghai_date(2);
    let (loc, facial, _, booked) = one_booked_hour(&app, &owner, date, &["10:00", "14:00"]).await;
    // One offer a day per customer at this location.
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let settings = json!({ "name": "旗舰店", "time_zone": "Asia/Shanghai",
        "weekly_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
        "waitlist_offers_per_day": 1, "waitlist_reply_minutes": 10 });
    let (status, out) = app
        .put_json(
            &owner,
            &format!("/locations/{loc}"),
            &json!({ "reason": "waitlist test", "settings": settings }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let wanted = |who: Option<&str>| {
        let mut body = json!({ "location_id": loc, "date": date.to_string(),
                               "from": "09:00", "to": "18:00", "services": [{ "service_id": facial }] });
        if let Some(who) = who {
            body["customer_id"] = json!(who);
        }
        body
    };
    let eager = customer(&app, &owner, "13800000031").await;
    join(&app, &owner, &wanted(Some(&eager))).await;
    // A customer signed up by herself puts herself on the list (and nobody else).
    let session = app.customer_session(slug, "13800000032", "许愿").await;
    let herself = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, out) = app.post(&herself, "/waitlist", &wanted(Some(&eager))).await;
    assert_eq!(status, 400, "not for someone else: {out}");
    let mine = join(&app, &herself, &wanted(None)).await;
    let late = customer(&app, &owner, "13800000033").await;
    let mut body = wanted(Some(&late));
    body["from"] = json!("13:30");
    let afternoon = join(&app, &owner, &body).await;
    let (status, _) = app
        .post(&herself, "/waitlist/bogus/leave", &json!({}))
        .await;
    assert_eq!(status, 400);

    // The first cancellation goes to the first in line; she declines.
    let (status, _) = app
        .post(
            &owner,
            &format!("/bookings/{}/cancel", booked[0]),
            &json!({ "reason": "a" }),
        )
        .await;
    assert_eq!(status, 200);
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (status, _) = app
        .post(
            &herself,
            &format!("/waitlist/offers/{}/decline", rows[0].0),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404, "another's offer does not exist for her");
    let (status, _) = app
        .post(
            &owner,
            &format!("/waitlist/offers/{}/decline", rows[0].0),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    // …so it goes to the self-signed customer, who declines it herself.
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].1, mine);
    let (status, out) = app
        .post(
            &herself,
            &format!("/waitlist/offers/{}/decline", rows[1].0),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    // The second cancellation: both have had their one offer today, so both are
    // skipped; the one who only wants the afternoon, never offered anything, gets it.
    let (status, _) = app
        .post(
            &owner,
            &format!("/bookings/{}/cancel", booked[1]),
            &json!({ "reason": "b" }),
        )
        .await;
    assert_eq!(status, 200);
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!((&rows[2].1, rows[2].2.as_str()), (&afternoon, "open"));
    // Her ten minutes pass: it expires, and nobody else may be offered it today.
    let command = app.command_app().clone();
    let swept = command
        .sweep_waitlist(chrono::Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.expired, swept.offered), (1, 0), "{swept:?}");

    // She leaves; a customer token of another salon's customer sees nothing of hers.
    let (status, out) = app
        .post(&herself, &format!("/waitlist/{mine}/leave"), &json!({}))
        .await;
    assert_eq!((status, &out["status"]), (200, &json!("left")), "{out}");
    let (_, other_owner) = app.tenant("wait-limit-b").await;
    let (status, _) = app
        .post(&other_owner, &format!("/waitlist/{mine}/leave"), &json!({}))
        .await;
    assert_eq!(status, 404);
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_reschedule_offers_the_old_time_and_the_waiting_customer_is_booked_at_it() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("wait-move").await;
    let date = shanghai_date(2);
    let (loc, facial, tech, booked) = one_booked_hour(&app, &owner, date, &["10:00"]).await;
    let wanted = |from: &str, to: &str, who: &str| {
        json!({ "location_id": loc, "customer_id": who, "date": date.to_string(),
                "from": from, "to": to, "services": [{ "service_id": facial }] })
    };
    // First in line wants the afternoon, which the old time is not; the second's
    // morning window covers it.
    let late = customer(&app, &owner, "13800000040").await;
    join(&app, &owner, &wanted("15:00", "18:00", &late)).await;
    let early = customer(&app, &owner, "13800000041").await;
    let entry = join(&app, &owner, &wanted("09:30", "12:00", &early)).await;

    // Moved to the evening: its morning hour goes to her.
    reschedule(&app, &owner, &booked[0], format!("{date}T19:00")).await;
    let rows = offer_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((&rows[0].1, rows[0].2.as_str()), (&entry, "open"));
    let made = offers_made(&app).await;
    assert_eq!(made[0].2, format!("{date}T02:00:00Z"), "10:00 in Shanghai");
    assert_ne!(
        made[0].0, booked[0],
        "a move's slot is not the booking's id"
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM waitlist.slots WHERE slot_id = '{}'
                   AND starts_at = '{date}T02:00:00Z' AND ends_at = '{date}T03:00:00Z'",
                made[0].0
            )
        )
        .await,
        1,
        "the old time, recorded under the move's slot"
    );

    // She accepts: a new visit of hers at the old time; the moved one stays moved.
    let (status, accepted) = app
        .post(
            &owner,
            &format!("/waitlist/offers/{}/accept", rows[0].0),
            &json!({}),
        )
        .await;
    assert_eq!(status, 201, "{accepted}");
    let booking = accepted["booking_id"].as_str().unwrap_or_default();
    assert_ne!(booking, booked[0]);
    assert_eq!(accepted["services"][0]["staff_id"], tech.as_str());
    assert_eq!(
        accepted["services"][0]["starts_at"],
        format!("{date}T02:00:00Z"),
        "{accepted}"
    );
    let placed = events(&app, "BookingPlaced").await;
    assert_eq!(placed.len(), 2, "the original and the accepted one");
    assert_eq!(placed[1]["booking_id"], booking);
    assert_eq!(placed[1]["customer_id"], early.as_str());
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM booking.bookings WHERE booking_id = '{}'
                   AND starts_at = '{date}T11:00:00Z' AND revision = 1 AND status = 'booked'",
                booked[0]
            )
        )
        .await,
        1,
        "the moved booking is at 19:00"
    );
    assert_eq!(events(&app, "OfferAccepted").await.len(), 1);
    // The old time is taken again.
    let (status, _) = app
        .post(
            &owner,
            "/bookings",
            &json!({ "location_id": loc, "customer_id": late, "start": format!("{date}T10:00"),
                     "services": [{ "service_id": facial, "staff_id": tech }] }),
        )
        .await;
    assert_eq!(status, 409);
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn every_move_of_a_booking_frees_a_slot_of_its_own_and_a_cancellation_its_current_time() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("wait-moves").await;
    let date = shanghai_date(2);
    let (loc, facial, _, booked) = one_booked_hour(&app, &owner, date, &["10:00"]).await;
    let mut entries = Vec::new();
    for phone in ["13800000050", "13800000051", "13800000052"] {
        let who = customer(&app, &owner, phone).await;
        entries.push(
            join(
                &app,
                &owner,
                &json!({ "location_id": loc, "customer_id": who, "date": date.to_string(),
                         "from": "09:00", "to": "21:00", "services": [{ "service_id": facial }] }),
            )
            .await,
        );
    }

    // 10:00 → 13:00 → 16:00: two old times, two slots, each offered (the second to the
    // next in line: the first holds the first's offer).
    reschedule(&app, &owner, &booked[0], format!("{date}T13:00")).await;
    reschedule(&app, &owner, &booked[0], format!("{date}T16:00")).await;
    let made = offers_made(&app).await;
    assert_eq!(made.len(), 2, "{made:?}");
    assert_ne!(made[0].0, made[1].0, "two moves, two slots");
    assert!(made.iter().all(|m| m.0 != booked[0]), "{made:?}");
    assert_eq!(
        (&made[0].1, made[0].2.as_str()),
        (&entries[0], format!("{date}T02:00:00Z").as_str())
    );
    assert_eq!(
        (&made[1].1, made[1].2.as_str()),
        (&entries[1], format!("{date}T05:00:00Z").as_str())
    );
    assert_eq!(count(&app, "SELECT count(*) FROM waitlist.slots").await, 2);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM booking.moves WHERE booking_id = '{}'",
                booked[0]
            )
        )
        .await,
        2,
        "one move recorded per revision left"
    );
    // Recorded and offered: a sweep has nothing to catch up.
    let command = app.command_app().clone();
    let swept = command
        .sweep_waitlist(chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept.offered, 0, "{swept:?}");
    assert_eq!(count(&app, "SELECT count(*) FROM waitlist.slots").await, 2);

    // Cancelled at 16:00: its current time, under the booking's own id.
    let (status, out) = app
        .post(
            &owner,
            &format!("/bookings/{}/cancel", booked[0]),
            &json!({ "reason": "改期" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let made = offers_made(&app).await;
    assert_eq!(made.len(), 3, "{made:?}");
    assert_eq!(
        (made[2].0.as_str(), &made[2].1, made[2].2.as_str()),
        (
            booked[0].as_str(),
            &entries[2],
            format!("{date}T08:00:00Z").as_str()
        )
    );
    assert_eq!(count(&app, "SELECT count(*) FROM waitlist.slots").await, 3);
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn the_sweeper_offers_the_old_time_of_a_move_whose_hook_did_not_run() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("wait-move-sweep").await;
    let date = shanghai_date(3);
    let (loc, facial, _, booked) = one_booked_hour(&app, &owner, date, &["10:00", "12:00"]).await;
    // Moved while nobody waits: the first to 15:00; the second to 17:00, then cancelled
    // there. The slots are then forgotten, as if the instances had died before their
    // hooks ran: the sweeper must find them.
    reschedule(&app, &owner, &booked[0], format!("{date}T15:00")).await;
    reschedule(&app, &owner, &booked[1], format!("{date}T17:00")).await;
    let (status, out) = app
        .post(
            &owner,
            &format!("/bookings/{}/cancel", booked[1]),
            &json!({ "reason": "有事" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    app.admin()
        .await
        .execute("DELETE FROM waitlist.slots", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut entries = Vec::new();
    for (phone, from, to) in [
        ("13800000060", "09:30", "11:30"),
        ("13800000061", "11:30", "13:30"),
        ("13800000062", "16:30", "18:30"),
    ] {
        let who = customer(&app, &owner, phone).await;
        entries.push(
            join(
                &app,
                &owner,
                &json!({ "location_id": loc, "customer_id": who, "date": date.to_string(),
                         "from": from, "to": to, "services": [{ "service_id": facial }] }),
            )
            .await,
        );
    }
    assert!(offer_rows(&app).await.is_empty());

    // One sweep: each old time to the one who wants it, the cancelled one's current
    // time (not the time it was placed at) under its id; a second sweep offers nothing.
    let command = app.command_app().clone();
    let now = chrono::Utc::now();
    let swept = command
        .sweep_waitlist(now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept.offered, 3, "{swept:?}");
    let swept = command
        .sweep_waitlist(now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept.offered, 0, "{swept:?}");
    let mut made = offers_made(&app).await;
    made.sort_by(|a, b| a.2.cmp(&b.2));
    let at = |time: &str| format!("{date}T{time}:00Z");
    assert_eq!(
        made.iter()
            .map(|m| (m.1.clone(), m.2.clone()))
            .collect::<Vec<_>>(),
        [
            (entries[0].clone(), at("02:00")),
            (entries[1].clone(), at("04:00")),
            (entries[2].clone(), at("09:00")),
        ],
        "{made:?}"
    );
    assert!(made[0].0 != booked[0] && made[1].0 != booked[1], "{made:?}");
    assert_eq!(
        made[2].0, booked[1],
        "a cancellation's slot is its booking's id"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM waitlist.slots").await, 3);
    app.assert_replays_agree().await;
    app.cleanup().await;
}
