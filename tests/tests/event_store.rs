//! Event store guarantees: optimistic concurrency (G2), idempotency (G3),
//! immutability (G1).

use events_schema::envelope::{Metadata, NewEvent};
use events_schema::ids::{EventId, TenantId};
use events_schema::store::{self, ExpectedVersion, StoreError, StreamAppend};
use serde_json::json;
use tests::spawn_app;

fn event() -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: "TestHappened",
        schema_version: 1,
        payload: serde_json::value::to_raw_value(&json!({ "n": 1 }))
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

fn metadata(tenant: TenantId) -> Metadata {
    Metadata::system(tenant, uuid::Uuid::now_v7())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_appends_with_the_same_expected_version_let_exactly_one_win() {
    let app = tests::spawn_app_with(tests::Options {
        pool_size: 50,
        projections: false,
        ..Default::default()
    })
    .await;
    let pool = app.command_app().pool.clone();
    let tenant = TenantId::new();
    let stream_id = "test-race";
    for round in 0..20i64 {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = pool.get().await.map_err(|e| e.to_string())?;
                let tx = client.transaction().await.map_err(|e| e.to_string())?;
                let events = [event()];
                let md = metadata(tenant);
                let expected = if round == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(round)
                };
                let r = store::append_tx(
                    &tx,
                    &StreamAppend {
                        tenant_id: tenant,
                        stream_id,
                        stream_type: "test",
                        expected,
                        events: &events,
                        metadata: &md,
                    },
                )
                .await;
                match r {
                    Ok(_) => {
                        tx.commit().await.map_err(|e| e.to_string())?;
                        Ok(true)
                    }
                    Err(StoreError::Conflict { .. }) => Ok(false),
                    Err(e) => Err(e.to_string()),
                }
            }));
        }
        let mut wins = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await {
                Ok(Ok(true)) => wins += 1,
                Ok(Ok(false)) => conflicts += 1,
                other => panic!("append failed otherwise: {other:?}"),
            }
        }
        assert_eq!((wins, conflicts), (1, 49), "round {round}");
    }
    let admin = app.admin().await;
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM es.events WHERE stream_id = 'test-race'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(n, 20);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_http_changes_at_one_expected_version_answer_one_200_and_409s_never_500() {
    let app = tests::spawn_app_with(tests::Options {
        pool_size: 30,
        ..Default::default()
    })
    .await;
    let (_, token) = app.tenant("race-salon").await;
    let saved = app
        .register(
            &token,
            &json!({ "name": "王芳", "phone": "13700000001", "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    let id = saved["customer_id"].as_str().unwrap_or_default().to_owned();
    for round in 0..3 {
        let version = 1 + round;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let http = app.http.clone();
            let url = format!("{}/customers/{id}", app.command_url);
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                http.patch(url)
                    .bearer_auth(token)
                    .json(&json!({
                        "expected_version": version,
                        "reason": "race",
                        "changes": { "tags": [format!("r{round}t{i}")] }
                    }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }));
        }
        let mut codes = Vec::new();
        for t in tasks {
            codes.push(t.await.unwrap_or(0));
        }
        let ok = codes.iter().filter(|c| **c == 200).count();
        let conflict = codes.iter().filter(|c| **c == 409).count();
        assert_eq!((ok, conflict), (1, 49), "round {round}: {codes:?}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_idempotency_key_appends_once_and_a_different_body_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("idem-salon").await;
    let body = json!({ "name": "赵敏", "phone": "13700000002", "consent": { "privacy_policy_version": "v1" } });
    let send = |b: serde_json::Value| {
        let http = app.http.clone();
        let url = format!("{}/customers", app.command_url);
        let token = token.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "front-desk-42")
                .json(&b)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let first = send(body.clone()).await;
    let second = send(body.clone()).await;
    assert_eq!(first.0, 201);
    assert_eq!(first, second, "a replay returns the first response");
    let mut other = body.clone();
    other["name"] = json!("赵四");
    let third = send(other).await;
    assert_eq!(third.0, 422, "{:?}", third.1);
    assert_eq!(third.1["error"], "idempotency_key_reused");
    // Concurrent duplicates also append once.
    let body2 = json!({ "name": "钱多", "phone": "13700000003", "consent": { "privacy_policy_version": "v1" } });
    let http = app.http.clone();
    let url = format!("{}/customers", app.command_url);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (http, url, token, b) = (http.clone(), url.clone(), token.clone(), body2.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "same-again")
                .json(&b)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap_or_default());
    }
    assert!(
        results.iter().all(|r| r == &results[0] && r.0 == 201),
        "{results:?}"
    );
    let admin = app.admin().await;
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM es.events WHERE event_type = 'CustomerRegistered'",
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(n, 2, "two distinct registrations were appended");
    app.cleanup().await;
}

#[tokio::test]
async fn the_application_role_cannot_update_delete_or_truncate_events() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("immutable").await;
    app.register(
        &token,
        &json!({ "name": "孙丽", "phone": "13700000004", "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    let client = app
        .command_app()
        .pool
        .get()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for sql in [
        "UPDATE es.events SET payload = '{}'::json",
        "DELETE FROM es.events",
        "TRUNCATE es.events",
        "UPDATE es.feed SET seq = seq + 1000",
        "DELETE FROM es.feed",
    ] {
        let err = client.batch_execute(sql).await;
        assert!(err.is_err(), "{sql} must fail for the application role");
    }
    // Even the superuser is stopped by the trigger.
    let admin = app.admin().await;
    assert!(admin
        .batch_execute("UPDATE es.events SET payload = '{}'::json")
        .await
        .is_err());
    assert!(admin.batch_execute("DELETE FROM es.events").await.is_err());
    let n: i64 = admin
        .query_one("SELECT count(*) FROM es.events", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1);
    assert!(n >= 3, "events survive");
    app.cleanup().await;
}

/// A registration for the group commit with a dummy payload (the store does not read
/// payloads); `phone` stands in for the phone's blind index.
fn registration(
    tenant: TenantId,
    phone: &str,
    command_id: uuid::Uuid,
) -> command_service::app::group_commit::Registration {
    let customer_id = uuid::Uuid::now_v7();
    command_service::app::group_commit::Registration {
        stream_id: format!("customer-{customer_id}"),
        tenant_id: tenant.as_uuid(),
        event_id: uuid::Uuid::now_v7(),
        event_type: "CustomerRegistered",
        schema_version: 1,
        payload: serde_json::value::to_raw_value(&json!({ "test": true }))
            .unwrap_or_else(|e| panic!("{e}")),
        metadata: serde_json::value::to_raw_value(&metadata(tenant))
            .unwrap_or_else(|e| panic!("{e}")),
        customer_id,
        key_version: 1,
        kek_id: "test".into(),
        wrapped: vec![0; 72],
        phone_hash: phone.into(),
        command_id,
        record: Some((
            "h".into(),
            json!({ "status": 201, "body": { "customer_id": customer_id, "version": 1 } }),
        )),
    }
}

/// A count of one tenant's rows (`$1` = the tenant).
async fn count(admin: &tokio_postgres::Client, sql: &str, tenant: TenantId) -> i64 {
    admin
        .query_one(sql, &[&tenant.as_uuid()])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

#[tokio::test]
async fn a_group_commit_writes_many_registrations_in_one_transaction_or_each_on_its_own() {
    use command_service::app::group_commit::write_batch;
    let app = tests::spawn_app_with(tests::Options {
        relay: false,
        projections: false,
        ..Default::default()
    })
    .await;
    let pool = app.command_app().pool.clone();
    let admin = app.admin().await;
    let tenant = TenantId::new();

    // A clean batch: one transaction, and each command record carries its own event's
    // position as the consistency token.
    let clean: Vec<_> = (0..20)
        .map(|i| registration(tenant, &format!("p{i}"), uuid::Uuid::now_v7()))
        .collect();
    let answers = write_batch(&pool, &clean).await;
    let positions: Vec<i64> = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for (r, position) in clean.iter().zip(&positions) {
        let row = admin
            .query_one(
                "SELECT e.global_position, c.response #>> '{body,consistency_token}'
                 FROM es.events e JOIN es.commands c ON c.command_id = $2
                 WHERE e.stream_id = $1",
                &[&r.stream_id, &r.command_id],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(row.get::<_, i64>(0), *position);
        assert_eq!(row.get::<_, String>(1), position.to_string());
    }
    let transactions = count(
        &admin,
        "SELECT count(DISTINCT tx_id) FROM es.events WHERE tenant_id = $1",
        tenant,
    )
    .await;
    assert_eq!(transactions, 1, "a clean batch commits once");

    // A batch with a phone taken twice and a command id used twice: the batch fails as
    // a whole, then each is written on its own and gets its own answer.
    let twin = uuid::Uuid::now_v7();
    let mut mixed = vec![
        registration(tenant, "q1", uuid::Uuid::now_v7()),
        registration(tenant, "q1", uuid::Uuid::now_v7()),
        registration(tenant, "p3", uuid::Uuid::now_v7()),
        registration(tenant, "q2", twin),
        registration(tenant, "q3", twin),
        registration(tenant, "q4", uuid::Uuid::now_v7()),
    ];
    // Commands without an Idempotency-Key get no command record.
    mixed[5].record = None;
    let answers = write_batch(&pool, &mixed).await;
    let outcome: Vec<&str> = answers
        .iter()
        .map(|a| match a {
            Ok(_) => "ok",
            Err(StoreError::Constraint { constraint }) if constraint == "customer_phones_pkey" => {
                "phone taken"
            }
            Err(StoreError::DuplicateCommand) => "command recorded",
            Err(e) => panic!("unexpected: {e}"),
        })
        .collect();
    assert_eq!(
        outcome,
        [
            "ok",
            "phone taken",
            "phone taken",
            "ok",
            "command recorded",
            "ok"
        ]
    );
    let written = count(
        &admin,
        "SELECT count(*) FROM es.events WHERE tenant_id = $1",
        tenant,
    )
    .await;
    assert_eq!(
        written, 23,
        "20 + 3 registrations, nothing of the refused ones"
    );
    let streams = count(
        &admin,
        "SELECT count(*) FROM es.streams WHERE tenant_id = $1",
        tenant,
    )
    .await;
    assert_eq!(streams, 23);
    let recorded = count(
        &admin,
        "SELECT count(*) FROM es.commands WHERE tenant_id = $1",
        tenant,
    )
    .await;
    assert_eq!(
        recorded, 22,
        "20 + 2 keyed registrations; the unkeyed one has none"
    );
    app.cleanup().await;
}

/// Migration store/0007: the by-type index of streams has no entries for customer
/// streams (one per registration), and still serves the lookups of a tenant's staff and
/// rotas, with custom and generic plans, on a table that is almost all customers.
#[tokio::test]
async fn the_by_type_stream_index_serves_staff_and_rotas_without_customer_entries() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let tenant = uuid::Uuid::now_v7();
    admin
        .batch_execute(&format!(
            "INSERT INTO es.streams (stream_id, stream_type, tenant_id, version)
             SELECT 'customer-' || g, 'customer', '{tenant}', 1 FROM generate_series(1, 5000) g;
             INSERT INTO es.streams (stream_id, stream_type, tenant_id, version)
             SELECT t || '-' || g, t, '{tenant}', 1
             FROM generate_series(1, 5) g, (VALUES ('staff'), ('rota')) AS v(t);
             ANALYZE es.streams;"
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The shapes of `bookings.rs` (staff_ids) and `availability.rs` (SOURCES).
    let queries = [
        "SELECT stream_id FROM es.streams WHERE tenant_id = $1 AND stream_type = 'staff' ORDER BY stream_id",
        "SELECT stream_id, version FROM es.streams WHERE tenant_id = $1 AND stream_type IN ('staff', 'rota')",
    ];
    for (i, query) in queries.iter().enumerate() {
        for mode in ["force_custom_plan", "force_generic_plan"] {
            let plan = admin
                .simple_query(&format!(
                    "SET plan_cache_mode = {mode};
                     PREPARE q{i}_{mode} (uuid) AS {query};
                     EXPLAIN EXECUTE q{i}_{mode} ('{tenant}');"
                ))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                plan.contains("streams_by_type_except_customers"),
                "{query} ({mode}):\n{plan}"
            );
        }
        let found: i64 = admin
            .query_one(
                &format!(
                    "SELECT count(*) FROM ({}) q",
                    query.replace("$1", &format!("'{tenant}'"))
                ),
                &[],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found, if i == 0 { 5 } else { 10 });
    }
    let entries: i64 = admin
        .query_one(
            "SELECT count(*) FROM es.streams WHERE tenant_id = $1 AND stream_type <> 'customer'",
            &[&tenant],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries, 10);
    app.cleanup().await;
}
