//! A booking's life after it is placed (issue 5 item 2, APT-9, APT-10, APT-3):
//! rescheduled with the guards of a new booking (its reminders move with it), checked
//! in, completed or missed in order, changed by its own customer only and not within
//! the cut-off, and the location's bookable rules refused and never offered.

use super::bookings::{customer, salon, service, shanghai_date, technicians, windows};
use super::staff::account;
use chrono::{Duration, NaiveDate, Timelike, Utc};
use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

fn booking(loc: &str, who: &str, date: NaiveDate, time: &str, service: &str, tech: &str) -> Value {
    json!({ "location_id": loc, "customer_id": who, "start": format!("{date}T{time}"),
            "services": [{ "service_id": service, "staff_id": tech }] })
}

fn id_of(out: &Value) -> String {
    out["booking_id"].as_str().unwrap_or_default().to_owned()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.admin()
        .await
        .query_one(sql, &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A local start `minutes_ago` before now at Shanghai, to the minute.
fn shanghai_minutes_ago(minutes_ago: i64) -> (NaiveDate, String) {
    let t = (Utc::now() - Duration::minutes(minutes_ago)).with_timezone(&chrono_tz::Asia::Shanghai);
    (t.date_naive(), format!("{:02}:{:02}", t.hour(), t.minute()))
}

#[tokio::test]
async fn a_reschedule_is_decided_like_a_booking_and_moves_the_visit_between_days() {
    let app = spawn_app().await;
    let slug = "life-move";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = account(&app, &owner, slug, "fay.desk", "front_desk").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", true).await;
    let date = shanghai_date(2);
    let next = date + Duration::days(1);
    let staff = technicians(&app, &owner, &loc, &[&facial], 2, &date.to_string()).await;
    let who = customer(&app, &owner, "13700011111").await;

    let (status, a) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &who, date, "10:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let (status, b) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &who, date, "12:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 201, "{b}");
    let a_id = id_of(&a);

    // Into another booking's time: refused with alternatives, as a new booking is.
    let (status, refused) = app
        .post(
            &desk,
            &format!("/bookings/{a_id}/reschedule"),
            &json!({ "start": format!("{date}T12:30") }),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "unavailable", "{refused}");
    assert!(
        refused["alternatives"]["same_day"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{refused}"
    );
    assert_eq!(
        refused["alternatives"]["other_staff"][0]["staff"][0],
        staff[1].as_str(),
        "{refused}"
    );

    // Half an hour later the same day overlaps only its own time: fine, same number.
    let (status, moved) = app
        .post(
            &desk,
            &format!("/bookings/{a_id}/reschedule"),
            &json!({ "start": format!("{date}T10:30") }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["number"], 1, "{moved}");
    assert_eq!(moved["services"][0]["price"], "198.00");
    assert_eq!(moved["services"][0]["staff_id"], staff[0].as_str());

    // To the next day, with the other technician: leaves one schedule, enters another.
    let (status, moved) = app
        .post(
            &desk,
            &format!("/bookings/{a_id}/reschedule"),
            &json!({ "start": format!("{next}T10:00"),
                     "services": [{ "service_id": facial, "staff_id": staff[1] }] }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["date"], next.to_string(), "{moved}");
    assert_eq!(moved["number"], 1, "the next day's first number: {moved}");
    assert_eq!(moved["services"][0]["staff_id"], staff[1].as_str());
    let in_target = count(
        &app,
        &format!(
            "SELECT count(*) FROM es.events WHERE stream_id = 'schedule-{loc}-{next}'
               AND event_type = 'BookingRescheduled'"
        ),
    )
    .await;
    let left = count(
        &app,
        &format!(
            "SELECT count(*) FROM es.events WHERE stream_id = 'schedule-{loc}-{date}'
               AND event_type = 'BookingMovedAway'"
        ),
    )
    .await;
    assert_eq!((in_target, left), (1, 1));
    // Its holds are the new time's only.
    let holds = count(
        &app,
        &format!(
            "SELECT count(*) FROM booking.reservations WHERE booking_id = '{a_id}'
               AND resource = 'staff:{}' AND lower(during) = '{}'::timestamptz",
            staff[1],
            moved["services"][0]["starts_at"]
                .as_str()
                .unwrap_or_default()
        ),
    )
    .await;
    let all_holds = count(
        &app,
        &format!("SELECT count(*) FROM booking.reservations WHERE booking_id = '{a_id}'"),
    )
    .await;
    assert_eq!(holds, 1);
    assert_eq!(all_holds, 2, "one technician span and one room place");

    // Sent again under its Idempotency-Key: the first answer, nothing moved twice.
    let keyed = |start: String| {
        let (http, url, desk) = (
            app.http.clone(),
            format!("{}/bookings/{a_id}/reschedule", app.command_url),
            desk.clone(),
        );
        async move {
            let r = http
                .post(url)
                .bearer_auth(desk)
                .header("Idempotency-Key", "move-a-to-15")
                .json(&json!({ "start": start }))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, once) = keyed(format!("{next}T15:00")).await;
    assert_eq!(status, 200, "{once}");
    let (status, twice) = keyed(format!("{next}T15:00")).await;
    assert_eq!((status, &twice), (200, &once));
    let (status, _) = keyed(format!("{next}T16:00")).await;
    assert_eq!(status, 422, "the key reused for another move");
    let (status, back) = app
        .post(
            &desk,
            &format!("/bookings/{a_id}/reschedule"),
            &json!({ "start": format!("{next}T10:00") }),
        )
        .await;
    assert_eq!(status, 200, "{back}");
    let moves = count(
        &app,
        &format!(
            "SELECT count(*) FROM es.events WHERE event_type = 'BookingRescheduled'
               AND payload::text LIKE '%{a_id}%'"
        ),
    )
    .await;
    assert_eq!(moves, 4, "10:30, the next day, 15:00 once, and back");

    // Its old time is free again; its old day's numbers are not reused.
    let (status, c) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &who, date, "10:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["number"], 3, "{c}");
    // A move changes nothing but times, technicians and places.
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{a_id}/reschedule"),
            &json!({ "start": format!("{next}T15:00"),
                     "services": [{ "service_id": staff[0] }] }),
        )
        .await;
    assert_eq!(status, 422, "another service: {out}");
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{a_id}/reschedule"),
            &json!({ "start": "soon", "colour": "red" }),
        )
        .await;
    assert_eq!(status, 400, "unknown fields and bad times: {out}");

    // The read side follows it.
    app.settle().await;
    let (status, day) = app
        .get(&desk, &format!("/locations/{loc}/calendar?date={next}"))
        .await;
    assert_eq!(status, 200, "{day}");
    let ids: Vec<&str> = day["technicians"]
        .as_array()
        .map(|t| {
            t.iter()
                .flat_map(|x| x["bookings"].as_array().cloned().unwrap_or_default())
                .filter_map(|b| b["booking_id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .iter()
        .map(|s| if *s == a_id { "a" } else { "other" })
        .collect();
    assert_eq!(ids, ["a"], "{day}");
    let (_, visits) = app.get(&desk, &format!("/customers/{who}/bookings")).await;
    let a_row = visits["upcoming"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["booking_id"] == a_id.as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(a_row["date"], next.to_string(), "{visits}");
    assert_eq!(a_row["status"], "booked", "{visits}");
    app.assert_replays_agree().await;
    app.cleanup().await;
}

/// The outbox keys of a booking's messages.
async fn outbox_keys(app: &TestApp, id: &str) -> Vec<String> {
    app.admin()
        .await
        .query(
            "SELECT dedupe_key FROM notify.outbox WHERE dedupe_key LIKE 'booking:' || $1 || ':%'
             ORDER BY dedupe_key",
            &[&id],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

#[tokio::test]
async fn a_moved_visit_is_reminded_of_its_new_time_only() {
    let app = tests::spawn_app_with(tests::Options {
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("life-remind").await;
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "静安店", "time_zone": "Asia/Shanghai",
                     "weekly_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
                     "reminder_leads_minutes": [4320] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let loc = out["location_id"].as_str().unwrap_or_default().to_owned();
    let facial = service(&app, &owner, "补水护理", false).await;
    let today = shanghai_date(0);
    let staff = technicians(&app, &owner, &loc, &[&facial], 1, &today.to_string()).await;
    let who = customer(&app, &owner, "13700012222").await;
    let tomorrow = shanghai_date(1);
    let (status, placed) = app
        .post(
            &owner,
            "/bookings",
            &booking(&loc, &who, tomorrow, "10:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 201, "{placed}");
    let id = id_of(&placed);
    let command = app.command_app().clone();
    assert_eq!(command.plan_booking_reminders().await.ok(), Some(1));
    assert_eq!(outbox_keys(&app, &id).await, [format!("booking:{id}:4320")]);

    // Moved: the unsent reminder of the old time is withdrawn with the move…
    let (status, moved) = app
        .post(
            &owner,
            &format!("/bookings/{id}/reschedule"),
            &json!({ "start": format!("{tomorrow}T15:00") }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(outbox_keys(&app, &id).await, Vec::<String>::new());
    // …and the new time's is planned once, under the booking's new revision.
    assert_eq!(command.plan_booking_reminders().await.ok(), Some(1));
    assert_eq!(command.plan_booking_reminders().await.ok(), Some(0));
    assert_eq!(
        outbox_keys(&app, &id).await,
        [format!("booking:{id}:r1:4320")]
    );
    while command.deliver_due().await.unwrap_or(0) > 0 {}
    let texts: Vec<String> = app
        .messages_to("+8613700012222")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("Reminder"))
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("15:00"), "{texts:?}");
    // She was told of the move, once, without her name.
    let notices: Vec<String> = app
        .messages_to("+8613700012222")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("Booking moved"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains(&format!("{tomorrow} 15:00")),
        "{notices:?}"
    );
    assert!(!notices[0].contains("周敏"), "{notices:?}");
    app.cleanup().await;
}

#[tokio::test]
async fn visits_are_checked_in_completed_or_missed_only_in_order() {
    let app = spawn_app().await;
    let slug = "life-visit";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = account(&app, &owner, slug, "fay.desk", "front_desk").await;
    let (_, tech) = account(&app, &owner, slug, "tom.tech", "technician").await;
    let (_, finance) = account(&app, &owner, slug, "fin.ance", "finance").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", false).await;
    let from = shanghai_date(-2);
    let staff = technicians(&app, &owner, &loc, &[&facial], 2, &from.to_string()).await;
    let who = customer(&app, &owner, "13700013333").await;
    // Visits that began already are entered late, with an override and its reason.
    let past = |minutes_ago: i64, tech: &str| {
        let (date, time) = shanghai_minutes_ago(minutes_ago);
        let mut b = booking(&loc, &who, date, &time, &facial, tech);
        b["override_reason"] = json!("walk-in entered late");
        b
    };
    let mut ids = Vec::new();
    for body in [
        past(30, &staff[0]),
        past(30, &staff[1]),
        past(200, &staff[0]),
        booking(&loc, &who, shanghai_date(3), "10:00", &facial, &staff[0]),
    ] {
        let (status, out) = app.post(&owner, "/bookings", &body).await;
        assert_eq!(status, 201, "{out}");
        ids.push(id_of(&out));
    }
    let step = |id: &str, what: &str| format!("/bookings/{id}/{what}");
    let message = |out: &Value| out["message"].as_str().unwrap_or_default().to_owned();

    // Checked in, then completed; repeats answer the same and record nothing.
    let (status, out) = app
        .post(&desk, &step(&ids[0], "check-in"), &json!({}))
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("checked_in")),
        "{out}"
    );
    let (status, out) = app
        .post(&tech, &step(&ids[0], "check-in"), &json!({}))
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("checked_in")),
        "{out}"
    );
    let (status, out) = app.post(&desk, &step(&ids[0], "no-show"), &json!({})).await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("checked in"), "{out}");
    let (status, out) = app
        .post(&tech, &step(&ids[0], "complete"), &json!({}))
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("completed")),
        "{out}"
    );
    let (status, _) = app
        .post(&tech, &step(&ids[0], "complete"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, out) = app
        .post(
            &desk,
            &step(&ids[0], "cancel"),
            &json!({ "reason": "late" }),
        )
        .await;
    assert_eq!(status, 422, "a completed visit is not cancelled: {out}");
    let (status, out) = app
        .post(
            &desk,
            &step(&ids[0], "reschedule"),
            &json!({ "start": format!("{}T10:00", shanghai_date(4)) }),
        )
        .await;
    assert_eq!(status, 422, "a completed visit is not moved: {out}");
    // Completed directly once it has started.
    let (status, out) = app
        .post(&desk, &step(&ids[1], "complete"), &json!({}))
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("completed")),
        "{out}"
    );
    // Missed after its start; then nothing else.
    let (status, out) = app.post(&desk, &step(&ids[2], "no-show"), &json!({})).await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("no_show")),
        "{out}"
    );
    let (status, out) = app
        .post(&desk, &step(&ids[2], "check-in"), &json!({}))
        .await;
    assert_eq!(status, 422, "{out}");
    let (status, out) = app
        .post(&desk, &step(&ids[2], "complete"), &json!({}))
        .await;
    assert_eq!(status, 422, "{out}");
    // A missed visit's time is free for someone else.
    let holds = count(
        &app,
        &format!(
            "SELECT count(*) FROM booking.reservations WHERE booking_id = '{}'",
            ids[2]
        ),
    )
    .await;
    assert_eq!(holds, 0);
    // A visit days ahead: no no-show or completion before it starts, no check-in days
    // early; once cancelled, nothing.
    for (what, words) in [
        ("no-show", "after the visit's start"),
        ("complete", "has not started"),
        ("check-in", "hours before it starts"),
    ] {
        let (status, out) = app.post(&desk, &step(&ids[3], what), &json!({})).await;
        assert_eq!(status, 422, "{what}: {out}");
        assert!(message(&out).contains(words), "{what}: {out}");
    }
    let (status, _) = app
        .post(&desk, &step(&ids[3], "cancel"), &json!({ "reason": "ill" }))
        .await;
    assert_eq!(status, 200);
    let (status, out) = app
        .post(&desk, &step(&ids[3], "check-in"), &json!({}))
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("cancelled"), "{out}");
    // Staff only, and no one else's booking.
    let (status, _) = app
        .post(&finance, &step(&ids[1], "complete"), &json!({}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post(
            &desk,
            &step(&uuid::Uuid::now_v7().to_string(), "check-in"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post(&desk, &step(&ids[1], "complete"), &json!({ "note": "x" }))
        .await;
    assert_eq!(status, 400, "unknown fields are refused");

    let events = |t: &str| format!("SELECT count(*) FROM es.events WHERE event_type = '{t}'");
    assert_eq!(count(&app, &events("BookingCheckedIn")).await, 1);
    assert_eq!(count(&app, &events("BookingCompleted")).await, 2);
    assert_eq!(count(&app, &events("BookingNoShowRecorded")).await, 1);

    app.settle().await;
    let (status, visits) = app.get(&desk, &format!("/customers/{who}/bookings")).await;
    assert_eq!(status, 200, "{visits}");
    let status_of = |id: &str| {
        visits["upcoming"]
            .as_array()
            .into_iter()
            .chain(visits["past"].as_array())
            .flatten()
            .find(|x| x["booking_id"] == id)
            .map(|x| x["status"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        [&ids[0], &ids[1], &ids[2], &ids[3]].map(|i| status_of(i)),
        ["completed", "completed", "no_show", "cancelled"],
        "{visits}"
    );
    let (date, _) = shanghai_minutes_ago(30);
    let (status, day) = app
        .get(&desk, &format!("/locations/{loc}/calendar?date={date}"))
        .await;
    assert_eq!(status, 200, "{day}");
    assert!(day.to_string().contains("\"completed\""), "{day}");
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_customer_changes_only_her_own_bookings_and_not_within_the_cut_off() {
    let app = spawn_app().await;
    let slug = "life-self";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = account(&app, &owner, slug, "fay.desk", "front_desk").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", false).await;
    let from = shanghai_date(0);
    let staff = technicians(&app, &owner, &loc, &[&facial], 2, &from.to_string()).await;
    let session = app.customer_session(slug, "13700014444", "林晓").await;
    let her = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let her_id = session["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!her_id.is_empty(), "{session}");
    let other = customer(&app, &owner, "13700015555").await;
    let date = shanghai_date(2);

    // She books for herself (her id from her token; no override for her).
    let mine = json!({ "location_id": loc, "start": format!("{date}T10:00"),
                       "services": [{ "service_id": facial, "staff_id": staff[0] }] });
    let (status, own) = app.post(&her, "/me/bookings", &mine).await;
    assert_eq!(status, 201, "{own}");
    let own_id = id_of(&own);
    let mut sneaky = mine.clone();
    sneaky["customer_id"] = json!(other);
    let (status, _) = app.post(&her, "/me/bookings", &sneaky).await;
    assert_eq!(status, 400, "she cannot book for someone else");
    let (status, _) = app
        .post(
            &her,
            "/bookings",
            &booking(&loc, &her_id, date, "12:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 403, "the staff route is not hers");

    // Someone else's booking is no booking of hers.
    let (status, theirs) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &other, date, "14:00", &facial, &staff[1]),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let theirs_id = id_of(&theirs);
    let (status, _) = app
        .post(
            &her,
            &format!("/me/bookings/{theirs_id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post(
            &her,
            &format!("/me/bookings/{theirs_id}/reschedule"),
            &json!({ "start": format!("{date}T16:00") }),
        )
        .await;
    assert_eq!(status, 404);

    // Her own, well ahead: she moves it, and may not override a rule.
    let (status, moved) = app
        .post(
            &her,
            &format!("/me/bookings/{own_id}/reschedule"),
            &json!({ "start": format!("{date}T11:00") }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let (status, _) = app
        .post(
            &her,
            &format!("/me/bookings/{own_id}/reschedule"),
            &json!({ "start": format!("{date}T22:00"), "override_reason": "please" }),
        )
        .await;
    assert_eq!(status, 403);

    // A visit within the cut-off (booked for her by the salon, an hour from now).
    let soon = (Utc::now() + Duration::minutes(60)).with_timezone(&chrono_tz::Asia::Shanghai);
    let mut close = booking(
        &loc,
        &her_id,
        soon.date_naive(),
        &format!("{:02}:{:02}", soon.hour(), soon.minute()),
        &facial,
        &staff[1],
    );
    close["override_reason"] = json!("squeezed in");
    let (status, close) = app.post(&owner, "/bookings", &close).await;
    assert_eq!(status, 201, "{close}");
    let close_id = id_of(&close);
    let (status, out) = app
        .post(&her, &format!("/me/bookings/{close_id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("120 minutes before it starts (self_service_cutoff_minutes)"),
        "{out}"
    );
    let (status, out) = app
        .post(
            &her,
            &format!("/me/bookings/{close_id}/reschedule"),
            &json!({ "start": format!("{date}T15:00") }),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    // The salon is not bound by it.
    let (status, out) = app
        .post(
            &desk,
            &format!("/bookings/{close_id}/cancel"),
            &json!({ "reason": "she called" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    // Outside it she cancels her own.
    let (status, out) = app
        .post(&her, &format!("/me/bookings/{own_id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{out}");

    // She sees her own bookings only.
    app.settle().await;
    let (status, visits) = app.get(&her, "/me/bookings").await;
    assert_eq!(status, 200, "{visits}");
    let all: Vec<&Value> = visits["upcoming"]
        .as_array()
        .into_iter()
        .chain(visits["past"].as_array())
        .flatten()
        .collect();
    assert_eq!(all.len(), 2, "{visits}");
    assert!(
        all.iter().all(|b| b["customer_id"] == her_id.as_str()),
        "{visits}"
    );
    assert!(all.iter().all(|b| b["status"] == "cancelled"), "{visits}");
    let (status, _) = app.get(&desk, "/me/bookings").await;
    assert_eq!(status, 403);
    app.cleanup().await;
}

#[tokio::test]
async fn bookable_rules_are_refused_and_never_offered() {
    let app = spawn_app().await;
    let slug = "life-rules";
    let (_, owner) = app.tenant(slug).await;
    let (_, desk) = account(&app, &owner, slug, "fay.desk", "front_desk").await;
    let (_, manager) = account(&app, &owner, slug, "max.manager", "manager").await;
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let week = json!({ "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day });
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "规则店", "time_zone": "Asia/Shanghai", "weekly_hours": week,
                     "booking_rules": { "min_lead_minutes": 2880, "max_horizon_days": 4,
                                        "max_upcoming_per_customer": 2,
                                        "max_bookings_per_technician_per_day": 2 } }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let loc = out["location_id"].as_str().unwrap_or_default().to_owned();
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "坏规则", "time_zone": "Asia/Shanghai",
                     "booking_rules": { "max_horizon_days": 0, "self_service_cutoff_minutes": -1 } }),
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
            "booking_rules.max_horizon_days",
            "booking_rules.self_service_cutoff_minutes"
        ]
    );
    let facial = service(&app, &owner, "水光护理", false).await;
    let staff = technicians(
        &app,
        &owner,
        &loc,
        &[&facial],
        2,
        &shanghai_date(0).to_string(),
    )
    .await;
    let ann = customer(&app, &owner, "13700016666").await;
    let bea = customer(&app, &owner, "13700017777").await;
    let message = |out: &Value| out["message"].as_str().unwrap_or_default().to_owned();

    // Lead time and horizon: bookable from two days to four days ahead.
    let (status, out) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &ann, shanghai_date(1), "10:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("min_lead_minutes"), "{out}");
    let (status, out) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &ann, shanghai_date(5), "10:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("max_horizon_days"), "{out}");
    let d3 = shanghai_date(3);
    for time in ["10:00", "12:00"] {
        let (status, out) = app
            .post(
                &desk,
                "/bookings",
                &booking(&loc, &ann, d3, time, &facial, &staff[0]),
            )
            .await;
        assert_eq!(status, 201, "{out}");
    }
    // The technician's daily cap: taken, with the other technician offered.
    let (status, out) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &bea, d3, "15:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 409, "{out}");
    assert!(
        message(&out).contains("max_bookings_per_technician_per_day"),
        "{out}"
    );
    assert_eq!(
        out["alternatives"]["other_staff"][0]["staff"][0],
        staff[1].as_str(),
        "{out}"
    );
    // Her limit of upcoming bookings.
    let (status, out) = app
        .post(
            &desk,
            "/bookings",
            &booking(&loc, &ann, d3, "15:00", &facial, &staff[1]),
        )
        .await;
    assert_eq!(status, 422, "{out}");
    assert!(message(&out).contains("max_upcoming_per_customer"), "{out}");

    // Availability offers none of it.
    let offered = |date: NaiveDate, tech: &str| {
        let url = format!(
            "{}/locations/{loc}/availability?service_id={facial}&staff_id={tech}&date={date}",
            app.command_url
        );
        let (http, owner) = (app.http.clone(), owner.clone());
        async move {
            let r = http
                .get(url)
                .bearer_auth(&owner)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.status(), 200);
            windows(&r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        offered(shanghai_date(1), &staff[1]).await,
        [],
        "inside the lead time"
    );
    assert_eq!(
        offered(shanghai_date(5), &staff[1]).await,
        [],
        "beyond the horizon"
    );
    assert_eq!(
        offered(d3, &staff[0]).await,
        [],
        "the technician's day is full"
    );
    assert!(
        !offered(d3, &staff[1]).await.is_empty(),
        "the other's is not"
    );

    // Staff allowed to may override them, with a reason; the front desk may not.
    let mut capped = booking(&loc, &bea, d3, "15:00", &facial, &staff[0]);
    capped["override_reason"] = json!("regular client");
    let (status, _) = app.post(&desk, "/bookings", &capped).await;
    assert_eq!(status, 403);
    let (status, out) = app.post(&manager, "/bookings", &capped).await;
    assert_eq!(status, 201, "{out}");
    let mut early = booking(&loc, &ann, shanghai_date(1), "10:00", &facial, &staff[1]);
    early["override_reason"] = json!("cancellation list");
    let (status, out) = app.post(&manager, "/bookings", &early).await;
    assert_eq!(status, 201, "lead time and her limit overridden: {out}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_across_days_leave_the_booking_in_exactly_one_schedule() {
    let app = spawn_app().await;
    let (tenant, owner) = app.tenant("life-race").await;
    let loc = salon(&app, &owner, "Asia/Shanghai").await;
    let facial = service(&app, &owner, "水光护理", false).await;
    let first = shanghai_date(2);
    let staff = technicians(&app, &owner, &loc, &[&facial], 1, &first.to_string()).await;
    let who = customer(&app, &owner, "13700018888").await;
    let (status, placed) = app
        .post(
            &owner,
            "/bookings",
            &booking(&loc, &who, first, "10:00", &facial, &staff[0]),
        )
        .await;
    assert_eq!(status, 201, "{placed}");
    let id = id_of(&placed);
    let app = std::sync::Arc::new(app);

    // Sixteen moves at once between four days, half over HTTP, half through a second
    // instance of the command side (its own turns), so appends race across instances
    // and opposite moves lock the same two streams in both orders.
    let mut second = app.command_app().clone();
    second.stream_turns = std::sync::Arc::default();
    let mut tasks = Vec::new();
    for i in 0..16i64 {
        let date = first + Duration::days(i % 4);
        let start = format!("{date}T{:02}:00", 10 + (i / 4) * 2);
        let (app, owner, id) = (app.clone(), owner.clone(), id.clone());
        if i % 2 == 0 {
            tasks.push(tokio::spawn(async move {
                app.post(
                    &owner,
                    &format!("/bookings/{id}/reschedule"),
                    &json!({ "start": start }),
                )
                .await
                .0
            }));
            continue;
        }
        let request = command_service::app::visits::RescheduleRequest {
            booking_id: id.parse().unwrap_or_default(),
            start: chrono::NaiveDateTime::parse_from_str(&start, "%Y-%m-%dT%H:%M")
                .unwrap_or_default(),
            fold: None,
            services: None,
            override_reason: None,
            own: None,
        };
        let (second, ctx) = (second.clone(), app.context(&tenant));
        tasks.push(tokio::spawn(async move {
            match second.reschedule_booking(&ctx, request).await {
                Ok(o) => o.status,
                Err(command_service::app::AppError::Conflict) => 409,
                Err(e) => panic!("{e:?}"),
            }
        }));
    }
    let mut moved = 0;
    for t in tasks {
        let status = t.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(status == 200 || status == 409, "{status}");
        moved += usize::from(status == 200);
    }
    assert!(moved > 0);

    // The log's view: of the four days' schedules, exactly one holds it.
    let admin = app.admin().await;
    let mut holding = Vec::new();
    for d in 0..4 {
        let date = first + Duration::days(d);
        let last: Option<String> = admin
            .query_opt(
                "SELECT event_type FROM es.events WHERE stream_id = $1
                   AND payload::text LIKE '%' || $2 || '%'
                 ORDER BY stream_version DESC LIMIT 1",
                &[&format!("schedule-{loc}-{date}"), &id],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|r| r.get(0));
        if matches!(
            last.as_deref(),
            Some("BookingPlaced" | "BookingRescheduled")
        ) {
            holding.push(date);
        }
    }
    assert_eq!(holding.len(), 1, "{holding:?}");
    let rescheduled = count(
        &app,
        "SELECT count(*) FROM es.events WHERE event_type = 'BookingRescheduled'",
    )
    .await;
    assert_eq!(rescheduled, i64::try_from(moved).unwrap_or(0));
    // The write side agrees: its row names that day, and it holds one span.
    let stream: String = admin
        .query_one(
            "SELECT stream_id FROM booking.bookings WHERE booking_id = $1::text::uuid",
            &[&id],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stream, format!("schedule-{loc}-{}", holding[0]));
    let holds = count(
        &app,
        &format!("SELECT count(*) FROM booking.reservations WHERE booking_id = '{id}'"),
    )
    .await;
    assert_eq!(holds, 1);
    match std::sync::Arc::try_unwrap(app) {
        Ok(app) => {
            app.assert_replays_agree().await;
            app.cleanup().await;
        }
        Err(_) => panic!("app still shared"),
    }
}
