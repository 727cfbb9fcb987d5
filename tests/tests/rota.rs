//! The shift rota (issue 4 item 5, STF-2/3): weekly patterns, overrides and time off;
//! no overlapping shifts for one person even under concurrent edits; views by
//! location, person and dates, exact across daylight saving; technicians see their own;
//! shift reminders exactly once per shift and lead time.

use super::staff::{account, hire, location, record};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::{spawn_app, spawn_app_with, Options, TestApp};

fn day(start: &str, end: &str) -> Value {
    json!([{ "start": start, "end": end }])
}

async fn edit(app: &TestApp, token: &str, staff: &str, body: &Value) -> (u16, Value) {
    app.post(token, &format!("/staff/{staff}/rota"), body).await
}

async fn rota_events(app: &TestApp) -> i64 {
    app.admin()
        .await
        .query_one(
            "SELECT count(*) FROM es.events WHERE stream_type = 'rota'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_edits_creating_overlapping_shifts_exactly_one_wins() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("rota-race").await;
    let a = location(&app, &owner, "A店", "Asia/Shanghai").await;
    let b = location(&app, &owner, "B店", "Asia/Shanghai").await;
    let staff = hire(&app, &owner, &record(&[&a, &b], None)).await;
    let app = Arc::new(app);

    for round in 0..6i64 {
        // Each round its own week, so rounds do not meet each other.
        let from = chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap_or_default()
            + chrono::Duration::weeks(round);
        let until = from + chrono::Duration::days(6);
        let pattern = |loc: &str, start: &str, end: &str| {
            json!({ "action": "set_pattern", "location_id": loc,
                    "valid_from": from.to_string(), "valid_until": until.to_string(),
                    "days": { "wed": day(start, end) } })
        };
        // Overlapping (at two locations): exactly one wins.
        let first = pattern(&a, "09:00", "14:00");
        let second = pattern(&b, "13:00", "18:00");
        let (x, y) = tokio::join!(
            edit(&app, &owner, &staff, &first),
            edit(&app, &owner, &staff, &second)
        );
        let mut statuses = [x.0, y.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {x:?} {y:?}");
        let refused = if x.0 == 409 { &x.1 } else { &y.1 };
        assert_eq!(refused["error"], "clash", "{refused}");
        // Back to back (no overlap): both go through, one after a retry.
        let (early, late) = (pattern(&a, "07:00", "09:00"), pattern(&b, "18:00", "20:00"));
        let (x, y) = tokio::join!(
            edit(&app, &owner, &staff, &early),
            edit(&app, &owner, &staff, &late)
        );
        assert_eq!((x.0, y.0), (200, 200), "round {round}: {x:?} {y:?}");
    }
    assert_eq!(
        rota_events(&app).await,
        18,
        "one winner and two neighbours a round"
    );

    // The read side agrees: no two shifts of the person overlap on any date.
    app.settle().await;
    let (status, view) = app
        .get(
            &owner,
            &format!("/rota?from=2027-01-04&to=2027-02-14&staff_id={staff}"),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let shifts = view["shifts"].as_array().cloned().unwrap_or_default();
    assert_eq!(shifts.len(), 18, "{view}");
    for (i, s) in shifts.iter().enumerate() {
        for t in &shifts[i + 1..] {
            let (s0, s1) = (s["starts_at"].as_str(), s["ends_at"].as_str());
            let (t0, t1) = (t["starts_at"].as_str(), t["ends_at"].as_str());
            assert!(!(s0 < t1 && t0 < s1), "overlap: {s} {t}");
        }
    }
    match Arc::try_unwrap(app) {
        Ok(app) => app.cleanup().await,
        Err(_) => panic!("app still shared"),
    }
}

#[tokio::test]
async fn rota_views_are_exact_across_daylight_saving_and_technicians_see_their_own() {
    let app = spawn_app().await;
    let slug = "rota-views";
    let (_, owner) = app.tenant(slug).await;
    let london = location(&app, &owner, "London", "Europe/London").await;
    let shanghai = location(&app, &owner, "上海店", "Asia/Shanghai").await;
    let (tech_id, tech) = account(&app, &owner, slug, "tina.tech", "technician").await;
    let (_, other_tech) = account(&app, &owner, slug, "olga.tech", "technician").await;
    let staff = hire(&app, &owner, &record(&[&london, &shanghai], Some(&tech_id))).await;
    let mut colleague = record(&[&shanghai], None);
    colleague["name"] = json!("李娜");
    let colleague = hire(&app, &owner, &colleague).await;

    // A template for the Shanghai weekdays; London Sundays by hand.
    let (status, template) = app
        .post(
            &owner,
            "/shift-templates",
            &json!({ "name": "早班", "intervals": [{ "start": "10:00", "end": "13:00" }, { "start": "14:00", "end": "19:00" }] }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let template_id = template["template_id"].as_str().unwrap_or_default();
    let (status, out) = edit(
        &app,
        &owner,
        &staff,
        &json!({ "action": "set_pattern", "location_id": shanghai, "valid_from": "2027-01-01",
                 "template_id": template_id, "weekdays": ["mon", "tue"] }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = edit(
        &app,
        &owner,
        &staff,
        &json!({ "action": "set_pattern", "location_id": london, "valid_from": "2027-01-01",
                 "days": { "sun": [{ "start": "09:00", "end": "17:00" }, { "start": "17:00", "end": "19:00" }] },
                 "reason": "summer hours" }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["warnings"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(out["warnings"][0]["start"], "17:00", "past closing: {out}");
    // The night the clocks go back, a late shift across the repeated hour.
    let (status, out) = edit(
        &app,
        &owner,
        &staff,
        &json!({ "action": "override_day", "date": "2027-10-31", "reason": "stocktake",
                 "shifts": [{ "location_id": london, "start": "00:30", "end": "03:00" }] }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = edit(
        &app,
        &owner,
        &staff,
        &json!({ "action": "record_time_off", "from": "2027-04-05", "to": "2027-04-06", "kind": "leave" }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = edit(
        &app,
        &owner,
        &colleague,
        &json!({ "action": "set_pattern", "location_id": shanghai, "valid_from": "2027-01-01",
                 "template_id": template_id, "weekdays": ["mon"] }),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    app.settle().await;

    // London, the weekend clocks go forward (Sunday 2027-03-28): 09:00 BST = 08:00 UTC.
    let (status, view) = app
        .get(
            &owner,
            &format!("/rota?from=2027-03-21&to=2027-03-28&location_id={london}"),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let shifts = view["shifts"].as_array().cloned().unwrap_or_default();
    let starts: Vec<&str> = shifts
        .iter()
        .filter_map(|s| s["starts_at"].as_str())
        .collect();
    assert_eq!(
        starts,
        [
            "2027-03-21T09:00:00Z",
            "2027-03-21T17:00:00Z",
            "2027-03-28T08:00:00Z",
            "2027-03-28T16:00:00Z"
        ],
        "{view}"
    );
    assert_eq!(shifts[2]["start"], "09:00");
    assert_eq!(shifts[2]["minutes"], 480);
    assert_eq!(shifts[2]["outside_opening_hours"], false);
    assert_eq!(shifts[3]["outside_opening_hours"], true, "closes at 18:00");
    // …and back (Sunday 2027-10-31): the override across the repeated hour is 3.5 h.
    let (_, view) = app
        .get(
            &owner,
            &format!("/rota?from=2027-10-31&to=2027-10-31&staff_id={staff}"),
        )
        .await;
    let shifts = view["shifts"].as_array().cloned().unwrap_or_default();
    assert_eq!(shifts.len(), 1, "the override replaces the day: {view}");
    assert_eq!(shifts[0]["starts_at"], "2027-10-30T23:30:00Z");
    assert_eq!(shifts[0]["ends_at"], "2027-10-31T03:00:00Z");
    assert_eq!(shifts[0]["minutes"], 210);
    assert_eq!(shifts[0]["source"]["kind"], "override");

    // Shanghai: UTC+8 all year; time off empties its days.
    let (_, view) = app
        .get(
            &owner,
            &format!("/rota?from=2027-03-29&to=2027-04-06&location_id={shanghai}"),
        )
        .await;
    let shifts = view["shifts"].as_array().cloned().unwrap_or_default();
    let mine: Vec<(&str, &str)> = shifts
        .iter()
        .filter(|s| s["staff_id"] == staff.as_str())
        .filter_map(|s| Some((s["date"].as_str()?, s["starts_at"].as_str()?)))
        .collect();
    assert_eq!(
        mine,
        [
            ("2027-03-29", "2027-03-29T02:00:00Z"),
            ("2027-03-29", "2027-03-29T06:00:00Z"),
            ("2027-03-30", "2027-03-30T02:00:00Z"),
            ("2027-03-30", "2027-03-30T06:00:00Z"),
        ],
        "no shifts on 5 and 6 April: {view}"
    );
    assert_eq!(
        shifts
            .iter()
            .filter(|s| s["staff_id"] == colleague.as_str())
            .count(),
        4,
        "two Mondays of two shifts, leave or not"
    );
    assert_eq!(view["time_off"][0]["kind"], "leave", "{view}");

    // A technician sees her own rota, not the salon's; one without a record has none.
    let (status, own) = app
        .get(&tech, "/me/rota?from=2027-03-28&to=2027-03-29")
        .await;
    assert_eq!(status, 200, "{own}");
    let names: Vec<&str> = own["shifts"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["staff_name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["王芳", "王芳", "王芳", "王芳"], "{own}");
    let (status, _) = app.get(&tech, "/rota?from=2027-03-28&to=2027-03-29").await;
    assert_eq!(status, 403);
    assert_eq!(own["staff_id"], staff.as_str());
    let (status, none) = app.get(&other_tech, "/me/rota").await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(
        none["staff_id"],
        Value::Null,
        "no record linked to her account"
    );
    assert_eq!(none["shifts"], json!([]));
    let (status, _) = edit(
        &app,
        &tech,
        &staff,
        &json!({ "action": "clear_override", "date": "2027-10-31", "reason": "mine" }),
    )
    .await;
    assert_eq!(status, 403, "technicians do not edit rotas");
    let (status, out) = app.get(&owner, "/rota?from=2027-01-01&to=2027-06-30").await;
    assert_eq!(status, 400);
    assert_eq!(out["fields"][0]["field"], "to", "{out}");
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_rota_edits_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("rota-invalid").await;
    let loc = location(&app, &owner, "A店", "Asia/Shanghai").await;
    let elsewhere = location(&app, &owner, "B店", "Asia/Shanghai").await;
    let staff = hire(&app, &owner, &record(&[&loc], None)).await;
    let base = json!({ "action": "set_pattern", "location_id": loc, "valid_from": "2027-01-01" });
    let with = |extra: Value| {
        let mut b = base.clone();
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    for (body, field) in [
        (
            with(
                json!({ "days": { "mon": [{ "start": "09:00", "end": "13:00" }, { "start": "12:00", "end": "18:00" }] } }),
            ),
            "days.mon",
        ),
        (
            with(json!({ "days": { "mon": [{ "start": "13:00", "end": "13:00" }] } })),
            "days.mon[0]",
        ),
        (
            with(json!({ "days": { "mon": [{ "start": "09:00", "end": "26:00" }] } })),
            "days.mon[0].end",
        ),
        (
            with(json!({ "days": { "someday": day("09:00", "10:00") } })),
            "days.someday",
        ),
        (
            with(json!({ "days": { "mon": day("09:00", "10:00") }, "valid_until": "2026-12-31" })),
            "valid_until",
        ),
        (
            with(json!({ "location_id": "nowhere", "days": { "mon": day("09:00", "10:00") } })),
            "location_id",
        ),
        (with(json!({})), "days"),
        (
            json!({ "action": "override_day", "date": "2027-01-05", "reason": "x",
                 "shifts": [{ "location_id": loc, "start": "10:00", "end": "09:00" }] }),
            "shifts[0]",
        ),
        (
            json!({ "action": "record_time_off", "from": "2027-01-05", "to": "2027-01-01", "kind": "leave" }),
            "to",
        ),
        (
            json!({ "action": "record_time_off", "from": "2027-01-05", "to": "2027-01-06", "kind": "nap" }),
            "kind",
        ),
    ] {
        let (status, out) = edit(&app, &owner, &staff, &body).await;
        assert_eq!(status, 400, "{body}: {out}");
        assert_eq!(out["fields"][0]["field"], field, "{body}: {out}");
    }
    let (status, out) = edit(
        &app,
        &owner,
        &staff,
        &with(json!({ "location_id": elsewhere, "days": { "mon": day("09:00", "10:00") } })),
    )
    .await;
    assert_eq!(status, 422, "not a location of hers: {out}");
    assert_eq!(rota_events(&app).await, 0, "nothing written");
    app.cleanup().await;
}

/// What the fake gateway saw: (Idempotency-Key, body) per call.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// The first try of each message hangs (the worker is killed mid-send); later ones pass.
async fn gateway(State(calls): State<Calls>, headers: HeaderMap, body: String) -> StatusCode {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let first = {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = !calls.iter().any(|(k, _)| *k == key);
        calls.push((key, body));
        first
    };
    if first {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    StatusCode::OK
}

fn calls_of(calls: &Calls) -> Vec<(String, Value)> {
    calls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// A fake SMS gateway on a local port whose first try of each message hangs.
pub(crate) struct Gateway {
    pub url: String,
    calls: Calls,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    pub(crate) async fn start() -> Gateway {
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
        Gateway { url, calls, server }
    }

    /// (Idempotency-Key, body) of every call so far.
    pub(crate) fn calls(&self) -> Vec<(String, Value)> {
        calls_of(&self.calls)
    }

    pub(crate) fn stop(&self) {
        self.server.abort();
    }
}

/// Runs the notification worker until `expected` messages are recorded sent, killing
/// it whenever a first try of a message hangs at the gateway and starting it again;
/// after each restart `replan` (the planner) must queue nothing. Returns the kills.
pub(crate) async fn deliver_through_kills(
    app: &TestApp,
    command: &command_service::app::App,
    gateway: &Gateway,
    expected: usize,
    mut replan: impl AsyncFnMut() -> Option<usize>,
) -> usize {
    let mut kills = 0;
    loop {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(command_service::app::notify::run_worker(
            command.clone(),
            rx,
        ));
        let seen = gateway.calls().len();
        let mut outcome = None;
        wait_until("a send or every outcome", async || {
            if sent_events(app).await.len() == expected {
                outcome = Some(true);
                return true;
            }
            let now = gateway.calls();
            let first_try_hanging = now.len() > seen
                && now[seen..]
                    .iter()
                    .any(|(k, _)| now.iter().filter(|(x, _)| x == k).count() == 1);
            if first_try_hanging {
                outcome = Some(false);
            }
            first_try_hanging
        })
        .await;
        if outcome == Some(true) {
            let _ = stop.send(true);
            let _ = worker.await;
            return kills;
        }
        worker.abort();
        let _ = worker.await;
        kills += 1;
        assert!(kills <= expected + 2, "too many restarts");
        // The abandoned claim's transaction rolls back; planning again adds nothing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(replan().await, Some(0), "planning again after a kill");
    }
}

pub(crate) async fn sent_events(app: &TestApp) -> Vec<Value> {
    app.admin()
        .await
        .query(
            "SELECT payload::text FROM es.events WHERE event_type = 'NotificationSent'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap_or(Value::Null))
        .collect()
}

async fn queued(app: &TestApp) -> i64 {
    app.admin()
        .await
        .query_one(
            "SELECT count(*) FROM notify.outbox WHERE kind = 'shift_reminder'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_reminders_go_out_once_per_shift_and_lead_even_when_the_worker_is_killed() {
    let gateway = Gateway::start().await;
    let url = gateway.url.clone();
    let app = spawn_app_with(Options {
        notify_webhook: Some(url),
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let (_, owner) = app.tenant("rota-remind").await;
    let loc = location(&app, &owner, "上海店", "Asia/Shanghai").await;
    let staff = hire(&app, &owner, &record(&[&loc], None)).await;
    let (status, out) = app
        .put_json(
            &owner,
            "/settings",
            &json!({ "reason": "remind the team", "price_change_bound_percent": 20,
                     "shift_reminder_leads_minutes": [180, 240] }),
        )
        .await;
    assert_eq!(status, 200, "{out}");

    // A shift starting 20 to 80 minutes from now, Shanghai time: both leads are due.
    let tz: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(30)).with_timezone(&tz);
    let start = soon.date_naive().and_hms_opt(
        chrono::Timelike::hour(&soon),
        (chrono::Timelike::minute(&soon) / 10) * 10,
        0,
    );
    let start = start.unwrap_or_default();
    let (date, start_time) =
        if start.time() > chrono::NaiveTime::from_hms_opt(22, 50, 0).unwrap_or_default() {
            (
                start.date() + chrono::Duration::days(1),
                chrono::NaiveTime::from_hms_opt(0, 10, 0).unwrap_or_default(),
            )
        } else {
            (start.date(), start.time())
        };
    let end_time = start_time + chrono::Duration::minutes(60);
    let shift = json!({ "action": "override_day", "date": date.to_string(), "reason": "cover",
                        "shifts": [{ "location_id": loc, "start": start_time.format("%H:%M").to_string(),
                                     "end": end_time.format("%H:%M").to_string() }] });
    let (status, out) = edit(&app, &owner, &staff, &shift).await;
    assert_eq!(status, 200, "{out}");

    // Planned once per lead, however often planning runs.
    let command = app.command_app().clone();
    assert_eq!(command.plan_shift_reminders().await.ok(), Some(2));
    assert_eq!(command.plan_shift_reminders().await.ok(), Some(0));
    assert_eq!(queued(&app).await, 2);
    // The shift goes away: its unsent reminders are withdrawn; it comes back: planned anew.
    let (status, _) = edit(
        &app,
        &owner,
        &staff,
        &json!({ "action": "clear_override", "date": date.to_string(), "reason": "not needed" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(command.plan_shift_reminders().await.ok(), Some(0));
    assert_eq!(queued(&app).await, 0, "withdrawn");
    let (status, _) = edit(&app, &owner, &staff, &shift).await;
    assert_eq!(status, 200);
    assert_eq!(command.plan_shift_reminders().await.ok(), Some(2));

    // The worker is killed in the middle of each first send and started again; the
    // planner runs again after each restart.
    let kills = deliver_through_kills(&app, &command, &gateway, 2, async || {
        command.plan_shift_reminders().await.ok()
    })
    .await;
    assert!(kills >= 1, "the worker was killed at least once");

    let sent = sent_events(&app).await;
    assert_eq!(
        sent.len(),
        2,
        "one NotificationSent per shift and lead: {sent:?}"
    );
    assert!(sent.iter().all(|s| s["kind"] == "shift_reminder"));
    let calls = gateway.calls();
    let mut keys: Vec<&str> = calls.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(
        keys.len(),
        2,
        "two messages, whatever the retries: {calls:?}"
    );
    for key in &keys {
        let bodies: Vec<&Value> = calls
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, b)| b)
            .collect();
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "every try of a message is the same message"
        );
        assert_eq!(bodies[0]["to"], "+8613812345678");
        let text = bodies[0]["text"].as_str().unwrap_or_default();
        assert!(
            text.contains(&start_time.format("%H:%M").to_string()),
            "{text}"
        );
        assert!(!text.contains("王芳"), "no name in the text: {text}");
    }
    let mut ids: Vec<&str> = sent
        .iter()
        .filter_map(|s| s["notification_id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, keys, "the Idempotency-Key is the notification id");
    assert_eq!(
        command.plan_shift_reminders().await.ok(),
        Some(0),
        "sent ones stay sent"
    );
    assert_eq!(queued(&app).await, 2);
    gateway.stop();
    app.cleanup().await;
}
