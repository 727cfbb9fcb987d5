//! Login: password hashing parameters and failed-login throttling (issue 3 item 3).

use reqwest::StatusCode;
use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

const PASSWORD: &str = "correct horse battery";

async fn login(
    app: &TestApp,
    tenant: &str,
    login: &str,
    password: &str,
) -> (StatusCode, Option<u64>) {
    let r = app
        .http
        .post(format!("{}/auth/login", app.command_url))
        .json(&json!({ "tenant": tenant, "login": login, "password": password }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (r.status(), retry_after)
}

#[tokio::test]
async fn stored_password_hashes_are_argon2id_with_the_owasp_parameters() {
    let app = spawn_app().await;
    app.tenant("hashes").await;
    let rows = app
        .admin()
        .await
        .query("SELECT password_hash FROM iam.credentials", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!rows.is_empty());
    for row in rows {
        let phc: String = row.get(0);
        assert!(
            phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "weaker than argon2id m=19456 t=2 p=1: {}",
            phc.split('$').take(4).collect::<Vec<_>>().join("$")
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_eleventh_failed_login_for_an_account_within_fifteen_minutes_gets_429() {
    let app = spawn_app().await;
    app.tenant("locked").await;
    app.tenant("other-salon").await;
    for i in 1..=10 {
        let (status, _) = login(&app, "locked", "owner", "wrong password!").await;
        assert_eq!(status, 401, "attempt {i}");
    }
    // The 11th is refused before its password is looked at, even the right one.
    let (status, retry_after) = login(&app, "locked", "owner", PASSWORD).await;
    assert_eq!(status, 429);
    let retry_after = retry_after.unwrap_or(0);
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    // Another account (same login name, another salon) is not affected.
    assert_eq!(login(&app, "other-salon", "owner", PASSWORD).await.0, 200);
    // Once the window is over, the account logs in again.
    app.admin()
        .await
        .execute(
            "UPDATE iam.login_throttle SET window_start = window_start - interval '15 minutes'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(login(&app, "locked", "owner", PASSWORD).await.0, 200);
    // A success clears the account's count: ten more failures are answered 401.
    for i in 1..=10 {
        assert_eq!(
            login(&app, "locked", "owner", "wrong again!!").await.0,
            401,
            "after success, attempt {i}"
        );
    }
    assert_eq!(login(&app, "locked", "owner", "wrong again!!").await.0, 429);
    // The table holds no login name and no address.
    let keys: Vec<String> = app
        .admin()
        .await
        .query("SELECT key FROM iam.login_throttle", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!keys.is_empty());
    for k in keys {
        assert!(
            !k.contains("owner") && !k.contains("127.0.0.1") && !k.contains("locked"),
            "{k}"
        );
    }
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_get_exactly_ten_tries() {
    let app = spawn_app().await;
    app.tenant("rush").await;
    let attempts = (0..25).map(|_| login(&app, "rush", "owner", "guess guess guess"));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|(s, _)| s.as_u16())
        .collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((unauthorized, throttled), (10, 15), "{statuses:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_trying_many_accounts_is_throttled_too() {
    let owned = spawn_app().await;
    spray(&owned).await;
    owned.cleanup().await;
}

async fn spray(app: &TestApp) {
    app.tenant("spray").await;
    // 100 attempts on 100 different (unknown) logins from one address: each account
    // is far below its limit, the address reaches its own.
    for chunk in (0..100).collect::<Vec<_>>().chunks(10) {
        let tries = chunk
            .iter()
            .map(|i| {
                let name = format!("nobody{i}");
                async move { login(app, "spray", &name, "password123").await.0 }
            })
            .collect::<Vec<_>>();
        for status in futures::future::join_all(tries).await {
            assert_eq!(status, 401);
        }
    }
    let (status, retry_after) = login(app, "spray", "owner", PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
}

async fn session(app: &TestApp, tenant: &str, login: &str, password: &str) -> Value {
    let (status, out) = app
        .post(
            "",
            "/auth/login",
            &json!({ "tenant": tenant, "login": login, "password": password }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out
}

async fn refresh(app: &TestApp, token: &Value) -> (u16, Value) {
    app.post("", "/auth/refresh", &json!({ "refresh_token": token }))
        .await
}

#[tokio::test]
async fn a_refresh_token_works_once_and_a_replayed_one_revokes_its_family() {
    let app = spawn_app().await;
    app.tenant("sessions").await;
    let first = session(&app, "sessions", "owner", PASSWORD).await;
    let other = session(&app, "sessions", "owner", PASSWORD).await;
    assert_ne!(first["refresh_token"], other["refresh_token"]);

    let (status, second) = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        app.get(access, "/customers").await.0,
        200,
        "the new access token works"
    );

    // The spent token again: refused, and the family's current token dies with it.
    assert_eq!(refresh(&app, &first["refresh_token"]).await.0, 401);
    assert_eq!(
        refresh(&app, &second["refresh_token"]).await.0,
        401,
        "family revoked"
    );
    // Another login's family is untouched.
    let (status, third) = refresh(&app, &other["refresh_token"]).await;
    assert_eq!(status, 200);

    // Logout ends that one; unknown tokens are simply refused.
    let (status, _) = app
        .post(
            "",
            "/auth/logout",
            &json!({ "refresh_token": third["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(refresh(&app, &third["refresh_token"]).await.0, 401);
    assert_eq!(refresh(&app, &json!("not-a-token")).await.0, 401);
    let (status, _) = app
        .post("", "/auth/refresh", &json!({ "refresh_token": "" }))
        .await;
    assert_eq!(status, 400);

    // Only hashes are stored.
    let stored: Vec<String> = app
        .admin()
        .await
        .query("SELECT token_hash FROM iam.refresh_tokens", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    for s in [&first, &second, &other, &third] {
        let t = s["refresh_token"].as_str().unwrap_or_default();
        assert!(
            !stored.iter().any(|h| h == t),
            "a refresh token is stored in clear"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn sessions_follow_the_account_role_changes_deactivation_and_new_passwords() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("sessions").await;
    for login in ["tao.tech", "fei.front"] {
        let (status, out) = app
            .post(
                &owner,
                "/accounts",
                &json!({ "login": login, "password": PASSWORD, "role": "technician" }),
            )
            .await;
        assert_eq!(status, 201, "{out}");
    }
    let tao = session(&app, "sessions", "tao.tech", PASSWORD).await;
    let tao_id = tao["account_id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app
        .post(
            &owner,
            &format!("/accounts/{tao_id}/role"),
            &json!({ "role": "front_desk", "reason": "reception" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, renewed) = refresh(&app, &tao["refresh_token"]).await;
    assert_eq!(
        (status, renewed["role"].clone()),
        (200, json!("front_desk")),
        "a refresh carries the current role"
    );
    let (status, _) = app
        .post(
            &owner,
            &format!("/accounts/{tao_id}/deactivate"),
            &json!({ "reason": "left" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        refresh(&app, &renewed["refresh_token"]).await.0,
        401,
        "deactivation ends sessions"
    );

    let fei = session(&app, "sessions", "fei.front", PASSWORD).await;
    let elsewhere = session(&app, "sessions", "fei.front", PASSWORD).await;
    let access = fei["access_token"].as_str().unwrap_or_default();
    let (status, _) = app
        .post(
            access,
            "/auth/password",
            &json!({ "current_password": PASSWORD, "new_password": "a fresh passphrase" }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        refresh(&app, &elsewhere["refresh_token"]).await.0,
        401,
        "a new password ends other sessions"
    );
    assert_eq!(refresh(&app, &fei["refresh_token"]).await.0, 401);
    app.cleanup().await;
}
