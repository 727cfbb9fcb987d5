//! The catalogue (issue 4 item 2): categories (SVC-1) — every new tenant starts with
//! the six default categories; salons add, rename and order them — services with their
//! publication and prices (SVC-2, SVC-4/5), and their images.

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

fn facial(category: &str) -> Value {
    json!({
        "category_id": category,
        "name": "补水焕颜护理",
        "description": "深层清洁、补水导入与面膜",
        "segments": { "buffer_before": 5, "work": 40, "processing": 15, "finishing": 10, "buffer_after": 10 },
        "price": "268.00",
        "levels": [{ "level": "资深", "price": "328.00" },
                   { "level": "专家", "price": 388, "segments": { "work": 50, "processing": 15 } }],
        "suitable_groups": ["干性肌肤"],
        "contraindicated_groups": ["孕期", "面部皮肤破损"],
        "process_steps": ["卸妆清洁", "蒸汽软化", "补水导入", "面膜", "护肤收尾"],
        "required_skills": ["facial"],
        "required_room_kind": "facial_room",
        "max_simultaneous_bookings": 2
    })
}

async fn events_of(app: &tests::TestApp, stream_type: &str) -> i64 {
    app.admin()
        .await
        .query_one(
            "SELECT count(*) FROM es.events WHERE stream_type = $1",
            &[&stream_type],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn services_are_validated_changed_published_and_listed_publicly() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("svc-salon").await;
    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let beauty = categories[0]["category_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Invalid input names each field and writes nothing.
    let mut bad = facial(&beauty);
    bad["price"] = json!("268.005");
    bad["segments"] = json!({ "buffer_before": -5, "work": 0 });
    bad["levels"][0]["price"] = json!("0");
    bad["required_room_kind"] = json!("Facial Room");
    bad["max_simultaneous_bookings"] = json!(0);
    let (status, body) = app.post(&owner, "/services", &bad).await;
    assert_eq!(status, 400, "{body}");
    let mut fields: Vec<&str> = body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "levels[0].price",
            "max_simultaneous_bookings",
            "price",
            "required_room_kind",
            "segments.buffer_before"
        ],
        "{body}"
    );
    let mut zero = facial(&beauty);
    zero["segments"] = json!({ "work": 0 });
    let (status, body) = app.post(&owner, "/services", &zero).await;
    assert_eq!(status, 400);
    assert_eq!(body["fields"][0]["field"], "segments.work", "{body}");
    let (status, body) = app
        .post(
            &owner,
            "/services",
            &facial("01a22878-0000-7000-8000-000000000000"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "category_id");
    assert_eq!(events_of(&app, "service").await, 0, "nothing written");

    // Created unpublished: staff see it, the public does not.
    let (status, created) = app.post(&owner, "/services", &facial(&beauty)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, mut hidden) = app
        .post(&owner, "/services", &{
            let mut other = facial(&beauty);
            other["name"] = json!("内部培训项目");
            other
        })
        .await;
    assert_eq!(status, 201, "{hidden}");
    let hidden_id = hidden["service_id"].take();
    let (status, published) = app
        .post(&owner, &format!("/services/{id}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200, "{published}");
    let (status, again) = app
        .post(&owner, &format!("/services/{id}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200, "publishing twice records nothing new: {again}");
    assert_eq!(again["version"], published["version"]);
    let token = published["consistency_token"].as_str().unwrap_or_default();

    let (status, all) = app
        .get(&owner, &format!("/services?consistency_token={token}"))
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
    let public = app
        .http
        .get(format!("{}/public/svc-salon/catalogue", app.query_url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(public.status(), 200);
    assert_eq!(
        public
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=60")
    );
    let public: Value = public.json().await.unwrap_or(Value::Null);
    assert_eq!(public["salon"], "Salon svc-salon");
    assert_eq!(public["categories"].as_array().map(Vec::len), Some(6));
    let services = public["services"].as_array().cloned().unwrap_or_default();
    assert_eq!(services.len(), 1, "only the published one: {public}");
    assert_eq!(services[0]["name"], "补水焕颜护理");
    assert_eq!(services[0]["price"], "268.00");
    assert_eq!(services[0]["duration_minutes"], 80);
    assert_eq!(services[0]["levels"][1]["price"], "388");
    assert_eq!(services[0]["contraindicated_groups"][0], "孕期");
    assert_eq!(services[0]["max_simultaneous_bookings"], 2);
    assert!(!public
        .to_string()
        .contains(hidden_id.as_str().unwrap_or("-")));
    let (status, _) = app.get("", "/public/no-such-salon/catalogue").await;
    assert_eq!(status, 404);

    // A change needs a reason; the same details again change nothing.
    let mut cheaper = facial(&beauty);
    cheaper["description"] = json!("深层清洁、补水导入、面膜与肩颈放松");
    let (status, body) = app
        .put_json(
            &owner,
            &format!("/services/{id}"),
            &json!({ "details": cheaper }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "reason");
    let (status, body) = app
        .put_json(
            &owner,
            &format!("/services/{id}"),
            &json!({ "reason": "加入肩颈放松", "details": cheaper }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .put_json(
            &owner,
            &format!("/services/{id}"),
            &json!({ "reason": "again", "details": cheaper }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .post(&owner, &format!("/services/{id}/unpublish"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, all) = app
        .get(&owner, &format!("/services?consistency_token={token}"))
        .await;
    let mine = all
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service_id"] == id.as_str()).cloned())
        .unwrap_or(Value::Null);
    assert_eq!(mine["published"], false, "{all}");
    assert_eq!(mine["description"], "深层清洁、补水导入、面膜与肩颈放松");
    let (_, public) = app.get("", "/public/svc-salon/catalogue").await;
    assert_eq!(public["services"], json!([]), "{public}");
    app.cleanup().await;
}

/// A catalogue read model created before services existed (categories only) gets its
/// services and salon directory from migration `projections/0006_catalogue_services`,
/// their prices from `0007_price_schedule` and their images from `0008_service_images`.
#[tokio::test]
async fn an_older_catalogue_read_model_gains_services_from_its_migration() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    admin
        .batch_execute(
            "DROP VIEW rm.services; DROP VIEW rm.salon_directory; DROP VIEW rm.service_images;
             DROP TABLE rm_catalogue_v1.services; DROP TABLE rm_catalogue_v1.salon_directory;
             DROP TABLE rm_catalogue_v1.service_images;",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for name in ["catalogue_services", "price_schedule", "service_images"] {
        let migration = projections::MIGRATIONS
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("migration {name}"));
        admin
            .batch_execute(migration.sql)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let (_, owner) = app.tenant("svc-migrated").await;
    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let (status, created) = app
        .post(
            &owner,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "修眉",
                     "segments": { "work": 20 }, "price": "58.00" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, image) = app
        .upload_image(
            &owner,
            created["service_id"].as_str().unwrap_or_default(),
            Some("image/png"),
            tests::data::TINY_PNG.to_vec(),
        )
        .await;
    assert_eq!(status, 201, "{image}");
    let token = image["consistency_token"].as_str().unwrap_or_default();
    let (status, all) = app
        .get(&owner, &format!("/services?consistency_token={token}"))
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all[0]["name"], "修眉");
    assert_eq!(all[0]["images"][0]["image_id"], image["image_id"], "{all}");
    let (status, public) = app.get("", "/public/svc-migrated/catalogue").await;
    assert_eq!(status, 200, "the directory fills again: {public}");
    // The migrated tables are fenced like every read model.
    let fenced: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'rm_catalogue_v1'
               AND c.relname IN ('services', 'salon_directory', 'service_images')
               AND c.relrowsecurity AND c.relforcerowsecurity",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fenced, 3);
    app.cleanup().await;
}

/// SVC-4/5: prices change from an instant on, with a method and a reason; a change
/// beyond ±20 % needs an override with its reason; the price at any instant is exact on
/// both sides of an effective instant; the public list shows what is coming.
#[tokio::test]
async fn prices_change_from_an_instant_within_the_bound_or_with_an_override() {
    let app = spawn_app().await;
    let (_, owner) = app.tenant("price-salon").await;
    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let mut service = facial(categories[0]["category_id"].as_str().unwrap_or_default());
    service["price"] = json!("100.00");
    let (status, created) = app.post(&owner, "/services", &service).await;
    assert_eq!(status, 201, "{created}");
    let id = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    app.post(&owner, &format!("/services/{id}/publish"), &json!({}))
        .await;
    let prices = format!("/services/{id}/prices");

    // Bad input is named; prices never change through the details.
    let (status, body) = app
        .post(
            &owner,
            &prices,
            &json!({ "price": "1.001", "method": "guess", "effective_at": "soon" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let mut fields: Vec<&str> = body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["effective_at", "method", "price", "reason"],
        "{body}"
    );
    let (status, body) = app
        .post(
            &owner,
            &prices,
            &json!({ "price": "110.00", "method": "market", "reason": "r",
                                        "effective_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(status, 400, "history is never rewritten: {body}");
    let mut dearer = service.clone();
    dearer["price"] = json!("120.00");
    let (status, body) = app
        .put_json(
            &owner,
            &format!("/services/{id}"),
            &json!({ "reason": "r", "details": dearer }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["field"], "details.price");

    // +35 %: refused without an override, accepted with one.
    let effective = chrono::Utc::now() + chrono::Duration::days(2);
    let effective = effective.with_timezone(&chrono::Utc);
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let raise = json!({ "price": "135.00", "method": "cost", "reason": "材料成本上涨",
                        "effective_at": at(effective) });
    let (status, body) = app.post(&owner, &prices, &raise).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("35") && m.contains("20")),
        "{body}"
    );
    let mut raise = raise;
    raise["override_reason"] = json!("新配方，店长批准");
    let (status, body) = app.post(&owner, &prices, &raise).await;
    assert_eq!(status, 200, "{body}");
    let token = body["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Exact on both sides of the effective instant.
    let price_at = |t: chrono::DateTime<chrono::Utc>| {
        let (app, owner, id, token) = (&app, owner.clone(), id.clone(), token.clone());
        async move {
            let (status, body) = app
                .get(
                    &owner,
                    &format!(
                        "/services/{id}/price?consistency_token={token}&at={}",
                        at(t).replace('+', "%2B")
                    ),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["price"].as_str().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(price_at(chrono::Utc::now()).await, "100.00");
    assert_eq!(
        price_at(effective - chrono::Duration::microseconds(1)).await,
        "100.00"
    );
    assert_eq!(price_at(effective).await, "135.00");
    assert_eq!(
        price_at(effective + chrono::Duration::days(30)).await,
        "135.00"
    );
    let (status, _) = app
        .get(
            &owner,
            &format!("/services/{id}/price?at=2020-01-01T00:00:00Z"),
        )
        .await;
    assert_eq!(status, 404, "before the service existed");

    // A small change now needs no override; the public list shows today's price and
    // the change to come, with its date.
    let (status, body) = app
        .post(
            &owner,
            &prices,
            &json!({ "price": "110.00", "method": "market", "reason": "周边同类调价" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, all) = app
        .get(&owner, &format!("/services?consistency_token={token}"))
        .await;
    assert_eq!(all[0]["price"], "110.00", "{all}");
    let (_, public) = app.get("", "/public/price-salon/catalogue").await;
    let listed = &public["services"][0];
    assert_eq!(listed["price"], "110.00", "{public}");
    assert_eq!(listed["upcoming_prices"][0]["price"], "135.00");
    assert_eq!(listed["upcoming_prices"][0]["method"], "cost");
    assert!(listed["upcoming_prices"][0]["effective_at"].is_string());
    app.assert_replays_agree().await;
    app.cleanup().await;
}

/// Rows of `media.images` and events of one service's stream (as the administrator).
async fn written(app: &tests::TestApp, service: &str) -> (i64, i64) {
    let row = app
        .admin()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM media.images),
                    (SELECT count(*) FROM es.events WHERE stream_id = 'service-' || $1)",
            &[&service],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (row.get(0), row.get(1))
}

/// GETs from query-service with an optional token and `If-None-Match`.
async fn fetch(
    app: &tests::TestApp,
    token: Option<&str>,
    path: &str,
    if_none_match: Option<&str>,
) -> reqwest::Response {
    let mut req = app.http.get(format!("{}{path}", app.query_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn header<'r>(r: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Issue 4 item 2: images are uploaded (type and size checked, stored in PostgreSQL),
/// listed with their services and served by query-service with caching headers; the
/// public sees only published services' images.
#[tokio::test]
async fn service_images_are_checked_stored_and_served_with_caching_headers() {
    use tests::data::{tiny_jpeg, TINY_PNG};
    let app = spawn_app().await;
    let (_, owner) = app.tenant("img-salon").await;
    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let beauty = categories[0]["category_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, created) = app.post(&owner, "/services", &facial(&beauty)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Refused uploads name `image` and write nothing: no bytes, no event.
    let before = written(&app, &id).await;
    assert_eq!(before, (0, 1));
    let mut too_large = TINY_PNG.to_vec();
    too_large.resize(2 * 1024 * 1024 + 1, 0);
    // Beyond even the route's body limit: refused unread, with the same answer.
    let mut far_too_large = TINY_PNG.to_vec();
    far_too_large.resize(3 * 1024 * 1024, 0);
    let text = b"<svg onload=alert(1)>not a picture</svg>".to_vec();
    for (what, content_type, bytes) in [
        ("2 MiB + 1", Some("image/png"), too_large),
        ("3 MiB", Some("image/png"), far_too_large),
        ("text declared a PNG", Some("image/png"), text.clone()),
        (
            "a PNG declared a JPEG",
            Some("image/jpeg"),
            TINY_PNG.to_vec(),
        ),
        ("SVG", Some("image/svg+xml"), text),
        ("JSON", Some("application/json"), b"{}".to_vec()),
        ("no Content-Type", None, TINY_PNG.to_vec()),
        ("empty", Some("image/png"), Vec::new()),
    ] {
        let (status, body) = app.upload_image(&owner, &id, content_type, bytes).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["fields"][0]["field"], "image", "{what}: {body}");
        assert_eq!(written(&app, &id).await, before, "{what}: nothing written");
    }
    let (status, body) = app
        .upload_image(&owner, "not-a-uuid", Some("image/png"), TINY_PNG.to_vec())
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .upload_image(
            &owner,
            "01a22878-0000-7000-8000-000000000000",
            Some("image/png"),
            TINY_PNG.to_vec(),
        )
        .await;
    assert_eq!(status, 404, "no such service: {body}");
    let (status, body) = app
        .post(
            &owner,
            "/accounts",
            &json!({ "login": "tech", "password": "correct horse battery", "role": "technician" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let technician = app
        .login("img-salon", "tech", "correct horse battery")
        .await;
    let (status, _) = app
        .upload_image(&technician, &id, Some("image/png"), TINY_PNG.to_vec())
        .await;
    assert_eq!(status, 403, "a technician manages no catalogue");
    assert_eq!(written(&app, &id).await, before);

    // A PNG with alt text (under an Idempotency-Key: sent twice, stored once) and a JPEG.
    let alt = "焕颜护理：补水导入";
    let upload_png = || {
        app.http
            .post(format!("{}/services/{id}/images", app.command_url))
            .query(&[("alt", alt)])
            .bearer_auth(&owner)
            .header("content-type", "image/png")
            .header("idempotency-key", "png-upload-1")
            .body(TINY_PNG.to_vec())
            .send()
    };
    let first = upload_png().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.status(), 201);
    let png: Value = first.json().await.unwrap_or(Value::Null);
    let again: Value = upload_png()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or(Value::Null);
    assert_eq!(again, png, "the replay answers the first outcome");
    let reused = app
        .http
        .post(format!("{}/services/{id}/images", app.command_url))
        .bearer_auth(&owner)
        .header("content-type", "image/jpeg")
        .header("idempotency-key", "png-upload-1")
        .body(tiny_jpeg())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reused.status(), 422, "the key's request was another image");
    let (status, jpeg) = app
        .upload_image(&owner, &id, Some("image/jpeg"), tiny_jpeg())
        .await;
    assert_eq!(status, 201, "{jpeg}");
    assert_eq!(written(&app, &id).await, (2, 3), "two images, two events");
    let png_id = png["image_id"].as_str().unwrap_or_default().to_owned();
    let jpeg_id = jpeg["image_id"].as_str().unwrap_or_default().to_owned();
    let (_, events) = app
        .get(&owner, &format!("/audit/streams/service-{id}/events"))
        .await;
    let added = events
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|e| e["event_type"] == "ServiceImageAdded")
                .cloned()
        })
        .unwrap_or(Value::Null);
    assert_eq!(added["payload"]["image_id"], png_id.as_str(), "{events}");
    assert_eq!(added["payload"]["content_type"], "image/png");
    assert_eq!(added["payload"]["size"], TINY_PNG.len());
    assert_eq!(added["payload"]["alt"], alt);

    // Staff see the images at once (the bytes are no read model) and in the list.
    let staff = fetch(&app, Some(&owner), &format!("/images/{png_id}"), None).await;
    assert_eq!(staff.status(), 200);
    assert_eq!(
        header(&staff, "cache-control"),
        Some("private, max-age=86400")
    );
    assert_eq!(staff.bytes().await.unwrap_or_default(), TINY_PNG);
    let token = jpeg["consistency_token"].as_str().unwrap_or_default();
    let (_, all) = app
        .get(&owner, &format!("/services?consistency_token={token}"))
        .await;
    assert_eq!(
        all[0]["images"][0]["url"],
        format!("/images/{png_id}"),
        "{all}"
    );
    assert_eq!(all[0]["images"][0]["alt"], alt);
    assert_eq!(all[0]["images"][1]["image_id"], jpeg_id.as_str());
    assert_eq!(all[0]["images"][1]["alt"], Value::Null);

    // Unpublished: not public, neither in the catalogue nor by its URL.
    let public_png = format!("/public/img-salon/images/{png_id}");
    assert_eq!(fetch(&app, None, &public_png, None).await.status(), 404);

    // Published: the public catalogue lists it, Chinese name intact, with both images.
    let (status, published) = app
        .post(&owner, &format!("/services/{id}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200, "{published}");
    app.settle().await;
    let (status, catalogue) = app.get("", "/public/img-salon/catalogue").await;
    assert_eq!(status, 200, "{catalogue}");
    let listed = &catalogue["services"][0];
    assert_eq!(listed["name"], "补水焕颜护理", "{catalogue}");
    let urls: Vec<&str> = listed["images"]
        .as_array()
        .map(|i| i.iter().filter_map(|i| i["url"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        urls,
        [
            public_png.clone(),
            format!("/public/img-salon/images/{jpeg_id}")
        ]
    );
    assert_eq!(listed["images"][0]["alt"], alt);
    for (url, bytes, content_type) in [
        (urls[0], TINY_PNG.to_vec(), "image/png"),
        (urls[1], tiny_jpeg(), "image/jpeg"),
    ] {
        let served = fetch(&app, None, url, None).await;
        assert_eq!(served.status(), 200, "{url}");
        assert_eq!(header(&served, "content-type"), Some(content_type));
        assert_eq!(
            header(&served, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(&served, "x-content-type-options"), Some("nosniff"));
        let etag = header(&served, "etag").unwrap_or_default().to_owned();
        assert_eq!(etag.len(), 66, "a quoted SHA-256: {etag}");
        assert_eq!(served.bytes().await.unwrap_or_default(), bytes, "{url}");
        let cached = fetch(&app, None, url, Some(&etag)).await;
        assert_eq!(cached.status(), 304, "{url}");
        assert_eq!(header(&cached, "etag"), Some(etag.as_str()));
        assert!(cached.bytes().await.unwrap_or_default().is_empty());
        let stale = fetch(&app, None, url, Some("\"0000\"")).await;
        assert_eq!(stale.status(), 200, "another tag gets the bytes");
    }

    // Another salon sees neither the image nor, under its own slug, anything.
    let (_, other) = app.tenant("img-other").await;
    app.settle().await;
    let theirs = fetch(&app, Some(&other), &format!("/images/{png_id}"), None).await;
    assert_eq!(theirs.status(), 404);
    let (status, _) = app
        .upload_image(&other, &id, Some("image/png"), TINY_PNG.to_vec())
        .await;
    assert_eq!(status, 404, "another salon's service");
    let under_other_slug = format!("/public/img-other/images/{png_id}");
    assert_eq!(
        fetch(&app, None, &under_other_slug, None).await.status(),
        404
    );
    assert_eq!(
        fetch(&app, None, "/public/img-salon/images/not-an-id", None)
            .await
            .status(),
        404
    );

    // Removed: gone from the catalogue and its public URL, still there for staff;
    // removing again changes nothing; an image the service never showed is 404.
    let remove = |image: String| {
        let (app, owner, id) = (&app, owner.clone(), id.clone());
        async move {
            let r = app
                .http
                .delete(format!("{}/services/{id}/images/{image}", app.command_url))
                .bearer_auth(owner)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, removed) = remove(png_id.clone()).await;
    assert_eq!(status, 200, "{removed}");
    let (status, twice) = remove(png_id.clone()).await;
    assert_eq!(status, 200, "{twice}");
    assert_eq!(twice["version"], removed["version"], "nothing recorded");
    let (status, _) = remove(uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(status, 404);
    app.settle().await;
    assert_eq!(fetch(&app, None, &public_png, None).await.status(), 404);
    let (_, catalogue) = app.get("", "/public/img-salon/catalogue").await;
    assert_eq!(
        catalogue["services"][0]["images"].as_array().map(Vec::len),
        Some(1),
        "{catalogue}"
    );
    let staff = fetch(&app, Some(&owner), &format!("/images/{png_id}"), None).await;
    assert_eq!(staff.status(), 200, "the log still names it");

    // Unpublished again: its remaining image leaves the public too.
    app.post(&owner, &format!("/services/{id}/unpublish"), &json!({}))
        .await;
    app.settle().await;
    assert_eq!(fetch(&app, None, urls[1], None).await.status(), 404);
    app.cleanup().await;
}

/// A service shows at most ten images; uploads to one service at once all land (a
/// decision on a stale version is made again on fresh state).
#[tokio::test]
async fn a_service_shows_at_most_ten_images_and_simultaneous_uploads_all_land() {
    use tests::data::TINY_PNG;
    let app = spawn_app().await;
    let (tenant, owner) = app.tenant("img-limit").await;
    let (other_tenant, _) = app.tenant("img-limit-b").await;
    app.settle().await;
    let (_, categories) = app.get(&owner, "/categories").await;
    let (status, created) = app
        .post(
            &owner,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "美甲彩绘",
                     "segments": { "work": 60 }, "price": "128.00" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let together = futures::future::join_all(
        (0..3).map(|_| app.upload_image(&owner, &id, Some("image/png"), TINY_PNG.to_vec())),
    )
    .await;
    for (status, body) in &together {
        assert_eq!(*status, 201, "{body}");
    }
    for _ in 3..10 {
        let (status, body) = app
            .upload_image(&owner, &id, Some("image/png"), TINY_PNG.to_vec())
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .upload_image(&owner, &id, Some("image/png"), TINY_PNG.to_vec())
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(written(&app, &id).await, (10, 11));

    // The query role reads the bytes of the tenant its transaction set, and only those.
    let pool = events_schema::db::app_pool(&app.db_url, "belle_query", None, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut client = pool.get().await.unwrap_or_else(|e| panic!("{e}"));
    let count = "SELECT count(*) FROM media.images";
    for (tenant, expected) in [(None, 0), (Some(&tenant), 10), (Some(&other_tenant), 0)] {
        let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        if let Some(t) = tenant {
            tx.execute("SELECT set_config('belle.tenant_id', $1, true)", &[t])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let seen: i64 = tx
            .query_one(count, &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen, expected, "belle_query with tenant {tenant:?}");
        drop(tx);
    }
    let written_by_query = client
        .execute(
            "INSERT INTO media.images (tenant_id, image_id, content_type, size, sha256, bytes)
             VALUES ($1::text::uuid, gen_random_uuid(), 'image/png', 1,
                     repeat('0', 64), '\\x00')",
            &[&tenant],
        )
        .await;
    assert!(written_by_query.is_err(), "belle_query wrote an image");
    drop(client);
    pool.close();
    app.cleanup().await;
}
