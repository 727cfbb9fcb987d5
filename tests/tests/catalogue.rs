//! The catalogue's categories (issue 4 item 2, SVC-1): every new tenant starts with the
//! six default categories; salons add, rename and order them.

use serde_json::{json, Value};
use tests::spawn_app;

#[tokio::test]
async fn new_tenants_get_the_six_default_categories_which_they_can_rename_and_order() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("cat-salon").await;
    app.settle().await;
    let (status, list) = app.get(&owner, "/categories").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list
        .as_array()
        .map(|l| l.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        ["基础美容", "美发", "美甲", "仪器项目", "特色项目", "其他"]
    );
    assert_eq!(list[1]["description"], "造型设计、烫发、染发、头发护理");

    // Add one, move it first, rename another.
    let (status, added) = app
        .post(
            &owner,
            "/categories",
            &json!({ "name": "头皮护理", "description": "头皮检测与养护" }),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let added_id = added["category_id"].as_str().unwrap_or_default().to_owned();
    let put = |id: String, body: Value| {
        let (app, owner) = (&app, owner.clone());
        async move {
            let r = app
                .http
                .put(format!("{}/categories/{id}", app.command_url))
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
    let (status, moved) = put(added_id.clone(), json!({ "position": 0 })).await;
    assert_eq!(status, 400, "positions start at 1: {moved}");
    assert_eq!(moved["fields"][0]["field"], "position");
    let (status, moved) = put(added_id.clone(), json!({ "position": 1 })).await;
    assert_eq!(status, 200, "{moved}");
    let (status, same) = put(added_id.clone(), json!({ "position": 1 })).await;
    assert_eq!(status, 422, "nothing changed: {same}");
    let others = list[5]["category_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, renamed) = put(others, json!({ "name": "身心健康", "expected_version": 1 })).await;
    assert_eq!(status, 200, "{renamed}");
    let token = renamed["consistency_token"].as_str().unwrap_or_default();

    // The rename's token covers every earlier write of this salon too.
    let (status, list) = app
        .get(&owner, &format!("/categories?consistency_token={token}"))
        .await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list
        .as_array()
        .map(|l| l.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names[..3],
        ["基础美容", "头皮护理", "美发"],
        "moved to position 1 (ties in name order): {list}"
    );
    assert!(
        names.contains(&"身心健康") && !names.contains(&"其他"),
        "{list}"
    );

    // Bad input names its field and writes nothing; other salons see their own only.
    let (status, body) = app
        .post(&owner, "/categories", &json!({ "name": "" }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "name");
    let (status, body) = app
        .post(
            &owner,
            "/categories",
            &json!({ "name": "X", "tenant_id": "y" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, other) = app.tenant("cat-other").await;
    app.settle().await;
    let (_, theirs) = app.get(&other, "/categories").await;
    assert_eq!(theirs.as_array().map(Vec::len), Some(6), "{theirs}");
    let (status, _) = put(added_id, json!({ "name": "stolen" })).await;
    assert_eq!(status, 200, "the owner's own category");
    app.cleanup().await;
}
