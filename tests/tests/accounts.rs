//! Staff accounts (issue 3 item 2): administrators only, every change in the account's
//! history with actor and reason; own password changes.

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

const PASSWORD: &str = "correct horse battery";

async fn create(app: &TestApp, token: &str, login: &str, role: &str) -> (u16, Value) {
    app.post(
        token,
        "/accounts",
        &json!({ "login": login, "password": PASSWORD, "role": role }),
    )
    .await
}

async fn events(app: &TestApp) -> i64 {
    app.admin()
        .await
        .query_one("SELECT count(*) FROM es.events", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn login_status(app: &TestApp, login: &str, password: &str) -> u16 {
    app.http
        .post(format!("{}/auth/login", app.command_url))
        .json(&json!({ "tenant": "staffed", "login": login, "password": password }))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn administrators_manage_accounts_and_each_change_is_in_its_history() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("staffed").await;
    let (status, manager) = create(&app, &owner, "mei.manager", "manager").await;
    assert_eq!(status, 201, "{manager}");
    assert_eq!(manager["role"], "manager");
    let (status, tech) = create(&app, &owner, "tian.tech", "technician").await;
    assert_eq!(status, 201, "{tech}");
    let tech_id = tech["account_id"].as_str().unwrap_or_default().to_owned();
    let m = app.login("staffed", "mei.manager", PASSWORD).await;
    assert_eq!(login_status(&app, "tian.tech", PASSWORD).await, 200);

    // Bad input names the field and writes nothing.
    let before = events(&app).await;
    for (body, field) in [
        (
            json!({ "login": "x", "password": PASSWORD, "role": "technician" }),
            "login",
        ),
        (
            json!({ "login": "xia.ok", "password": "short", "role": "technician" }),
            "password",
        ),
        (
            json!({ "login": "xia.ok", "password": PASSWORD, "role": "customer" }),
            "role",
        ),
        (
            json!({ "login": "xia.ok", "password": PASSWORD, "role": "wizard" }),
            "role",
        ),
    ] {
        let (status, out) = app.post(&owner, "/accounts", &body).await;
        assert_eq!(status, 400, "{out}");
        assert_eq!(out["fields"][0]["field"], field, "{out}");
    }
    let (status, out) = app
        .post(
            &owner,
            &format!("/accounts/{tech_id}/role"),
            &json!({ "role": "front_desk", "reason": "  " }),
        )
        .await;
    assert_eq!(
        (status, out["fields"][0]["field"].clone()),
        (400, json!("reason")),
        "{out}"
    );
    let (status, _) = app
        .post(
            &owner,
            "/accounts",
            &json!({ "login": "a.b", "password": PASSWORD, "role": "owner", "tenant_id": "x" }),
        )
        .await;
    assert_eq!(status, 400, "extra fields are refused");
    assert_eq!(
        create(&app, &owner, "TIAN.tech", "front_desk").await.0,
        409,
        "logins are unique, case-insensitively"
    );
    assert_eq!(events(&app).await, before, "nothing written");

    // Managers manage the roles below them only.
    assert_eq!(create(&app, &m, "max.manager", "manager").await.0, 403);
    assert_eq!(create(&app, &m, "ada.auditor", "auditor").await.0, 403);
    let (status, _) = app
        .post(
            &m,
            &format!("/accounts/{tech_id}/role"),
            &json!({ "role": "owner", "reason": "please" }),
        )
        .await;
    assert_eq!(status, 403);
    let owner_id = app
        .admin()
        .await
        .query_one(
            "SELECT account_id FROM iam.credentials WHERE role = 'owner'",
            &[],
        )
        .await
        .map(|r| r.get::<_, uuid::Uuid>(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = app
        .post(
            &m,
            &format!("/accounts/{owner_id}/deactivate"),
            &json!({ "reason": "coup" }),
        )
        .await;
    assert_eq!(status, 403, "a manager cannot touch the owner");
    let (status, out) = app
        .post(
            &m,
            &format!("/accounts/{tech_id}/role"),
            &json!({ "role": "front_desk", "reason": "moved to reception" }),
        )
        .await;
    assert_eq!(
        (status, out["role"].clone()),
        (200, json!("front_desk")),
        "{out}"
    );

    // Nobody changes or switches off their own account, and the salon keeps an owner.
    let (status, _) = app
        .post(
            &owner,
            &format!("/accounts/{owner_id}/role"),
            &json!({ "role": "manager", "reason": "tired" }),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .post(
            &owner,
            &format!("/accounts/{owner_id}/deactivate"),
            &json!({ "reason": "bye" }),
        )
        .await;
    assert_eq!(status, 422);

    // Deactivation stops logins; doing it again changes nothing.
    let (status, out) = app
        .post(
            &owner,
            &format!("/accounts/{tech_id}/deactivate"),
            &json!({ "reason": "left the salon" }),
        )
        .await;
    assert_eq!(
        (status, out["active"].clone()),
        (200, json!(false)),
        "{out}"
    );
    assert_eq!(login_status(&app, "tian.tech", PASSWORD).await, 401);
    let before = events(&app).await;
    let (status, _) = app
        .post(
            &owner,
            &format!("/accounts/{tech_id}/deactivate"),
            &json!({ "reason": "again" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        events(&app).await,
        before,
        "a repeated deactivation appends nothing"
    );

    // Another salon's owner cannot see or touch the account.
    let (_, other) = app.tenant("elsewhere").await;
    let (status, _) = app
        .post(
            &other,
            &format!("/accounts/{tech_id}/role"),
            &json!({ "role": "technician", "reason": "x" }),
        )
        .await;
    assert_eq!(status, 404);

    // The history: who did what, when and why (the reason sealed, shown masked).
    let (status, history) = app
        .get(&owner, &format!("/audit/streams/account-{tech_id}/events"))
        .await;
    assert_eq!(status, 200, "{history}");
    let entries = history.as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["AccountCreated", "AccountRoleChanged", "AccountDeactivated"]
    );
    let manager_id = manager["account_id"].as_str().unwrap_or_default();
    assert_eq!(entries[1]["metadata"]["actor"]["account_id"], manager_id);
    assert_eq!(entries[1]["payload"]["role"], "front_desk");
    assert_eq!(entries[1]["payload"]["previous"], "technician");
    assert!(
        entries[1]["payload"]["reason"].is_string(),
        "{}",
        entries[1]
    );
    assert_eq!(
        entries[2]["metadata"]["actor"]["account_id"],
        owner_id.to_string()
    );
    let raw = app
        .admin()
        .await
        .query_one(
            "SELECT string_agg(payload::text, ' ') FROM es.events WHERE stream_id = $1",
            &[&format!("account-{tech_id}")],
        )
        .await
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}"));
    for plain in ["tian.tech", "moved to reception", "left the salon"] {
        assert!(!raw.contains(plain), "{plain} in plain text in the log");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_demoted_owner_keeps_no_power_from_an_older_token() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("staffed").await;
    let (_, second) = create(&app, &owner, "second.owner", "owner").await;
    let second_id = second["account_id"].as_str().unwrap_or_default().to_owned();
    let stale = app.login("staffed", "second.owner", PASSWORD).await;
    let (status, _) = app
        .post(
            &owner,
            &format!("/accounts/{second_id}/role"),
            &json!({ "role": "manager", "reason": "restructuring" }),
        )
        .await;
    assert_eq!(status, 200);
    // The token still says owner; the credentials say manager.
    assert_eq!(create(&app, &stale, "sneaky.owner", "owner").await.0, 403);
    let owner_id = app
        .admin()
        .await
        .query_one(
            "SELECT account_id FROM iam.credentials WHERE role = 'owner'",
            &[],
        )
        .await
        .map(|r| r.get::<_, uuid::Uuid>(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = app
        .post(
            &stale,
            &format!("/accounts/{owner_id}/deactivate"),
            &json!({ "reason": "revenge" }),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(login_status(&app, "owner", PASSWORD).await, 200);
    app.cleanup().await;
}

#[tokio::test]
async fn staff_change_their_own_password_and_the_log_never_sees_it() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("staffed").await;
    create(&app, &owner, "fay.front", "front_desk").await;
    let fay = app.login("staffed", "fay.front", PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let (status, _) = app
        .post(
            &fay,
            "/auth/password",
            &change("not my password", "a brand new secret"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, out) = app
        .post(&fay, "/auth/password", &change(PASSWORD, "short"))
        .await;
    assert_eq!(
        (status, out["fields"][0]["field"].clone()),
        (400, json!("new_password"))
    );
    let (status, _) = app
        .post(&fay, "/auth/password", &change(PASSWORD, PASSWORD))
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .post(
            &fay,
            "/auth/password",
            &change(PASSWORD, "a brand new secret"),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(login_status(&app, "fay.front", PASSWORD).await, 401);
    assert_eq!(
        login_status(&app, "fay.front", "a brand new secret").await,
        200
    );
    let raw = app
        .admin()
        .await
        .query_one(
            "SELECT string_agg(payload::text || metadata::text, ' ') FROM es.events",
            &[],
        )
        .await
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(raw.contains("PasswordChanged") || raw.contains("account_id"));
    for secret in ["a brand new secret", "argon2", PASSWORD] {
        assert!(!raw.contains(secret), "{secret} reached the log");
    }
    app.cleanup().await;
}
