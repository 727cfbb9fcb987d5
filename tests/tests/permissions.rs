//! The permission matrix, swept over every route of both services (issue 3 item 1): the
//! route list comes from the served OpenAPI documents, so a route without a rule fails
//! here, and every (route × caller) pair must get exactly what the matrix says.

use events_schema::customer::CustomerField;
use events_schema::envelope::Role;
use events_schema::ids::{AccountId, CustomerId, TenantId};
use events_schema::permissions::{self, Access, Service, ROLES};
use events_schema::token::{Claims, TokenSecret, API_AUDIENCE};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use tests::{spawn_app, TestApp};

fn mint(secret: &TokenSecret, tenant: &str, role: Role, exp_in: i64) -> String {
    mint_for(secret, tenant, role, exp_in, API_AUDIENCE)
}

fn mint_for(secret: &TokenSecret, tenant: &str, role: Role, exp_in: i64, aud: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    secret.issue(&Claims {
        sub: AccountId::new(),
        tenant: tenant
            .parse::<TenantId>()
            .unwrap_or_else(|e| panic!("tenant id: {e}")),
        role,
        aud: aud.into(),
        iat: now.min(now + exp_in),
        exp: now + exp_in,
        jti: uuid::Uuid::new_v4(),
        customer: (role == Role::Customer).then(CustomerId::new),
    })
}

/// One route as the OpenAPI document lists it.
struct DocRoute {
    service: Service,
    base: String,
    method: String,
    path: String,
    rule: String,
}

async fn documented_routes(app: &TestApp) -> Vec<DocRoute> {
    let mut out = Vec::new();
    for (service, base) in [
        (Service::Command, &app.command_url),
        (Service::Query, &app.query_url),
    ] {
        let doc: Value = app
            .http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        assert!(!paths.is_empty(), "{service:?}: no paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                out.push(DocRoute {
                    service,
                    base: base.clone(),
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    rule: op["x-belle-operation"].as_str().unwrap_or("").to_owned(),
                });
            }
        }
    }
    out
}

const PASSWORD: &str = "correct horse battery";
/// The phone of tenant A's customer, which no response may show in clear but a reveal.
const PHONE: &str = "13966660000";
/// Her resident ID number: in clear only in an export.
const ID_NUMBER: &str = "11010519491231002X";
/// A phone new to the salon, signed up through the sweep's call of the sign-in route.
const SIGN_UP_PHONE: &str = "13966669998";

/// A request that the route accepts when the caller may make it.
/// `secrets`: two refresh tokens (refresh, logout), a customer sign-in code for
/// `SIGN_UP_PHONE` and a category id.
fn sweep_service(category: &str, n: u64) -> Value {
    json!({ "category_id": category, "name": format!("Sweep service {n}"),
            "segments": { "work": 30 }, "price": "99.00" })
}

/// The bookable salon of the sweep: location, customer, service and technician ids.
static BOOKING_SETUP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn booking_setup() -> Vec<String> {
    BOOKING_SETUP.get().cloned().unwrap_or_default()
}

/// A free half hour of the sweep's technician for every call (`n` is never used
/// twice): 40 a day from the day after tomorrow.
fn free_start(n: u64) -> String {
    let n = i64::try_from(n).unwrap_or(0);
    let date = (chrono::Utc::now() + chrono::Duration::days(2 + n / 40))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let time = chrono::NaiveTime::MIN + chrono::Duration::minutes((n % 40) * 30);
    format!("{date}T{}", time.format("%H:%M"))
}

/// A local start at the sweep's salon `minutes` from now (negative: ago), to the minute.
fn start_in(minutes: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::minutes(minutes))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn sweep_staff(n: u64) -> Value {
    json!({ "name": "许诺", "position": "美容师", "level": format!("L{n}"), "hire_date": "2025-01-01" })
}

fn sample_body(route: &DocRoute, n: u64, secrets: &[String; 4], role: Option<Role>) -> Value {
    match (route.method.as_str(), route.path.as_str()) {
        ("POST", "/customers/{id}/erase") => json!({ "reference": format!("DSR-{n}") }),
        ("POST", "/customers/{id}/export") => json!({ "reason": "permission sweep" }),
        ("POST", "/customers/{id}/patch-tests") => json!({
            "service_id": booking_setup()[2], "done_on": "2026-01-01", "result": "passed"
        }),
        ("PUT", "/customers/{id}/consent/marketing") => json!({ "marketing": n.is_multiple_of(2) }),
        ("POST", "/customers/{id}/reveal") => json!({
            "field": if role == Some(Role::Technician) { "notes" } else { "phone" },
            "reason": "permission sweep"
        }),
        ("POST", "/auth/refresh") => json!({ "refresh_token": secrets[0] }),
        ("POST", "/auth/logout") => json!({ "refresh_token": secrets[1] }),
        ("POST", "/auth/customer/code") => {
            json!({ "tenant": "sweep-a", "phone": format!("1376666{n:04}") })
        }
        ("POST", "/auth/customer/sign-in") => json!({
            "tenant": "sweep-a", "phone": SIGN_UP_PHONE, "code": secrets[2], "name": "许愿",
            "consent": { "privacy_policy_version": "v1" }
        }),
        ("POST", "/categories") => json!({ "name": format!("Sweep {n}") }),
        ("POST", "/services/{id}/prices") => json!({
            "price": format!("{}.50", 90 + n % 9), "method": "market", "reason": "permission sweep"
        }),
        ("POST", "/services") => sweep_service(&secrets[3], n),
        ("PUT", "/services/{id}") => {
            json!({ "reason": "permission sweep", "details": sweep_service(&secrets[3], n) })
        }
        ("PUT", "/categories/{id}") => json!({ "name": format!("Sweep {n}") }),
        ("POST", "/locations") => json!({
            "name": format!("Branch {n}"), "time_zone": "Asia/Shanghai",
            "weekly_hours": { "mon": [{ "start": "09:00", "end": "18:00" }] }
        }),
        ("PUT", "/locations/{id}") => json!({
            "reason": "permission sweep",
            "settings": { "name": format!("Branch {n}"), "time_zone": "Asia/Shanghai" }
        }),
        ("POST", "/customers") => json!({
            "name": "许诺", "phone": format!("1396666{n:04}"),
            "consent": { "privacy_policy_version": "v1" }
        }),
        ("PATCH", "/customers/{id}") => json!({
            "reason": "permission sweep", "changes": { "tags": [format!("sweep{n}")] }
        }),
        ("POST", "/auth/login") => json!({
            "tenant": "sweep-a", "login": "greeter", "password": PASSWORD
        }),
        ("POST", "/auth/password") => json!({
            "current_password": PASSWORD, "new_password": format!("another horse {n}")
        }),
        ("POST", "/accounts") => json!({
            "login": format!("staff{n}"), "password": PASSWORD, "role": "technician"
        }),
        ("POST", "/accounts/{id}/role") => json!({
            "role": if n.is_multiple_of(2) { "front_desk" } else { "technician" }, "reason": "permission sweep"
        }),
        ("POST", "/accounts/{id}/deactivate") => json!({ "reason": "permission sweep" }),
        ("POST", "/staff") => sweep_staff(n),
        ("PUT", "/staff/{id}") => json!({ "reason": "permission sweep", "record": sweep_staff(n) }),
        ("POST", "/staff/{id}/deactivate") => json!({ "reason": "permission sweep" }),
        ("POST", "/staff/{id}/erase") => json!({ "reference": format!("DSR-{n}") }),
        ("POST", "/bookings/{id}/cancel") => json!({ "reason": "permission sweep" }),
        ("POST", "/bookings") => {
            let b = &booking_setup()[..];
            json!({ "location_id": b[0], "customer_id": b[1], "start": free_start(n),
                    "services": [{ "service_id": b[2], "staff_id": b[3] }] })
        }
        ("POST", "/me/bookings") => {
            let b = &booking_setup()[..];
            json!({ "location_id": b[0], "start": free_start(n),
                    "services": [{ "service_id": b[2], "staff_id": b[3] }] })
        }
        ("POST", "/bookings/{id}/reschedule" | "/me/bookings/{id}/reschedule") => {
            json!({ "start": free_start(n) })
        }
        ("POST", "/waitlist") => {
            // Another date for every call (one waiting entry per customer and date).
            let n = i64::try_from(n).unwrap_or(0);
            let date = (chrono::Utc::now() + chrono::Duration::days(30 + n % 300))
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .date_naive();
            let b = &booking_setup()[..];
            let mut body = json!({ "location_id": b[0], "date": date.to_string(), "from": "09:00",
                                   "to": "18:00", "services": [{ "service_id": b[2] }] });
            if role != Some(Role::Customer) {
                // A customer puts herself on the list; staff name whom.
                body["customer_id"] = json!(b[1]);
            }
            body
        }
        ("POST", "/staff/{id}/rota") => {
            let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default()
                + chrono::Duration::days(i64::try_from(n).unwrap_or(0));
            json!({ "action": "record_time_off", "from": day.to_string(), "to": day.to_string(), "kind": "other" })
        }
        ("POST", "/shift-templates") | ("PUT", "/shift-templates/{id}") => json!({
            "name": format!("Sweep shift {n}"), "intervals": [{ "start": "09:00", "end": "17:00" }],
            "reason": "permission sweep"
        }),
        ("PUT", "/settings") => json!({
            "reason": "permission sweep", "price_change_bound_percent": 20,
            "shift_reminder_leads_minutes": [n % 10_000 + 1]
        }),
        _ => json!({}),
    }
}

/// Creates an account through the API (as the owner) and logs it in.
async fn staff(app: &TestApp, owner: &str, login: &str, role: Role) -> (String, String) {
    let (status, out) = app
        .post(
            owner,
            "/accounts",
            &json!({ "login": login, "password": PASSWORD, "role": role.as_str() }),
        )
        .await;
    assert_eq!(status, 201, "creating {login}: {out}");
    let id = out["account_id"].as_str().unwrap_or_default().to_owned();
    (id, app.login("sweep-a", login, PASSWORD).await)
}

async fn call(
    app: &TestApp,
    route: &DocRoute,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, String) {
    let method =
        reqwest::Method::from_bytes(route.method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut req = app.http.request(method.clone(), url);
    if route.method == "POST" && route.path == "/services/{id}/images" {
        // Its body is the image itself.
        req = req
            .header("content-type", "image/png")
            .body(tests::data::TINY_PNG.to_vec());
    } else if method != reqwest::Method::GET {
        req = req.json(body);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{} {url}: {e}", route.method));
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_route_of_both_services_obeys_the_permission_matrix() {
    let app = spawn_app().await;
    let (tenant_a, owner_a) = app.tenant("sweep-a").await;
    let (tenant_b, other_tenant) = app.tenant("sweep-b").await;
    let other_customer = mint(&app.tokens, &tenant_b, Role::Customer, 600);
    let saved = app
        .register(
            &owner_a,
            &json!({ "name": "甘露", "phone": PHONE, "id_number": ID_NUMBER, "notes": "油性皮肤", "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    app.settle().await;

    // Erasing (allowed to the owner) takes a customer of its own.
    let doomed = app
        .register(
            &owner_a,
            &json!({ "name": "过客", "phone": "13966669999", "consent": { "privacy_policy_version": "v1" } }),
        )
        .await["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, created) = app
        .post(
            &owner_a,
            "/locations",
            &json!({ "name": "Sweep branch", "time_zone": "Asia/Shanghai" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let location = created["location_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, created) = app
        .post(&owner_a, "/categories", &json!({ "name": "Sweep" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let category = created["category_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, created) = app
        .post(&owner_a, "/services", &sweep_service(&category, 0))
        .await;
    assert_eq!(status, 201, "{created}");
    let service = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut staff_ids = Vec::new();
    for name in ["在职", "离职", "删除"] {
        let (status, hired) = app
            .post(
                &owner_a,
                "/staff",
                &json!({ "name": name, "position": "美容师", "level": "初级", "hire_date": "2025-01-01" }),
            )
            .await;
        assert_eq!(status, 201, "{hired}");
        staff_ids.push(hired["staff_id"].as_str().unwrap_or_default().to_owned());
    }
    // A salon open round the clock with a technician on shift, a published service
    // and a booking to cancel.
    let all_day = json!([{ "start": "00:00", "end": "23:59" }]);
    let week = json!({ "mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                       "fri": all_day, "sat": all_day, "sun": all_day });
    let (status, created) = app
        .post(
            &owner_a,
            "/locations",
            &json!({ "name": "Sweep salon", "time_zone": "Asia/Shanghai", "weekly_hours": week }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let salon = created["location_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, created) = app
        .post(&owner_a, "/services", &sweep_service(&category, 2))
        .await;
    assert_eq!(status, 201, "{created}");
    let bookable = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = app
        .post(
            &owner_a,
            &format!("/services/{bookable}/publish"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, hired) = app
        .post(
            &owner_a,
            "/staff",
            &json!({ "name": "预约", "position": "美容师", "level": "初级", "hire_date": "2025-01-01",
                     "skills": [bookable], "locations": [salon] }),
        )
        .await;
    assert_eq!(status, 201, "{hired}");
    let technician = hired["staff_id"].as_str().unwrap_or_default().to_owned();
    let today = chrono::Utc::now().date_naive().to_string();
    let (status, out) = app
        .post(
            &owner_a,
            &format!("/staff/{technician}/rota"),
            &json!({ "action": "set_pattern", "location_id": salon, "valid_from": today, "days": week }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let _ = BOOKING_SETUP.set(vec![
        salon.clone(),
        id.clone(),
        bookable.clone(),
        technician.clone(),
    ]);
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let (status, booked) = app
        .post(
            &owner_a,
            "/bookings",
            &json!({ "location_id": salon, "customer_id": id, "start": format!("{tomorrow}T12:00"),
                     "services": [{ "service_id": bookable, "staff_id": technician }] }),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    let booking = booked["booking_id"].as_str().unwrap_or_default().to_owned();
    // One booking per lifecycle route (each route's callers all succeed on theirs):
    // one to move, one begun half an hour ago to check in and complete, one begun two
    // hours ago to record as missed (visits begun are entered with an override).
    let mut lifecycle = Vec::new();
    for (start, why) in [
        (format!("{tomorrow}T14:00"), None),
        (start_in(-30), Some("walk-in entered late")),
        (start_in(-120), Some("walk-in entered late")),
    ] {
        let mut body = json!({ "location_id": salon, "customer_id": id, "start": start,
                               "services": [{ "service_id": bookable, "staff_id": technician }] });
        if let Some(why) = why {
            body["override_reason"] = json!(why);
        }
        let (status, booked) = app.post(&owner_a, "/bookings", &body).await;
        assert_eq!(status, 201, "{booked}");
        lifecycle.push(booked["booking_id"].as_str().unwrap_or_default().to_owned());
    }
    let (status, template) = app
        .post(
            &owner_a,
            "/shift-templates",
            &json!({ "name": "Sweep", "intervals": [{ "start": "09:00", "end": "12:00" }] }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let template = template["template_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // An image of the swept service (the sweep removes it), and one of a published
    // service the sweep leaves alone (the public and staff image routes show it).
    let image_of = |(status, out): (u16, Value)| {
        assert_eq!(status, 201, "{out}");
        out["image_id"].as_str().unwrap_or_default().to_owned()
    };
    let swept_image = image_of(
        app.upload_image(
            &owner_a,
            &service,
            Some("image/png"),
            tests::data::TINY_PNG.to_vec(),
        )
        .await,
    );
    let (status, created) = app
        .post(&owner_a, "/services", &sweep_service(&category, 1))
        .await;
    assert_eq!(status, 201, "{created}");
    let shown = created["service_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let public_image = image_of(
        app.upload_image(
            &owner_a,
            &shown,
            Some("image/jpeg"),
            tests::data::tiny_jpeg(),
        )
        .await,
    );
    let (status, out) = app
        .post(&owner_a, &format!("/services/{shown}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200, "{out}");
    let routes = documented_routes(&app).await;
    // The documents and the matrix list the same routes, each with its rule.
    for r in &routes {
        let rule = permissions::rule(r.service, &r.method, &r.path);
        assert!(
            rule.is_some(),
            "{:?} {} {} has no rule in permissions::ROUTES",
            r.service,
            r.method,
            r.path
        );
        assert_eq!(
            rule.map(Access::as_str),
            Some(r.rule.as_str()),
            "{} {}",
            r.method,
            r.path
        );
    }
    for rule in permissions::ROUTES {
        assert!(
            routes.iter().any(|r| r.service == rule.service
                && r.method == rule.method
                && r.path == rule.path),
            "{rule:?} is not in its service's OpenAPI document"
        );
    }

    // Real accounts and logins for every staff role; customers and the operator's
    // `system` have no staff account, so theirs are minted with the service's secret.
    let mut callers: Vec<(Role, String, bool)> = vec![(Role::Owner, owner_a.clone(), true)];
    for (i, role) in ROLES
        .into_iter()
        .filter(|r| !matches!(r, Role::Owner | Role::Customer))
        .enumerate()
    {
        let (_, token) = staff(&app, &owner_a, &format!("role{i}"), role).await;
        callers.push((role, token, true));
    }
    // A customer signed up by herself, with a code sent to her phone, and two
    // bookings of hers: one she cancels, one she moves.
    let customer = app.customer_session("sweep-a", "13966669997", "许愿").await;
    let mut hers = Vec::new();
    for time in ["16:00", "18:00"] {
        let (status, booked) = app
            .post(
                &owner_a,
                "/bookings",
                &json!({ "location_id": salon, "customer_id": customer["customer_id"],
                         "start": format!("{tomorrow}T{time}"),
                         "services": [{ "service_id": bookable, "staff_id": technician }] }),
            )
            .await;
        assert_eq!(status, 201, "{booked}");
        hers.push(booked["booking_id"].as_str().unwrap_or_default().to_owned());
    }
    app.settle().await;
    callers.push((
        Role::Customer,
        customer["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        true,
    ));
    for role in [Role::Customer, Role::System] {
        callers.push((role, mint(&app.tokens, &tenant_a, role, 600), false));
    }
    staff(&app, &owner_a, "greeter", Role::FrontDesk).await;
    let mut secrets = [String::new(), String::new(), String::new(), String::new()];
    for slot in secrets.iter_mut().take(2) {
        let (status, session) = app
            .post(
                "",
                "/auth/login",
                &json!({ "tenant": "sweep-a", "login": "greeter", "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 200, "{session}");
        *slot = session["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    // The signed-up customer's waitlist: an entry to leave, and two offers (of two
    // cancelled bookings) to accept and to decline; staff may act on them too.
    let on_day = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
    };
    let customer_token = customer["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // A technician of their own, so that the sweep's bookings never take their time.
    let (status, hired) = app
        .post(
            &owner_a,
            "/staff",
            &json!({ "name": "候补", "position": "美容师", "level": "初级", "hire_date": "2025-01-01",
                     "skills": [bookable], "locations": [salon] }),
        )
        .await;
    assert_eq!(status, 201, "{hired}");
    let waiter_tech = hired["staff_id"].as_str().unwrap_or_default().to_owned();
    let (status, out) = app
        .post(
            &owner_a,
            &format!("/staff/{waiter_tech}/rota"),
            &json!({ "action": "set_pattern", "location_id": salon, "valid_from": today, "days": week }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let mut waitlist_ids = Vec::new();
    for days in [20, 21, 22] {
        let date = on_day(days);
        let (status, joined) = app
            .post(
                &customer_token,
                "/waitlist",
                &json!({ "location_id": salon, "date": date.to_string(), "from": "11:00",
                         "to": "14:00", "services": [{ "service_id": bookable, "staff_id": waiter_tech }] }),
            )
            .await;
        assert_eq!(status, 201, "{joined}");
        if days == 22 {
            waitlist_ids.push(joined["entry_id"].as_str().unwrap_or_default().to_owned());
            continue;
        }
        let (status, freed) = app
            .post(
                &owner_a,
                "/bookings",
                &json!({ "location_id": salon, "customer_id": id, "start": format!("{date}T12:00"),
                         "services": [{ "service_id": bookable, "staff_id": waiter_tech }] }),
            )
            .await;
        assert_eq!(status, 201, "{freed}");
        let freed = freed["booking_id"].as_str().unwrap_or_default().to_owned();
        let (status, _) = app
            .post(
                &owner_a,
                &format!("/bookings/{freed}/cancel"),
                &json!({ "reason": "permission sweep" }),
            )
            .await;
        assert_eq!(status, 200);
        let offer: String = app
            .admin()
            .await
            .query_one(
                "SELECT offer_id::text FROM waitlist.offers WHERE slot_id = $1::text::uuid",
                &[&freed],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or_else(|e| panic!("no offer of the freed slot: {e}"));
        waitlist_ids.push(offer);
    }
    secrets[2] = app.sign_in_code("sweep-a", SIGN_UP_PHONE).await;
    secrets[3] = category.clone();
    let (target, _) = staff(&app, &owner_a, "target", Role::Technician).await;

    let other_secret = TokenSecret::generate();
    let unauthenticated = [
        ("no token", None),
        ("garbage", Some("garbage".to_owned())),
        (
            "forged",
            Some(mint(&other_secret, &tenant_a, Role::Owner, 600)),
        ),
        (
            "expired",
            Some(mint(&app.tokens, &tenant_a, Role::Owner, -1)),
        ),
        (
            "wrong prefix",
            Some(mint(&app.tokens, &tenant_a, Role::Owner, 600).replacen("belle1", "none", 1)),
        ),
    ];
    let n = AtomicU64::new(1);
    let mut checked = 0;
    for route in &routes {
        let subject = if route.path == "/waitlist/offers/{id}/accept" {
            &waitlist_ids[0]
        } else if route.path == "/waitlist/offers/{id}/decline" {
            &waitlist_ids[1]
        } else if route.path == "/waitlist/{id}/leave" {
            &waitlist_ids[2]
        } else if route.path.starts_with("/accounts/") {
            &target
        } else if route.path.starts_with("/locations/") {
            &location
        } else if route.path.starts_with("/categories/") {
            &category
        } else if route.path.starts_with("/services/") {
            &service
        } else if route.path == "/staff/{id}/deactivate" {
            &staff_ids[1]
        } else if route.path == "/staff/{id}/erase" {
            &staff_ids[2]
        } else if route.path.starts_with("/staff/") {
            &staff_ids[0]
        } else if route.path == "/bookings/{id}/reschedule" {
            &lifecycle[0]
        } else if route.path == "/bookings/{id}/check-in" || route.path == "/bookings/{id}/complete"
        {
            &lifecycle[1]
        } else if route.path == "/bookings/{id}/no-show" {
            &lifecycle[2]
        } else if route.path.starts_with("/bookings/") {
            &booking
        } else if route.path == "/me/bookings/{id}/cancel" {
            &hers[0]
        } else if route.path == "/me/bookings/{id}/reschedule" {
            &hers[1]
        } else if route.path.starts_with("/shift-templates/") {
            &template
        } else if route.path.ends_with("/erase") {
            &doomed
        } else {
            &id
        };
        let query = if (route.path == "/waitlist" || route.path == "/utilisation")
            && route.method == "GET"
        {
            format!(
                "?location_id={}",
                booking_setup().first().cloned().unwrap_or_default()
            )
        } else if route.path == "/locations/{id}/availability" {
            format!(
                "?service_id={}",
                booking_setup().get(2).cloned().unwrap_or_default()
            )
        } else {
            String::new()
        };
        let url = format!(
            "{}{}{query}",
            route.base,
            route
                .path
                .replace("{id}", subject)
                .replace(
                    "{image_id}",
                    if route.path.starts_with("/services/") {
                        &swept_image
                    } else {
                        &public_image
                    }
                )
                .replace("{stream_id}", &format!("customer-{id}"))
                .replace("{slug}", "sweep-a")
        );
        let body_for = |role| sample_body(route, n.fetch_add(1, Ordering::Relaxed), &secrets, role);
        let body = || body_for(None);
        let what = format!("{} {}", route.method, route.path);
        let access = permissions::rule(route.service, &route.method, &route.path);
        let Some(Access::Requires(op)) = access else {
            let (status, text) = call(&app, route, &url, None, &body()).await;
            assert!(
                (200..300).contains(&status),
                "public {what}: {status} {text}"
            );
            checked += 1;
            continue;
        };
        for (label, token) in &unauthenticated {
            let (status, text) = call(&app, route, &url, token.as_deref(), &body()).await;
            assert_eq!(status, 401, "{what} with {label}: {text}");
            assert!(!text.contains(PHONE) && !text.contains(ID_NUMBER));
            checked += 1;
        }
        for (role, token, has_account) in &callers {
            let (status, text) = call(&app, route, &url, Some(token), &body_for(Some(*role))).await;
            let who = role.as_str();
            // Her phone in clear only ever reaches someone who may unmask or export it,
            // asking to.
            if text.contains(ID_NUMBER) {
                assert!(
                    route.path.ends_with("/export")
                        && permissions::allows(*role, permissions::Operation::ExportCustomer),
                    "{what} as {who} shows the ID number in clear: {text}"
                );
            }
            if text.contains(PHONE) {
                let revealing = route.path.ends_with("/reveal")
                    && permissions::reveals(*role).contains(&CustomerField::Phone);
                let exporting = route.path.ends_with("/export")
                    && permissions::allows(*role, permissions::Operation::ExportCustomer);
                assert!(
                    revealing || exporting,
                    "{what} as {who} shows the phone in clear: {text}"
                );
            }
            if permissions::allows(*role, op) && *has_account {
                assert!(
                    (200..300).contains(&status),
                    "{what} as {who}: {status} {text}"
                );
            } else if permissions::allows(*role, op) {
                // Allowed, but the minted token names no account: anything but a
                // refusal or a failure.
                assert!(
                    ![401, 403].contains(&status) && status < 500,
                    "{what} as {who}: {status} {text}"
                );
            } else {
                assert_eq!(status, 403, "{what} as {who}: {text}");
                assert!(
                    !text.contains(&id),
                    "{what} as {who}: a refusal leaks the id"
                );
            }
            checked += 1;
        }
        // Another tenant's owner: her own data or nothing, never tenant A's.
        let (status, text) = call(&app, route, &url, Some(&other_tenant), &body()).await;
        assert!(
            !text.contains(PHONE) && !text.contains(ID_NUMBER),
            "{what} shows another tenant the phone"
        );
        if !permissions::allows(Role::Owner, op) {
            // A customer's own route: refused to any owner…
            assert_eq!(status, 403, "{what} from another tenant: {text}");
            // …and another tenant's customer finds nothing of tenant A's.
            if route.path.contains('{') {
                let (status, text) = call(&app, route, &url, Some(&other_customer), &body()).await;
                assert_eq!(status, 404, "{what} from another tenant's customer: {text}");
            }
        } else if route.path.contains('{') {
            assert_eq!(status, 404, "{what} from another tenant: {text}");
        } else if (route.method == "POST"
            && (route.path == "/bookings" || route.path == "/waitlist"))
            || (route.method == "GET" && route.path == "/utilisation")
        {
            // Tenant A's location is no location of hers.
            assert_eq!(status, 404, "{what} from another tenant: {text}");
        } else if route.method == "POST" && route.path == "/services" {
            // Tenant A's category is no category of hers.
            assert_eq!(status, 400, "{what} from another tenant: {text}");
            assert!(text.contains("category_id"), "{text}");
        } else {
            assert!(
                (200..300).contains(&status),
                "{what} from another tenant: {status} {text}"
            );
            assert!(
                !text.contains(&id),
                "{what} from another tenant shows tenant A's customer"
            );
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} requests checked");
    app.cleanup().await;
}

#[test]
fn readme_shows_the_permission_matrix_as_the_code_has_it() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    let table = permissions::markdown_matrix();
    assert!(
        readme.contains(&table),
        "README.md must contain the matrix exactly as permissions::markdown_matrix() renders it:\n{table}"
    );
}
