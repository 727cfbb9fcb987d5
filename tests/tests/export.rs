//! Data-subject access (issue 3 item 7): a customer's export holds every record about
//! her and nothing about anyone else.

use serde_json::json;
use tests::spawn_app;

#[tokio::test]
async fn an_export_holds_everything_about_her_and_nothing_about_anyone_else() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("exporting").await;
    let her = app
        .register(
            &owner,
            &json!({ "name": "王熙凤", "phone": "13711112222", "id_number": "11010519491231002X",
                     "email": "xifeng@example.com", "allergies": "花粉", "tags": ["vip"],
                     "consent": { "privacy_policy_version": "2026-01", "marketing": true } }),
        )
        .await;
    let id = her["customer_id"].as_str().unwrap_or_default().to_owned();
    let other = app
        .register(
            &owner,
            &json!({ "name": "贾宝玉", "phone": "13733334444", "email": "baoyu@example.com",
                     "consent": { "privacy_policy_version": "2026-01" } }),
        )
        .await;
    let other_id = other["customer_id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = app
        .patch(&owner, &format!("/customers/{id}"), &json!({ "reason": "new address given at the desk", "changes": { "address": "南京市秦淮区" } }))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .patch(
            &owner,
            &format!("/customers/{other_id}"),
            &json!({ "reason": "his own change", "changes": { "address": "苏州市" } }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &owner,
            &format!("/customers/{id}/reveal"),
            &json!({ "field": "phone", "reason": "confirming a booking" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &owner,
            &format!("/customers/{other_id}/reveal"),
            &json!({ "field": "email", "reason": "his receipt" }),
        )
        .await;
    assert_eq!(status, 200);

    let (status, export) = app
        .post(
            &owner,
            &format!("/customers/{id}/export"),
            &json!({ "reason": "her access request" }),
        )
        .await;
    assert_eq!(status, 200, "{export}");
    let text = export.to_string();
    // Everything about her, in clear.
    assert_eq!(export["customer_id"], id.as_str());
    assert_eq!(export["record"]["name"], "王熙凤");
    assert_eq!(export["record"]["phone"], "+8613711112222");
    assert_eq!(export["record"]["id_number"], "11010519491231002X");
    assert_eq!(export["record"]["email"], "xifeng@example.com");
    assert_eq!(export["record"]["allergies"], "花粉");
    assert_eq!(export["record"]["address"], "南京市秦淮区");
    assert_eq!(export["record"]["tags"], json!(["vip"]));
    assert_eq!(export["consent"]["privacy_policy_version"], "2026-01");
    assert_eq!(export["consent"]["marketing"], true);
    let history = export["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 2, "{export}");
    assert_eq!(history[1]["reason"], "new address given at the desk");
    assert_eq!(history[1]["set"]["address"], "南京市秦淮区");
    assert!(history[0]["actor"]["account_id"].is_string());
    let disclosures = export["disclosures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(disclosures.len(), 1, "{export}");
    assert_eq!(disclosures[0]["what"], "phone");
    assert_eq!(disclosures[0]["reason"], "confirming a booking");
    // Nothing about anyone else.
    for his in [
        "贾宝玉",
        "13733334444",
        "baoyu@example.com",
        "苏州市",
        "his own change",
        "his receipt",
        other_id.as_str(),
    ] {
        assert!(!text.contains(his), "{his} is in her export");
    }
    // The export itself is logged.
    app.settle().await;
    let (_, log) = app
        .get(&owner, &format!("/audit/disclosures?customer_id={id}"))
        .await;
    let whats: Vec<&str> = log
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(whats, ["phone", "export"], "{log}");
    // A reason is required; another salon gets nothing.
    let (status, _) = app
        .post(
            &owner,
            &format!("/customers/{id}/export"),
            &json!({ "reason": "" }),
        )
        .await;
    assert_eq!(status, 400);
    let (_, stranger) = app.tenant("strangers").await;
    let (status, _) = app
        .post(
            &stranger,
            &format!("/customers/{id}/export"),
            &json!({ "reason": "curious" }),
        )
        .await;
    assert_eq!(status, 404);
    app.cleanup().await;
}
