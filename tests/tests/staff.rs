//! Staff records (issue 4 item 4, STF-1): every field of the spec, personal data sealed
//! as for customers, search by name, position and hire date; changes and deactivation
//! by administrators only, each in the person's history with actor and reason.

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

pub(crate) const PASSWORD: &str = "correct horse battery";

/// Creates a staff account and returns (account id, its token).
pub(crate) async fn account(
    app: &TestApp,
    owner: &str,
    slug: &str,
    login: &str,
    role: &str,
) -> (String, String) {
    let (status, out) = app
        .post(
            owner,
            "/accounts",
            &json!({ "login": login, "password": PASSWORD, "role": role }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let id = out["account_id"].as_str().unwrap_or_default().to_owned();
    (id, app.login(slug, login, PASSWORD).await)
}

/// A location in `zone` open 09:00–18:00 every day; returns its id.
pub(crate) async fn location(app: &TestApp, owner: &str, name: &str, zone: &str) -> String {
    let day = json!([{ "start": "09:00", "end": "18:00" }]);
    let (status, out) = app
        .post(
            owner,
            "/locations",
            &json!({ "name": name, "time_zone": zone, "weekly_hours": {
                "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day } }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    out["location_id"].as_str().unwrap_or_default().to_owned()
}

pub(crate) fn record(locations: &[&str], account: Option<&str>) -> Value {
    json!({
        "name": "王芳",
        "gender": "female",
        "birth_date": "1992-05-17",
        "native_place": "浙江杭州",
        "phone": "13812345678",
        "email": "wang.fang@example.cn",
        "position": "美容师",
        "level": "资深",
        "hire_date": "2024-03-01",
        "skills": [],
        "locations": locations,
        "account_id": account,
    })
}

/// Hires a person and returns the staff id.
pub(crate) async fn hire(app: &TestApp, owner: &str, body: &Value) -> String {
    let (status, out) = app.post(owner, "/staff", body).await;
    assert_eq!(status, 201, "{out}");
    out["staff_id"].as_str().unwrap_or_default().to_owned()
}

async fn staff_events(app: &TestApp) -> i64 {
    app.admin()
        .await
        .query_one(
            "SELECT count(*) FROM es.events WHERE stream_type = 'staff'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn fields(body: &Value) -> Vec<String> {
    let mut f: Vec<String> = body["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    f.sort();
    f
}

#[tokio::test]
async fn administrators_keep_staff_records_and_every_change_is_in_the_history() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("staff-salon").await;
    let (manager_id, manager) =
        account(&app, &owner, "staff-salon", "mia.manager", "manager").await;
    let (tech_id, tech) = account(&app, &owner, "staff-salon", "tia.tech", "technician").await;
    let (_, desk) = account(&app, &owner, "staff-salon", "dora.desk", "front_desk").await;
    let loc = location(&app, &owner, "南山店", "Asia/Shanghai").await;

    // Every problem named, nothing written.
    let mut bad = record(&[&loc], None);
    bad["phone"] = json!("12345");
    bad["hire_date"] = json!("2024-02-30");
    bad["gender"] = json!("robot");
    bad["skills"] = json!(["not-a-uuid"]);
    bad["email"] = json!("nobody");
    let (status, out) = app.post(&owner, "/staff", &bad).await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(
        fields(&out),
        ["email", "gender", "hire_date", "phone", "skills[0]"]
    );
    assert!(!out.to_string().contains("12345"), "no input echoed: {out}");
    let mut foreign = record(&["0190a000-0000-7000-8000-000000000000"], None);
    foreign["skills"] = json!(["0190a000-0000-7000-8000-000000000001"]);
    let (status, out) = app.post(&owner, "/staff", &foreign).await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(fields(&out), ["locations[0]", "skills[0]"]);
    assert_eq!(staff_events(&app).await, 0, "nothing written");

    // Hired by the owner, linked to the technician's account.
    let staff_id = hire(&app, &owner, &record(&[&loc], Some(&tech_id))).await;
    let payloads: Vec<String> = app
        .admin()
        .await
        .query(
            "SELECT payload::text FROM es.events WHERE stream_type = 'staff'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    for secret in [
        "王芳",
        "13812345678",
        "wang.fang",
        "1992-05-17",
        "浙江杭州",
        "female",
    ] {
        assert!(
            payloads.iter().all(|p| !p.contains(secret)),
            "{secret} sealed in the event"
        );
    }
    // One account, one person.
    let (status, out) = app
        .post(&owner, "/staff", &record(&[&loc], Some(&tech_id)))
        .await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(fields(&out), ["account_id"]);

    // Non-administrators may not change, hire or deactivate.
    let mut promoted = record(&[&loc], Some(&tech_id));
    promoted["position"] = json!("店长助理");
    promoted["level"] = json!("专家");
    let change = json!({ "reason": "年度晋升", "record": promoted });
    for token in [&tech, &desk] {
        let (status, _) = app
            .put_json(token, &format!("/staff/{staff_id}"), &change)
            .await;
        assert_eq!(status, 403);
        let (status, _) = app.post(token, "/staff", &record(&[&loc], None)).await;
        assert_eq!(status, 403);
        let (status, _) = app
            .post(
                token,
                &format!("/staff/{staff_id}/deactivate"),
                &json!({ "reason": "x" }),
            )
            .await;
        assert_eq!(status, 403);
    }
    assert_eq!(staff_events(&app).await, 1, "refusals write nothing");

    // A manager changes it with a reason; a change without one is refused.
    let (status, out) = app
        .put_json(
            &manager,
            &format!("/staff/{staff_id}"),
            &json!({ "record": promoted }),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(fields(&out), ["reason"]);
    let (status, out) = app
        .put_json(&manager, &format!("/staff/{staff_id}"), &change)
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = app
        .put_json(&manager, &format!("/staff/{staff_id}"), &change)
        .await;
    assert_eq!(status, 422, "nothing changed: {out}");
    let (status, out) = app
        .post(
            &owner,
            &format!("/staff/{staff_id}/deactivate"),
            &json!({ "reason": "合同到期" }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let token = out["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let (status, history) = app
        .get(
            &owner,
            &format!("/staff/{staff_id}/history?consistency_token={token}"),
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let entries = history.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{history}");
    assert_eq!(entries[0]["event_type"], "StaffHired");
    assert_eq!(entries[0]["actor"]["role"], "owner");
    assert_eq!(entries[1]["event_type"], "StaffChanged");
    assert_eq!(entries[1]["actor"]["account_id"], manager_id.as_str());
    assert_eq!(entries[1]["actor"]["role"], "manager");
    assert_eq!(entries[1]["reason"], "年度晋升");
    assert_eq!(entries[1]["changed"], json!(["position", "level"]));
    assert_eq!(entries[2]["event_type"], "StaffDeactivated");
    assert_eq!(entries[2]["reason"], "合同到期");
    let (status, _) = app.get(&desk, &format!("/staff/{staff_id}/history")).await;
    assert_eq!(status, 403, "the front desk does not read staff history");

    // The record: masked contact data, current work terms, deactivated.
    let (status, detail) = app.get(&desk, &format!("/staff/{staff_id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["name"], "王芳");
    assert_eq!(detail["position"], "店长助理");
    assert_eq!(detail["active"], false);
    assert_eq!(detail["account_id"], tech_id.as_str());
    let phone = detail["phone"].as_str().unwrap_or_default();
    assert!(
        phone.contains('*') && !phone.contains("12345678"),
        "{phone}"
    );
    assert!(!detail.to_string().contains("wang.fang@"), "{detail}");
    let (status, _) = app
        .put_json(&manager, &format!("/staff/{staff_id}"), &change)
        .await;
    assert_eq!(status, 422, "a deactivated record is kept as it was");
    let (status, again) = app
        .post(
            &manager,
            &format!("/staff/{staff_id}/deactivate"),
            &json!({ "reason": "twice" }),
        )
        .await;
    assert_eq!((status, &again["version"]), (200, &json!(3)), "{again}");
    app.cleanup().await;
}

#[tokio::test]
async fn staff_are_found_by_name_position_and_hire_date() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("staff-search").await;
    let loc = location(&app, &owner, "福田店", "Asia/Shanghai").await;
    for (name, position, hired) in [
        ("王芳", "美容师", "2021-06-01"),
        ("王小明", "发型师", "2023-09-15"),
        ("李娜", "美容师", "2024-01-10"),
    ] {
        let mut r = record(&[&loc], None);
        r["name"] = json!(name);
        r["position"] = json!(position);
        r["hire_date"] = json!(hired);
        hire(&app, &owner, &r).await;
    }
    app.settle().await;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|i| {
                i.iter()
                    .filter_map(|s| s["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, out) = app.get(&owner, "/staff?name=%E7%8E%8B").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(names(&out), ["王小明", "王芳"]);
    let (_, out) = app
        .get(&owner, "/staff?position=%E7%BE%8E%E5%AE%B9%E5%B8%88")
        .await;
    assert_eq!(names(&out), ["李娜", "王芳"]);
    let (_, out) = app
        .get(&owner, "/staff?hired_from=2022-01-01&hired_to=2023-12-31")
        .await;
    assert_eq!(names(&out), ["王小明"]);
    assert_eq!(out["total"], 1);
    let (_, out) = app.get(&owner, &format!("/staff?location_id={loc}")).await;
    assert_eq!(out["total"], 3);
    let (status, out) = app.get(&owner, "/staff?hired_from=yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(out["fields"][0]["field"], "hired_from", "{out}");
    app.cleanup().await;
}

#[tokio::test]
async fn an_owner_erases_a_person_and_replays_agree() {
    let app = spawn_app().await;
    let slug = "staff-erase";
    let (_, owner) = app.tenant(slug).await;
    let (_, manager) = account(&app, &owner, slug, "meg.manager", "manager").await;
    let (tech_id, _) = account(&app, &owner, slug, "tess.tech", "technician").await;
    let loc = location(&app, &owner, "罗湖店", "Asia/Shanghai").await;
    let staff_id = hire(&app, &owner, &record(&[&loc], Some(&tech_id))).await;
    let mut changed = record(&[&loc], Some(&tech_id));
    changed["level"] = json!("专家");
    let (status, _) = app
        .put_json(
            &owner,
            &format!("/staff/{staff_id}"),
            &json!({ "reason": "王芳考核通过", "record": changed }),
        )
        .await;
    assert_eq!(status, 200);

    let erase = format!("/staff/{staff_id}/erase");
    let (status, _) = app
        .post(&manager, &erase, &json!({ "reference": "DSR-7" }))
        .await;
    assert_eq!(status, 403, "owners only");
    let (status, out) = app.post(&owner, &erase, &json!({})).await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(fields(&out), ["reference"]);
    let (status, out) = app
        .post(&owner, &erase, &json!({ "reference": "DSR-7" }))
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, _) = app
        .post(&owner, &erase, &json!({ "reference": "DSR-8" }))
        .await;
    assert_eq!(status, 410, "erased once and for all");
    let keys: i64 = app
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM keys.subject_keys WHERE subject_id = $1::text::uuid",
            &[&staff_id],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(keys, 0, "the keys are gone");
    app.settle().await;

    let (_, detail) = app.get(&owner, &format!("/staff/{staff_id}")).await;
    assert_eq!(detail["name"], "(erased)", "{detail}");
    assert_eq!(detail["phone"], Value::Null);
    assert_eq!(detail["active"], false);
    assert_eq!(detail["level"], "专家", "work terms stay");
    let (_, history) = app.get(&owner, &format!("/staff/{staff_id}/history")).await;
    assert!(!history.to_string().contains("王芳"), "{history}");
    assert_eq!(history[1]["reason"], "(erased)");
    assert_eq!(history[2]["event_type"], "StaffErased");
    // Her account is free for another record.
    hire(&app, &owner, &record(&[&loc], Some(&tech_id))).await;
    app.settle().await;

    app.assert_replays_agree().await;
    app.cleanup().await;
}
