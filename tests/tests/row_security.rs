//! Row-level security on the read models (SEC-2, issue 3 item 4): the service roles own
//! no table, cannot bypass RLS, and see a tenant's rows only inside a transaction that
//! set that tenant.

use serde_json::json;
use tests::{spawn_app, TestApp};

const SERVICE_ROLES: [&str; 3] = ["belle_command", "belle_projections", "belle_query"];

/// Every read-model table (schema.table) and whether it has a tenant_id column.
async fn read_model_tables(app: &TestApp) -> Vec<(String, bool)> {
    app.admin()
        .await
        .query(
            "SELECT n.nspname || '.' || c.relname,
                    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                            AND a.attname = 'tenant_id' AND NOT a.attisdropped)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname ~ '^rm_[a-z_]+_v[0-9]+$' AND c.relkind IN ('r', 'p')
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("listing read-model tables: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn count(client: &impl deadpool_postgres::GenericClient, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("counting {table}: {e}"))
}

async fn set_tenant(tx: &deadpool_postgres::Transaction<'_>, tenant: &str) {
    tx.execute("SELECT set_config('belle.tenant_id', $1, true)", &[&tenant])
        .await
        .unwrap_or_else(|e| panic!("set tenant: {e}"));
}

#[tokio::test]
async fn the_service_roles_own_no_tables_and_cannot_bypass_row_level_security() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("rls-owner").await;
    app.register(
        &token,
        &json!({ "name": "林静", "phone": "13855550001", "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    app.settle().await;
    let admin = app.admin().await;

    let owned: Vec<String> = admin
        .query(
            "SELECT r.rolname || ' owns ' || n.nspname || '.' || c.relname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_roles r ON r.oid = c.relowner
             WHERE r.rolname = ANY($1)",
            &[&SERVICE_ROLES.to_vec()],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(owned.is_empty(), "service roles own relations: {owned:?}");
    let schemas: Vec<String> = admin
        .query(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
             WHERE r.rolname = ANY($1)",
            &[&SERVICE_ROLES.to_vec()],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(schemas.is_empty(), "service roles own schemas: {schemas:?}");
    for role in SERVICE_ROLES {
        let row = admin
            .query_one(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        let flags: (bool, bool, bool, bool) = (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(
            flags,
            (false, false, false, false),
            "{role}: super, bypassrls, createrole, createdb"
        );
    }

    let tables = read_model_tables(&app).await;
    assert!(
        tables.iter().any(|(_, tenant)| *tenant),
        "no read-model tables found"
    );
    for (table, _) in &tables {
        let (name, rel) = table.split_once('.').unwrap_or_default();
        let row = admin
            .query_one(
                "SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                &[&name, &rel],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert!(
            row.get::<_, bool>(0) && row.get::<_, bool>(1),
            "{table}: RLS must be enabled and forced"
        );
    }

    // Not being owners, the roles cannot switch RLS off.
    let projector = app
        .projection_pool
        .get()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (table, _) in &tables {
        let refused = projector
            .batch_execute(&format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"))
            .await;
        assert!(refused.is_err(), "belle_projections altered {table}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn with_no_tenant_set_the_service_roles_see_no_read_model_rows() {
    let app = spawn_app().await;
    let (a_id, a) = app.tenant("rls-a").await;
    let (b_id, _) = app.tenant("rls-b").await;
    for i in 0..3 {
        let saved = app
            .register(
                &a,
                &json!({ "name": "周密", "phone": format!("1385555100{i}"), "consent": { "privacy_policy_version": "v1" } }),
            )
            .await;
        // A disclosure too, so that every read model holds a row of tenant A.
        let id = saved["customer_id"].as_str().unwrap_or_default();
        let (status, _) = app
            .post(
                &a,
                &format!("/customers/{id}/reveal"),
                &json!({ "field": "phone", "reason": "rls test" }),
            )
            .await;
        assert_eq!(status, 200);
    }
    // And a location, open round the clock.
    let all_day = json!([{ "start": "00:00", "end": "23:59" }]);
    let all_week = json!({ "mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                           "fri": all_day, "sat": all_day, "sun": all_day });
    let (status, _) = app
        .post(
            &a,
            "/locations",
            &json!({ "name": "RLS branch", "time_zone": "Asia/Shanghai", "weekly_hours": all_week }),
        )
        .await;
    assert_eq!(status, 201);
    // And a service.
    app.settle().await;
    let (_, categories) = app.get(&a, "/categories").await;
    let (status, service) = app
        .post(
            &a,
            "/services",
            &json!({ "category_id": categories[0]["category_id"], "name": "RLS",
                     "segments": { "work": 30 }, "price": "1.00" }),
        )
        .await;
    assert_eq!(status, 201);
    // And a staff member with a rota, and a shift template.
    let (_, locations) = app.get(&a, "/locations").await;
    let location = locations[0]["location_id"].clone();
    let (status, hired) = app
        .post(
            &a,
            "/staff",
            &json!({ "name": "张伟", "position": "美容师", "level": "初级",
                     "hire_date": "2025-01-01", "locations": [location],
                     "skills": [service["service_id"]] }),
        )
        .await;
    assert_eq!(status, 201, "{hired}");
    // And a booking of it (out of hours: the owner overrides).
    let service_id = service["service_id"].as_str().unwrap_or_default();
    let (status, _) = app
        .post(&a, &format!("/services/{service_id}/publish"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let (_, found) = app.get(&a, "/customers?per_page=1").await;
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    let (status, booked) = app
        .post(
            &a,
            "/bookings",
            &json!({ "location_id": location, "customer_id": found["items"][0]["customer_id"],
                     "start": format!("{tomorrow}T12:00"), "override_reason": "rls test",
                     "services": [{ "service_id": service_id, "staff_id": hired["staff_id"] }] }),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    // And a waitlist with an offer: another customer waits, the booking is cancelled.
    let staff_id = hired["staff_id"].as_str().unwrap_or_default();
    let (status, out) = app
        .post(
            &a,
            &format!("/staff/{staff_id}/rota"),
            &json!({ "action": "set_pattern", "location_id": location,
                     "valid_from": chrono::Utc::now().date_naive().to_string(), "days": all_week }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (_, found) = app.get(&a, "/customers?per_page=2").await;
    let (status, out) = app
        .post(
            &a,
            "/waitlist",
            &json!({ "location_id": location, "customer_id": found["items"][1]["customer_id"],
                     "date": tomorrow.to_string(), "from": "11:00", "to": "14:00",
                     "services": [{ "service_id": service_id }] }),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let (status, _) = app
        .post(
            &a,
            &format!(
                "/bookings/{}/cancel",
                booked["booking_id"].as_str().unwrap_or_default()
            ),
            &json!({ "reason": "rls test" }),
        )
        .await;
    assert_eq!(status, 200);
    // And a booking that stays (utilisation counts live bookings only).
    let (status, kept) = app
        .post(
            &a,
            "/bookings",
            &json!({ "location_id": location, "customer_id": found["items"][0]["customer_id"],
                     "start": format!("{tomorrow}T18:00"), "override_reason": "rls test",
                     "services": [{ "service_id": service_id, "staff_id": hired["staff_id"] }] }),
        )
        .await;
    assert_eq!(status, 201, "{kept}");
    let (status, _) = app
        .post(
            &a,
            &format!("/staff/{}/rota", hired["staff_id"].as_str().unwrap_or_default()),
            &json!({ "action": "record_time_off", "from": "2027-01-04", "to": "2027-01-05", "kind": "training" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &a,
            "/shift-templates",
            &json!({ "name": "晚班", "intervals": [{ "start": "13:00", "end": "21:00" }] }),
        )
        .await;
    assert_eq!(status, 201);
    // With an image.
    let (status, _) = app
        .upload_image(
            &a,
            service["service_id"].as_str().unwrap_or_default(),
            Some("image/png"),
            tests::data::TINY_PNG.to_vec(),
        )
        .await;
    assert_eq!(status, 201);
    app.settle().await;
    let tables = read_model_tables(&app).await;
    let tenant_tables: Vec<&str> = tables
        .iter()
        .filter(|(_, t)| *t)
        .map(|(n, _)| n.as_str())
        .chain(["rm.customers", "rm.customer_history"])
        .collect();
    let admin = app.admin_pool.get().await.unwrap_or_else(|e| panic!("{e}"));
    for table in &tenant_tables {
        assert!(
            count(&admin, table).await > 0,
            "{table} holds rows (as administrator)"
        );
    }

    // One connection each, so the pooled reuse below is the very same session.
    for role in ["belle_query", "belle_projections"] {
        let pool = events_schema::db::app_pool(&app.db_url, role, None, 1)
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        let mut client = pool.get().await.unwrap_or_else(|e| panic!("{role}: {e}"));
        for table in &tenant_tables {
            assert_eq!(
                count(&client, table).await,
                0,
                "{role} sees {table} with no tenant set"
            );
        }

        let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        set_tenant(&tx, &a_id).await;
        assert_eq!(count(&tx, "rm.customers").await, 3, "{role} in tenant A");
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        drop(client);

        // The same pooled connection, after tenant A's transaction: nothing again.
        let mut client = pool.get().await.unwrap_or_else(|e| panic!("{role}: {e}"));
        for table in &tenant_tables {
            assert_eq!(count(&client, table).await, 0, "{role} reused sees {table}");
        }
        let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        set_tenant(&tx, &b_id).await;
        assert_eq!(
            count(&tx, "rm.customers").await,
            0,
            "{role} in tenant B sees A's rows"
        );
        // A tenant's transaction cannot write another tenant's row either.
        let moved = tx
            .execute(
                "UPDATE rm_customers_v1.customers SET tenant_id = $1::text::uuid",
                &[&b_id],
            )
            .await;
        assert!(
            matches!(moved, Ok(0) | Err(_)),
            "{role} moved rows into tenant B: {moved:?}"
        );
        drop(tx);

        // The projector's scope opens every tenant to belle_projections only.
        let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        tx.batch_execute("SET LOCAL belle.projector = 'on'")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = count(&tx, "rm.customers").await;
        if role == "belle_projections" {
            assert_eq!(seen, 3);
        } else {
            assert_eq!(seen, 0, "belle_query has no projector policy");
        }
        drop(tx);
        drop(client);
        pool.close();
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_query_role_cannot_run_long_statements() {
    let app = spawn_app().await;
    let pool = events_schema::db::app_pool(&app.db_url, "belle_query", None, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let client = pool.get().await.unwrap_or_else(|e| panic!("{e}"));
    for (setting, expected) in [
        ("statement_timeout", "5s"),
        ("idle_in_transaction_session_timeout", "10s"),
    ] {
        let value: String = client
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value, expected, "{setting}");
    }
    drop(client);
    pool.close();
    app.cleanup().await;
}

/// A read-model version starts empty and fills while pooled connections live on. A plan
/// cached on the empty table must not outlive its growth: after a statement has run on
/// the empty table more often than PostgreSQL's switch to a generic plan (five runs),
/// and 20,000 rows have arrived without an ANALYZE, the services' lookups still use
/// their indexes (projections/0004_custom_plans).
#[tokio::test]
async fn lookups_keep_their_indexes_as_an_empty_read_model_fills() {
    let app = spawn_app().await;
    let tenant = uuid::Uuid::new_v4();
    let cases = [
        (
            "belle_query",
            format!("SELECT set_config('belle.tenant_id', '{tenant}', true)"),
            "PREPARE lookup(uuid, text) AS SELECT customer_id FROM rm.customers
             WHERE tenant_id = $1 AND phone_hash = $2
             ORDER BY created_at DESC, customer_id DESC LIMIT 20",
            format!("lookup('{tenant}', 'h-123')"),
            "customers_phone",
        ),
        (
            "belle_projections",
            "SET LOCAL belle.projector = 'on'".to_string(),
            "PREPARE lookup(uuid[], uuid[]) AS SELECT customer_id FROM rm.customers
             WHERE (tenant_id, customer_id) IN (SELECT * FROM UNNEST($1, $2))",
            format!(
                "lookup(ARRAY['{tenant}']::uuid[], ARRAY['{}']::uuid[])",
                uuid::Uuid::new_v4()
            ),
            "customers_pkey",
        ),
    ];
    let mut clients = Vec::new();
    for (role, scope, prepare, execute, _) in &cases {
        let pool = events_schema::db::app_pool(&app.db_url, role, None, 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut client = pool.get().await.unwrap_or_else(|e| panic!("{e}"));
        client
            .batch_execute(prepare)
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        for _ in 0..8 {
            let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
            tx.batch_execute(scope)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let rows = tx
                .query(&format!("EXECUTE {execute}"), &[])
                .await
                .unwrap_or_else(|e| panic!("{role}: {e}"));
            assert!(rows.is_empty());
            drop(tx);
        }
        clients.push((pool, client));
    }

    let inserted = app
        .admin()
        .await
        .execute(
            "INSERT INTO rm.customers (tenant_id, customer_id, version, name, name_pinyin,
                 name_initials, phone_hash, phone_tail_hash, phone_masked, source_channel, tags,
                 has_notes, has_allergies, has_conditions, privacy_policy_version,
                 marketing_consent, created_at, updated_at)
             SELECT $1, gen_random_uuid(), 1, 'n' || i, 'n' || i, 'n', 'h-' || i, 't-' || (i % 10000),
                    '138****' || lpad((i % 10000)::text, 4, '0'), 'walk_in', '{}', false, false,
                    false, 'v1', false, now() - i * interval '1 minute', now()
             FROM generate_series(1, 20000) i",
            &[&tenant],
        )
        .await
        .unwrap_or_else(|e| panic!("filling the read model: {e}"));
    assert_eq!(inserted, 20_000);

    for ((role, scope, _, execute, index), (pool, client)) in cases.iter().zip(&mut clients) {
        let tx = client.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        tx.batch_execute(scope)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let plan: Vec<String> = tx
            .query(&format!("EXPLAIN EXECUTE {execute}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains(&format!("using {index} on"))
                || plan.contains(&format!("Scan on {index}\n")),
            "{role}: the lookup no longer uses {index}:\n{plan}"
        );
        drop(tx);
        pool.close();
    }
    app.cleanup().await;
}
