//! Locations (issue 4 item 1; APT-2, APT-3, APT-15): settings validated field by field,
//! changed with a reason, read back, and turned into an opening calendar that is exact
//! across daylight-saving changes.

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

fn london() -> Value {
    json!({
        "name": "Covent Garden",
        "time_zone": "Europe/London",
        "weekly_hours": {
            "mon": [{ "start": "09:00", "end": "12:00" }, { "start": "13:00", "end": "18:00" }],
            "sat": [{ "start": "10:00", "end": "16:00" }],
            "sun": [{ "start": "00:30", "end": "03:00" }]
        },
        "closures": [{ "from": "2027-12-25", "to": "2027-12-26", "reason": "Christmas" }],
        "exceptions": [{ "date": "2027-03-29", "hours": [{ "start": "11:00", "end": "15:00" }], "reason": "training" }],
        "rooms": [{ "name": "Facial 1", "kind": "facial_room", "capacity": 1 },
                  { "name": "Laser", "kind": "laser", "capacity": 2 }],
        "max_simultaneous_bookings": 6
    })
}

async fn location_events(app: &TestApp) -> i64 {
    app.admin()
        .await
        .query_one(
            "SELECT count(*) FROM es.events WHERE stream_type = 'location'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_location_is_created_changed_and_read_with_its_opening_calendar() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("loc-salon").await;
    let (status, created) = app.post(&owner, "/locations", &london()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["location_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = created["consistency_token"].as_str().unwrap_or_default();

    let (status, detail) = app
        .get(
            &owner,
            &format!("/locations/{id}?consistency_token={token}"),
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["time_zone"], "Europe/London");
    assert_eq!(detail["weekly_hours"]["mon"][1]["start"], "13:00:00");
    assert_eq!(
        detail["weekly_hours"]["tue"],
        json!([]),
        "a weekday left out is closed"
    );
    assert_eq!(detail["rooms"][1]["capacity"], 2);
    assert!(detail["rooms"][0]["room_id"].is_string());
    assert_eq!(detail["version"], 1);

    // Spring forward (Sunday 28 March 2027): open 00:30 GMT to 03:00 BST, 90 minutes;
    // Monday 29 March has its exception; 11:00 BST = 10:00Z.
    let (status, days) = app
        .get(
            &owner,
            &format!("/locations/{id}/opening?from=2027-03-27&to=2027-03-29"),
        )
        .await;
    assert_eq!(status, 200, "{days}");
    let days = days.as_array().cloned().unwrap_or_default();
    assert_eq!(days.len(), 3, "{days:?}");
    assert_eq!(days[0]["date"], "2027-03-27");
    assert_eq!(days[0]["start"], "2027-03-27T10:00:00Z");
    assert_eq!(days[1]["start"], "2027-03-28T00:30:00Z");
    assert_eq!(days[1]["end"], "2027-03-28T02:00:00Z");
    assert_eq!(days[1]["minutes"], 90);
    assert_eq!(days[2]["local_start"], "11:00");
    assert_eq!(days[2]["start"], "2027-03-29T10:00:00Z");
    let (status, closed) = app
        .get(
            &owner,
            &format!("/locations/{id}/opening?from=2027-12-25&to=2027-12-26"),
        )
        .await;
    assert_eq!((status, closed), (200, json!([])), "closed for Christmas");
    let (status, body) = app
        .get(
            &owner,
            &format!("/locations/{id}/opening?from=2027-01-01&to=2027-12-31"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "to");

    // A change needs a reason and replaces the settings; a stale version is refused.
    let mut changed = london();
    changed["time_zone"] = json!("Asia/Shanghai");
    changed["weekly_hours"]["sun"] = json!([]);
    let path = format!("/locations/{id}");
    let put = |body: Value| {
        let (app, owner, path) = (&app, owner.clone(), path.clone());
        async move {
            let r = app
                .http
                .put(format!("{}{path}", app.command_url))
                .bearer_auth(owner)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = put(json!({ "settings": changed })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "reason");
    let (status, body) =
        put(json!({ "reason": "moved", "expected_version": 7, "settings": changed })).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) =
        put(json!({ "reason": "timetable for the new season", "settings": changed })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);
    let changed_token = body["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, body) = put(json!({ "reason": "again", "settings": changed })).await;
    assert_eq!(status, 422, "nothing changed: {body}");

    let (status, list) = app
        .get(
            &owner,
            &format!("/locations?consistency_token={changed_token}"),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["time_zone"], "Asia/Shanghai", "{list}");
    assert_eq!(list[0]["version"], 2);
    let (_, days) = app
        .get(
            &owner,
            &format!("/locations/{id}/opening?from=2027-03-29&to=2027-03-29"),
        )
        .await;
    assert_eq!(
        days[0]["start"], "2027-03-29T03:00:00Z",
        "11:00 in Shanghai: {days}"
    );

    // The stream is the history: who changed what and why.
    let (status, events) = app
        .get(&owner, &format!("/audit/streams/location-{id}/events"))
        .await;
    assert_eq!(status, 200, "{events}");
    let events = events.as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1]["payload"]["reason"],
        "timetable for the new season"
    );

    // Other salons neither see nor change it; staff without the right may only read.
    let (_, other) = app.tenant("loc-other").await;
    let (status, _) = app.get(&other, &format!("/locations/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = app.get(&other, "/locations").await;
    assert_eq!(status, 200);
    // Created and changed in different batches, rebuilt in one: the same rows.
    app.assert_replays_agree().await;
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_settings_name_each_bad_field_and_write_nothing() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("loc-invalid").await;
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({ "name": "A", "time_zone": "Mars/Olympus" }),
            &["time_zone"],
        ),
        (
            json!({ "name": "A", "time_zone": "Asia/Shanghai", "weekly_hours": {
                "mon": [{ "start": "09:00", "end": "13:00" }, { "start": "12:00", "end": "18:00" }] } }),
            &["weekly_hours.mon"],
        ),
        (
            json!({ "name": "A", "time_zone": "Asia/Shanghai", "weekly_hours": {
                "tue": [{ "start": "10:00", "end": "10:00" }],
                "wed": [{ "start": "25:00", "end": "26:00" }],
                "funday": [] } }),
            &[
                "weekly_hours.funday",
                "weekly_hours.tue[0]",
                "weekly_hours.wed[0].start",
                "weekly_hours.wed[0].end",
            ],
        ),
        (
            json!({ "name": " ", "time_zone": "Asia/Shanghai",
                    "closures": [{ "from": "2027-02-10", "to": "2027-02-01", "reason": "Spring Festival" }],
                    "rooms": [{ "name": "Room", "kind": "Facial Room", "capacity": 0 }],
                    "max_simultaneous_bookings": 0 }),
            &[
                "name",
                "closures[0]",
                "rooms[0].kind",
                "rooms[0].capacity",
                "max_simultaneous_bookings",
            ],
        ),
        (
            json!({ "name": "A", "time_zone": "Asia/Shanghai",
                    "exceptions": [{ "date": "2027-05-01", "hours": [], "reason": "Labour Day" },
                                   { "date": "2027-05-01", "hours": [], "reason": "again" }] }),
            &["exceptions[1].date"],
        ),
    ];
    for (body, fields) in cases {
        let (status, out) = app.post(&owner, "/locations", &body).await;
        assert_eq!(status, 400, "{body} → {out}");
        let mut named: Vec<&str> = out["fields"]
            .as_array()
            .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        named.sort_unstable();
        let mut expected = fields.to_vec();
        expected.sort_unstable();
        assert_eq!(named, expected, "{out}");
    }
    let (status, out) = app
        .post(
            &owner,
            "/locations",
            &json!({ "name": "A", "time_zone": "Asia/Shanghai", "tenant_id": "x" }),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {out}");
    assert_eq!(location_events(&app).await, 0, "nothing was written");
    app.cleanup().await;
}
