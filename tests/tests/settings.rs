//! A salon's settings (SVC-5's bound on one price change, STF-3's reminder lead times):
//! defaults until the owner changes them; the bound applies to the next price change.

use serde_json::json;
use tests::spawn_app;

#[tokio::test]
async fn the_owner_sets_the_price_change_bound_and_it_applies_at_once() {
    let app = spawn_app().await;
    let slug = "settings-salon";
    let (_, owner) = app.tenant(slug).await;
    let (_, manager) = super::staff::account(&app, &owner, slug, "mo.manager", "manager").await;
    let (status, defaults) = app.get(&manager, "/settings").await;
    assert_eq!(status, 200, "{defaults}");
    assert_eq!(defaults["version"], 0);
    assert_eq!(defaults["price_change_bound_percent"], 20);
    assert_eq!(defaults["shift_reminder_leads_minutes"], json!([720]));

    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let (status, service) = app
        .post(
            &owner,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "眉形设计",
                     "segments": { "work": 30 }, "price": "100.00" }),
        )
        .await;
    assert_eq!(status, 201, "{service}");
    let prices = format!(
        "/services/{}/prices",
        service["service_id"].as_str().unwrap_or_default()
    );
    let rise = json!({ "price": "135.00", "method": "market", "reason": "新材料" });
    let (status, out) = app.post(&owner, &prices, &rise).await;
    assert_eq!(status, 422, "+35 % is beyond the default 20 %: {out}");

    // Only owners change settings; every field is checked and nothing is written.
    let wider = json!({ "reason": "平价调整期", "price_change_bound_percent": 40,
                        "shift_reminder_leads_minutes": [60, 1440] });
    let (status, _) = app.put_json(&manager, "/settings", &wider).await;
    assert_eq!(status, 403);
    let (status, out) = app
        .put_json(
            &owner,
            "/settings",
            &json!({ "price_change_bound_percent": 0, "shift_reminder_leads_minutes": [60, -5, 60] }),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    let fields: Vec<&str> = out["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        [
            "reason",
            "price_change_bound_percent",
            "shift_reminder_leads_minutes[1]",
            "shift_reminder_leads_minutes[2]"
        ]
    );
    let (status, out) = app.put_json(&owner, "/settings", &wider).await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = app.put_json(&owner, "/settings", &wider).await;
    assert_eq!(status, 422, "nothing changed: {out}");

    let (status, out) = app.post(&owner, &prices, &rise).await;
    assert_eq!(status, 200, "+35 % is within the salon's 40 %: {out}");
    let (_, now) = app.get(&owner, "/settings").await;
    assert_eq!(now["version"], 1);
    assert_eq!(now["price_change_bound_percent"], 40);
    assert_eq!(now["shift_reminder_leads_minutes"], json!([60, 1440]));
    app.cleanup().await;
}
