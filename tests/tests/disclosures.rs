//! Unmasking with a reason, and the auditors' log of it (issue 3 item 5).

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

const PASSWORD: &str = "correct horse battery";

async fn staff(app: &TestApp, owner: &str, login: &str, role: &str) -> (String, String) {
    let (status, out) = app
        .post(
            owner,
            "/accounts",
            &json!({ "login": login, "password": PASSWORD, "role": role }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let id = out["account_id"].as_str().unwrap_or_default().to_owned();
    (id, app.login("reveals", login, PASSWORD).await)
}

async fn reveal(app: &TestApp, token: &str, id: &str, field: &str, reason: &str) -> (u16, Value) {
    app.post(
        token,
        &format!("/customers/{id}/reveal"),
        &json!({ "field": field, "reason": reason }),
    )
    .await
}

#[tokio::test]
async fn staff_unmask_the_fields_their_role_allows_and_auditors_see_who_why_and_when() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("reveals").await;
    let (desk_id, desk) = staff(&app, &owner, "dai.desk", "front_desk").await;
    let (tech_id, tech) = staff(&app, &owner, "tu.tech", "technician").await;
    let (_, auditor) = staff(&app, &owner, "ao.auditor", "auditor").await;
    let saved = app
        .register(
            &owner,
            &json!({ "name": "白雪", "phone": "13812345678", "id_number": "11010519491231002X",
                     "allergies": "对乳胶过敏", "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();

    // Every ordinary response is masked.
    let (_, detail) = app
        .get(
            &desk,
            &format!(
                "/customers/{id}?consistency_token={}",
                saved["consistency_token"].as_str().unwrap_or_default()
            ),
        )
        .await;
    assert!(!detail.to_string().contains("13812345678"), "{detail}");

    // The front desk may see the phone, with a reason; never cached.
    let r = app
        .http
        .post(format!("{}/customers/{id}/reveal", app.command_url))
        .bearer_auth(&desk)
        .json(&json!({ "field": "phone", "reason": "calling to confirm tomorrow's booking" }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: Value = r.json().await.unwrap_or_default();
    assert_eq!(body["value"], "+8613812345678", "{body}");
    assert_eq!(body["field"], "phone");

    // Not the ID number; the technician the allergies but not the phone.
    assert_eq!(
        reveal(&app, &desk, &id, "id_number", "curious").await.0,
        403
    );
    assert_eq!(reveal(&app, &tech, &id, "phone", "curious").await.0, 403);
    let (status, body) = reveal(&app, &tech, &id, "allergies", "latex gloves or not").await;
    assert_eq!((status, body["value"].clone()), (200, json!("对乳胶过敏")));
    // Bad requests name the field; a field never recorded is 404; another salon's 404.
    let (status, out) = reveal(&app, &desk, &id, "phone", " ").await;
    assert_eq!(
        (status, out["fields"][0]["field"].clone()),
        (400, json!("reason")),
        "{out}"
    );
    for field in ["tags", "password", ""] {
        let (status, out) = reveal(&app, &desk, &id, field, "x").await;
        assert_eq!(
            (status, out["fields"][0]["field"].clone()),
            (400, json!("field")),
            "{field}: {out}"
        );
    }
    assert_eq!(
        reveal(&app, &desk, &id, "email", "to send the invoice")
            .await
            .0,
        404
    );
    let (_, other) = app.tenant("elsewhere").await;
    assert_eq!(reveal(&app, &other, &id, "phone", "fishing").await.0, 404);

    // The auditors' log: exactly the two disclosures, in order, with who, whose, which
    // field, why and when.
    app.settle().await;
    let (status, log) = app.get(&auditor, "/audit/disclosures").await;
    assert_eq!(status, 200, "{log}");
    let entries = log.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["actor_account_id"], desk_id.as_str());
    assert_eq!(entries[0]["actor_role"], "front_desk");
    assert_eq!(entries[0]["customer_id"], id.as_str());
    assert_eq!(entries[0]["field"], "phone");
    assert_eq!(
        entries[0]["reason"],
        "calling to confirm tomorrow's booking"
    );
    assert!(entries[0]["occurred_at"].is_string());
    assert_eq!(entries[1]["actor_account_id"], tech_id.as_str());
    assert_eq!(entries[1]["field"], "allergies");
    let (_, filtered) = app
        .get(
            &auditor,
            &format!(
                "/audit/disclosures?customer_id={id}&after={}",
                entries[0]["seq"]
            ),
        )
        .await;
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    let (_, none) = app.get(&other, "/audit/disclosures").await;
    assert_eq!(none, json!([]), "another salon sees none of it");

    // Neither the log nor the read model holds the value.
    let raw = app
        .admin()
        .await
        .query_one(
            "SELECT (SELECT string_agg(payload::text, ' ') FROM es.events) || (SELECT string_agg(reason::text, ' ') FROM rm.disclosures)",
            &[],
        )
        .await
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}"));
    for plain in ["13812345678", "对乳胶过敏", "calling to confirm"] {
        assert!(!raw.contains(plain), "{plain} in clear in the store");
    }
    app.cleanup().await;
}
