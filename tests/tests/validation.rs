//! Bad input gets a clear 4xx naming the field, never a 500, never a partial write.

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

async fn event_count(app: &TestApp) -> i64 {
    app.admin()
        .await
        .query_one("SELECT count(*) FROM es.events", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1)
}

fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["field"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn invalid_phone_id_number_email_and_birthday_are_each_named() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("valid").await;
    let before = event_count(&app).await;
    let (status, body) = app
        .post(
            &token,
            "/customers",
            &json!({
                "name": "张三", "phone": "12345678901", "id_number": "110105194912310021",
                "email": "not-an-email@", "birthday": "2999-01-01",
                "consent": { "privacy_policy_version": "v1" }
            }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let mut named = fields(&body);
    named.sort();
    assert_eq!(named, ["birthday", "email", "id_number", "phone"], "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("12345678901") && !text.contains("110105194912310021"),
        "errors never echo input"
    );

    for (field, value) in [
        ("phone", json!("+12")),
        ("id_number", json!("11010519491331002X")),
        ("id_number", json!("990105194912310021")),
        ("birthday", json!("1990-02-30")),
        ("email", json!("a@b")),
        ("name", json!("   ")),
        ("gender", json!("robot")),
        ("source_channel", json!("tv")),
        ("tags", json!(["ok", "bad;tag"])),
    ] {
        let mut body = json!({ "name": "李四", "phone": "13811110000", "consent": { "privacy_policy_version": "v1" } });
        body[field] = value.clone();
        let (status, out) = app.post(&token, "/customers", &body).await;
        assert_eq!(status, 400, "{field}={value}: {out}");
        assert_eq!(fields(&out), [field], "{field}={value}: {out}");
    }
    let (status, out) = app
        .post(
            &token,
            "/customers",
            &json!({ "name": "李四", "phone": "13811110000" }),
        )
        .await;
    assert_eq!((status, fields(&out)), (400, vec!["consent".to_owned()]));
    assert_eq!(event_count(&app).await, before, "nothing was written");
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_fields_oversized_bodies_and_junk_never_write_and_never_500() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("junk").await;
    let saved = app
        .register(&token, &json!({ "name": "周洁", "phone": "13822220000", "consent": { "privacy_policy_version": "v1" } }))
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    let before = event_count(&app).await;

    for extra in ["tenant_id", "role", "balance", "customer_id", "version"] {
        let mut body = json!({ "name": "周洁", "phone": "13822229999", "consent": { "privacy_policy_version": "v1" } });
        body[extra] = json!("x");
        let (status, out) = app.post(&token, "/customers", &body).await;
        assert_eq!(status, 400, "{extra}: {out}");
        assert!(
            out["message"].as_str().unwrap_or_default().contains(extra),
            "{out}"
        );
    }
    let (status, out) = app
        .patch(
            &token,
            &format!("/customers/{id}"),
            &json!({ "reason": "x", "changes": { "tenant_id": "y" } }),
        )
        .await;
    assert_eq!(status, 400, "{out}");

    let big = "x".repeat(100 * 1024);
    let (status, _) = app
        .post(
            &token,
            "/customers",
            &json!({ "name": big, "phone": "13822228888" }),
        )
        .await;
    assert_eq!(status, 413);

    let junk: Vec<Value> = vec![
        json!(null),
        json!([]),
        json!(42),
        json!("text"),
        json!({ "name": 5, "phone": true }),
        json!({ "name": ["a"], "phone": {} }),
        json!({ "consent": "yes" }),
        json!({ "tags": "vip" }),
        json!({ "name": "\u{0000}", "phone": "\u{202e}138" }),
        json!({ "reason": null, "changes": null }),
        json!({ "changes": { "phone": 1 }, "reason": "r" }),
        json!({ "changes": { "name": null }, "reason": "r" }),
        json!({ "changes": {}, "reason": "r" }),
        json!({ "changes": { "tags": [1, 2] }, "reason": "r", "expected_version": -1 }),
        json!({ "changes": { "birthday": "1990-13-01" }, "reason": "r", "expected_version": "one" }),
    ];
    let paths = [
        "/customers".to_owned(),
        format!("/customers/{id}"),
        "/customers/not-a-uuid".to_owned(),
        format!("/customers/{}", uuid::Uuid::new_v4()),
        "/auth/login".to_owned(),
    ];
    for body in &junk {
        for path in &paths {
            for method in [reqwest::Method::POST, reqwest::Method::PATCH] {
                let r = app
                    .http
                    .request(method.clone(), format!("{}{path}", app.command_url))
                    .bearer_auth(&token)
                    .json(body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let status = r.status().as_u16();
                assert!(
                    (400..500).contains(&status),
                    "{method} {path} {body} gave {status}"
                );
            }
        }
    }
    // Not JSON at all.
    let r = app
        .http
        .post(format!("{}/customers", app.command_url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .http
        .post(format!("{}/customers", app.command_url))
        .bearer_auth(&token)
        .body("name=x")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 400);
    // Query-service parameters.
    for q in [
        "page=0",
        "per_page=1000",
        "phone=abc",
        "phone_tail=12",
        "sort=drop",
        "created_from=yesterday",
        "id_number=123",
        "consistency_token=-5",
        "evil=1",
        "pinyin=%21%21",
        "page=x",
    ] {
        let (status, out) = app.get(&token, &format!("/customers?{q}")).await;
        assert_eq!(status, 400, "{q}: {out}");
    }
    for q in ["limit=0", "after=-1", "limit=99999"] {
        let (status, _) = app.get(&token, &format!("/audit/feed?{q}")).await;
        assert_eq!(status, 400, "{q}");
    }
    assert_eq!(event_count(&app).await, before, "nothing was written");
    app.cleanup().await;
}

#[tokio::test]
async fn a_second_registration_with_the_same_phone_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("dupes").await;
    let body = json!({ "name": "吴敏", "phone": "13833330000", "consent": { "privacy_policy_version": "v1" } });
    app.register(&token, &body).await;
    let mut again = body.clone();
    again["phone"] = json!("+86 138 3333 0000");
    again["name"] = json!("吴敏敏");
    let (status, out) = app.post(&token, "/customers", &again).await;
    assert_eq!(status, 409, "{out}");
    assert_eq!(fields(&out), ["phone"]);
    // Another tenant may have a customer with the same phone.
    let (_, other) = app.tenant("dupes-other").await;
    app.register(&other, &body).await;
    app.cleanup().await;
}
