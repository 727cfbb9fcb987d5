//! Login: password hashing parameters and failed-login throttling (issue 3 item 3).

use reqwest::StatusCode;
use serde_json::json;
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
