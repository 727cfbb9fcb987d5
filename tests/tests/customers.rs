//! The customer record from POST to search result (CUS-1, CUS-2, CUS-5, CUS-6, CUS-7).

use serde_json::{json, Value};
use tests::spawn_app;

fn zhang_san() -> Value {
    json!({
        "name": "张三",
        "phone": "13812341234",
        "gender": "female",
        "birthday": "1990-05-12",
        "email": "zhangsan@example.com",
        "id_number": "11010519491231002X",
        "address": "北京市朝阳区建国路88号",
        "source_channel": "referral",
        "tags": ["vip", "hair"],
        "notes": "油性发质",
        "allergies": "对酒精过敏",
        "consent": { "privacy_policy_version": "2026-01", "marketing": true }
    })
}

#[tokio::test]
async fn a_registered_customer_is_found_by_phone_tail_name_pinyin_and_initials() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("salon-a").await;
    let saved = app.register(&token, &zhang_san()).await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    let ct = saved["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(saved["version"], 1);

    for query in [
        "phone=13812341234",
        "phone=%2B8613812341234",
        "phone_tail=1234",
        "q=1234",
        "name=%E5%BC%A0",
        "q=zhangsan",
        "q=zs",
        "pinyin=zhang",
        "tags=vip,hair",
        "created_from=2020-01-01",
        "phone=13812341234&tags=vip&sort=name",
        "phone=13812341234&pinyin=zs&page=1&per_page=1",
    ] {
        let (status, page) = app
            .get(
                &token,
                &format!("/customers?{query}&consistency_token={ct}"),
            )
            .await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page["total"], 1, "{query}: {page}");
        assert_eq!(page["items"][0]["customer_id"], id.as_str(), "{query}");
        assert_eq!(page["items"][0]["phone"], "138****1234", "{query}");
    }
    // An exact phone combined with a filter she does not match, or a page past hers.
    for (query, total) in [
        ("phone=13812341234&tags=nails", 0),
        ("phone=13812341234&created_to=2001-01-01", 0),
        ("phone=13812341234&page=2&per_page=1", 1),
    ] {
        let (status, page) = app.get(&token, &format!("/customers?{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page["total"], total, "{query}: {page}");
        assert_eq!(page["items"], json!([]), "{query}: {page}");
    }
    for miss in [
        "phone=13900000000",
        "q=ls",
        "tags=nails",
        "created_to=2001-01-01",
    ] {
        let (status, page) = app.get(&token, &format!("/customers?{miss}")).await;
        assert_eq!(status, 200, "{miss}: {page}");
        assert_eq!(page["total"], 0, "{miss}: {page}");
    }

    let (status, detail) = app.get(&token, &format!("/customers/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["name"], "张三");
    assert_eq!(detail["phone"], "138****1234");
    assert_eq!(detail["id_number"], "110***********002X");
    assert_ne!(detail["email"], "zhangsan@example.com");
    assert_ne!(detail["address"], "北京市朝阳区建国路88号");
    assert_eq!(detail["allergies_recorded"], true);
    assert_eq!(detail["consent"]["marketing"], true);
    app.cleanup().await;
}

#[tokio::test]
async fn a_change_with_a_reason_appears_in_the_history_with_who_when_what_and_why() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("salon-b").await;
    let saved = app.register(&token, &zhang_san()).await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    let (status, changed) = app
        .patch(
            &token,
            &format!("/customers/{id}"),
            &json!({ "reason": "客户换了新号码", "changes": { "phone": "13900001111", "email": null, "tags": ["vip"] } }),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["version"], 2);
    let ct = changed["consistency_token"].as_str().unwrap_or_default();

    let (status, history) = app
        .get(
            &token,
            &format!("/customers/{id}/history?consistency_token={ct}"),
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let entries = history.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["event_type"], "CustomerRegistered");
    let change = &entries[1];
    assert_eq!(change["event_type"], "CustomerChanged");
    assert_eq!(change["reason"], "客户换了新号码");
    assert_eq!(change["actor"]["role"], "owner");
    assert!(change["actor"]["account_id"].is_string());
    assert!(change["occurred_at"].is_string());
    let fields: Vec<(String, Value)> = change["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap_or_default().to_owned(),
                c["value"].clone(),
            )
        })
        .collect();
    assert!(
        fields.contains(&("phone".into(), json!("139****1111"))),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("email".into(), Value::Null)),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("tags".into(), json!(["vip"]))),
        "{fields:?}"
    );

    // The old number no longer finds her, the new one does; the old one is free again.
    let (_, old) = app.get(&token, "/customers?phone=13812341234").await;
    assert_eq!(old["total"], 0);
    let (_, new) = app.get(&token, "/customers?phone=13900001111").await;
    assert_eq!(new["total"], 1);
    let mut other = zhang_san();
    other["name"] = json!("李四");
    app.register(&token, &other).await;
    app.cleanup().await;
}

#[tokio::test]
async fn search_combines_conditions_pages_and_sorts() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("paging").await;
    let people = [
        ("安娜", "13600000001", vec!["vip"]),
        ("白雪", "13600000002", vec!["vip", "nails"]),
        ("陈静", "13600000003", vec!["nails"]),
        ("邓丽", "13600000004", vec!["vip"]),
        ("李四", "13600000005", vec![]),
    ];
    let mut last = String::new();
    for (name, phone, tags) in &people {
        let out = app
            .register(
                &token,
                &json!({ "name": name, "phone": phone, "tags": tags, "consent": { "privacy_policy_version": "v1" } }),
            )
            .await;
        last = out["consistency_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (_, p1) = app
        .get(
            &token,
            &format!("/customers?tags=vip&sort=name&per_page=2&consistency_token={last}"),
        )
        .await;
    assert_eq!(p1["total"], 3);
    assert_eq!(names(&p1), ["安娜", "白雪"]);
    let (_, p2) = app
        .get(&token, "/customers?tags=vip&sort=name&per_page=2&page=2")
        .await;
    assert_eq!(names(&p2), ["邓丽"]);
    let (_, desc) = app.get(&token, "/customers?sort=-name&per_page=1").await;
    assert_eq!(names(&desc), ["李四"]);
    let (_, newest) = app
        .get(&token, "/customers?sort=-created_at&per_page=1")
        .await;
    assert_eq!(names(&newest), ["李四"]);
    let (_, combined) = app.get(&token, "/customers?tags=nails&q=bx").await;
    assert_eq!(names(&combined), ["白雪"]);
    let (_, none) = app
        .get(&token, "/customers?tags=nails&phone=13600000004")
        .await;
    assert_eq!(none["total"], 0);
    app.cleanup().await;
}

#[tokio::test]
async fn an_id_number_finds_its_customer_exactly() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("idsearch").await;
    let saved = app.register(&token, &zhang_san()).await;
    let ct = saved["consistency_token"].as_str().unwrap_or_default();
    let (status, page) = app
        .get(
            &token,
            &format!("/customers?id_number=11010519491231002x&consistency_token={ct}"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    let other = tests::data::id_number(&mut rand::thread_rng());
    let (_, page) = app
        .get(&token, &format!("/customers?id_number={other}"))
        .await;
    assert_eq!(page["total"], 0);
    app.cleanup().await;
}

#[tokio::test]
async fn marketing_consent_is_separate_withdrawable_and_visible_on_the_record() {
    let app = tests::spawn_app().await;
    let (_, token) = app.tenant("consenting").await;
    let saved = app
        .register(
            &token,
            &serde_json::json!({ "name": "秦可卿", "phone": "13766665555",
                                 "consent": { "privacy_policy_version": "2026-01", "marketing": true } }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    let (_, detail) = app
        .get(
            &token,
            &format!(
                "/customers/{id}?consistency_token={}",
                saved["consistency_token"].as_str().unwrap_or_default()
            ),
        )
        .await;
    assert_eq!(detail["consent"]["marketing"], true);
    assert_eq!(detail["consent"]["privacy_policy_version"], "2026-01");
    assert!(
        detail["consent"]["privacy_policy_accepted_at"].is_string(),
        "{detail}"
    );
    assert_eq!(
        detail["consent"]["purpose"], "customer_record",
        "the default purpose is recorded: {detail}"
    );

    let path = format!("/customers/{id}/consent/marketing");
    let put = |body: serde_json::Value| {
        let app = &app;
        let (token, path) = (token.clone(), path.clone());
        async move {
            let r = app
                .http
                .put(format!("{}{path}", app.command_url))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let (status, withdrawn) = put(serde_json::json!({ "marketing": false })).await;
    assert_eq!(status, 200, "{withdrawn}");
    let (status, again) = put(serde_json::json!({ "marketing": false })).await;
    assert_eq!(status, 200);
    assert_eq!(
        again["version"], withdrawn["version"],
        "withdrawing twice records once"
    );
    assert_eq!(put(serde_json::json!({ "marketing": "no" })).await.0, 400);
    assert_eq!(
        put(serde_json::json!({ "marketing": false, "privacy_policy_version": "x" }))
            .await
            .0,
        400
    );

    let token_q = withdrawn["consistency_token"].as_str().unwrap_or_default();
    let (_, detail) = app
        .get(
            &token,
            &format!("/customers/{id}?consistency_token={token_q}"),
        )
        .await;
    assert_eq!(detail["consent"]["marketing"], false, "{detail}");
    assert_eq!(
        detail["consent"]["privacy_policy_version"], "2026-01",
        "the policy acceptance stays"
    );
    let (_, history) = app.get(&token, &format!("/customers/{id}/history")).await;
    let last = history
        .as_array()
        .and_then(|h| h.last().cloned())
        .unwrap_or_default();
    assert_eq!(last["event_type"], "MarketingConsentChanged", "{history}");
    assert_eq!(last["changes"][0]["field"], "marketing_consent");
    assert_eq!(last["changes"][0]["value"], "withdrawn");
    app.cleanup().await;
}

/// SEC-5: the purpose of her privacy-policy acceptance is recorded with its version and
/// time, and shown on her record; a read model that predates the purpose column gets it
/// from migration `projections/0005_consent_purpose`.
#[tokio::test]
async fn the_purpose_of_consent_is_recorded_and_shown_even_on_an_older_read_model() {
    let app = tests::spawn_app().await;
    let (_, token) = app.tenant("purposes").await;
    let (status, body) = app
        .post(
            &token,
            "/customers",
            &serde_json::json!({ "name": "秦岚", "phone": "13766664444",
                                 "consent": { "privacy_policy_version": "2026-01", "purpose": " " } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "consent.purpose", "{body}");

    // The live version as an earlier release created it: no purpose column.
    let admin = app.admin().await;
    admin
        .batch_execute(
            "DROP VIEW rm.customers;
             ALTER TABLE rm_customers_v1.customers DROP COLUMN privacy_policy_purpose;
             CREATE VIEW rm.customers WITH (security_invoker = true) AS SELECT * FROM rm_customers_v1.customers;
             GRANT SELECT ON rm.customers TO belle_projections, belle_query;",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let migration = projections::MIGRATIONS
        .iter()
        .find(|m| m.name == "consent_purpose")
        .unwrap_or_else(|| panic!("migration consent_purpose"));
    admin
        .batch_execute(migration.sql)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let saved = app
        .register(
            &token,
            &serde_json::json!({ "name": "秦岚", "phone": "13766664444",
                                 "consent": { "privacy_policy_version": "2026-01",
                                              "purpose": "会员档案、预约与服务记录" } }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default();
    let (status, detail) = app
        .get(
            &token,
            &format!(
                "/customers/{id}?consistency_token={}",
                saved["consistency_token"].as_str().unwrap_or_default()
            ),
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        detail["consent"]["purpose"], "会员档案、预约与服务记录",
        "{detail}"
    );
    assert_eq!(detail["consent"]["privacy_policy_version"], "2026-01");
    app.cleanup().await;
}
