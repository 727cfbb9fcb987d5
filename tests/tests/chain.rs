//! Tamper evidence (issue 3 item 9): the hash chain over the feed names the first
//! position where a superuser changed, deleted or slipped in an event row.

use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

async fn verify(app: &TestApp, token: &str) -> Value {
    let (status, report) = app.get(token, "/audit/chain").await;
    assert_eq!(status, 200, "{report}");
    report
}

/// The chain report once every feed entry is verified (the entries the relay has moved
/// so far carry their links; this waits for those still being moved), asserting that it
/// comes to that.
async fn verify_whole_feed(app: &TestApp, token: &str) -> Value {
    let total: i64 = app
        .admin()
        .await
        .query_one("SELECT count(*) FROM es.feed", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut report = verify(app, token).await;
    for _ in 0..200 {
        if report["verified"] == total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        report = verify(app, token).await;
    }
    assert_eq!(report["verified"], total, "{report}");
    report
}

async fn sql(app: &TestApp, statements: &str) {
    app.admin()
        .await
        .batch_execute(statements)
        .await
        .unwrap_or_else(|e| panic!("{statements}: {e}"));
}

async fn position_of_seq(app: &TestApp, seq: i64) -> i64 {
    app.admin()
        .await
        .query_one(
            "SELECT global_position FROM es.feed WHERE seq = $1",
            &[&seq],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn changing_deleting_or_inserting_an_event_row_is_caught_at_its_position() {
    let app = spawn_app().await;
    let (_, token) = app.tenant("chained").await;
    for i in 0..6 {
        app.register(
            &token,
            &json!({ "name": "贾真", "phone": format!("1367777000{i}"), "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    }
    app.settle().await;
    let report = verify_whole_feed(&app, &token).await;
    assert_eq!(report["first_breach"], Value::Null);
    // Every entry carries its own link; es.chain holds only links of entries moved
    // before migration 0008.
    let admin = app.admin().await;
    let counts = admin
        .query_one(
            "SELECT (SELECT count(*) FROM es.feed WHERE link IS NULL), (SELECT count(*) FROM es.chain),
                    (SELECT max(seq) FROM es.feed)",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((counts.get::<_, i64>(0), counts.get::<_, i64>(1)), (0, 0));
    let last: i64 = counts.get(2);
    assert!(last > 6, "the tenant's and the six customers' events");

    // 0. A superuser rewrites the last entry's link.
    sql(
        &app,
        &format!(
            "ALTER TABLE es.feed DISABLE TRIGGER feed_immutable;
         UPDATE es.feed SET link = sha256(link) WHERE seq = {last};"
        ),
    )
    .await;
    let report = verify(&app, &token).await;
    assert_eq!(report["first_breach"]["seq"], last, "{report}");
    assert_eq!(
        report["first_breach"]["problem"],
        "the event row or its link was changed"
    );

    // 1. A superuser edits the payload of the event at feed position 5.
    let p5 = position_of_seq(&app, 5).await;
    sql(&app, &format!(
        "ALTER TABLE es.events DISABLE TRIGGER events_immutable;
         UPDATE es.events SET payload = (payload::jsonb || '{{\"tags\": [\"forged\"]}}')::json WHERE global_position = {p5};"
    ))
    .await;
    let report = verify(&app, &token).await;
    assert_eq!(report["first_breach"]["seq"], 5, "{report}");
    assert_eq!(report["first_breach"]["global_position"], p5);

    // Even a whitespace-only change to the stored bytes is caught.
    let p3 = position_of_seq(&app, 3).await;
    sql(&app, &format!(
        "UPDATE es.events SET metadata = (metadata::text || ' ')::json WHERE global_position = {p3};"
    ))
    .await;
    let report = verify(&app, &token).await;
    assert_eq!(report["first_breach"]["seq"], 3, "{report}");

    // 2. Deleting a row is caught at its position too (and it is now the first).
    let p2 = position_of_seq(&app, 2).await;
    sql(
        &app,
        &format!("DELETE FROM es.events WHERE global_position = {p2};"),
    )
    .await;
    let report = verify(&app, &token).await;
    assert_eq!(report["first_breach"]["seq"], 2, "{report}");
    assert_eq!(
        report["first_breach"]["problem"],
        "the event row was deleted"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn an_event_row_slipped_in_behind_the_relay_is_named() {
    let app = spawn_app().await;
    let (tenant, token) = app.tenant("slipped").await;
    app.register(
        &token,
        &json!({ "name": "甄假", "phone": "13677771111", "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    app.settle().await;
    // A row with an old transaction id and an unused position below the relay's
    // checkpoint: the relay will never move it.
    sql(
        &app,
        &format!(
        "INSERT INTO es.events (global_position, tx_id, event_id, tenant_id, stream_id, stream_type,
                                stream_version, event_type, schema_version, payload, metadata)
         OVERRIDING SYSTEM VALUE
         VALUES (0, '5'::xid8, gen_random_uuid(), '{tenant}', 'customer-forged', 'customer', 1,
                 'CustomerRegistered', 1, '{{}}', '{{}}');"
    ),
    )
    .await;
    let report = verify(&app, &token).await;
    assert_eq!(report["first_breach"]["global_position"], 0, "{report}");
    assert_eq!(report["first_breach"]["seq"], Value::Null);
    assert!(report["first_breach"]["problem"]
        .as_str()
        .unwrap_or_default()
        .contains("not in the feed"));
    app.cleanup().await;
}

/// The relay links what it moves from the rows it just read, hashing them itself
/// (`chain::event_digest`) instead of asking PostgreSQL for `es.event_digest`; both
/// must agree byte for byte, or `verify` would report a breach at the first such link.
/// Characters of several bytes count once in the length prefixes; a JSON value stored
/// with white space around it (which the driver trims) is chained by PostgreSQL.
#[tokio::test]
async fn links_the_relay_computes_itself_are_the_ones_verify_recomputes() {
    use events_schema::store::{self, chain};
    let app = spawn_app().await;
    let (tenant, token) = app.tenant("hashed").await;
    // Rows of a stream type no read model reads, with a registration's metadata and
    // an extra field (the relay reads the metadata it publishes).
    let insert = |stream: &str, payload: &str, extra: &str| {
        format!(
            "INSERT INTO es.events (event_id, tenant_id, stream_id, stream_type, stream_version,
                                    event_type, schema_version, payload, metadata)
             SELECT gen_random_uuid(), '{tenant}', '{stream}', 'chain-test', 1, 'Noted', 1,
                    '{payload}', (metadata::jsonb || '{extra}')::json
             FROM es.events WHERE stream_type = 'customer' LIMIT 1;"
        )
    };
    app.register(
        &token,
        &json!({ "name": "哈希", "phone": "13677772222", "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    sql(
        &app,
        &insert(
            "chain-test-1",
            r#"{"note": "张三 ✓ naïve",  "n": 1.50}"#,
            r#"{"note": "ünï 李"}"#,
        ),
    )
    .await;
    sql(&app, &insert("chain-test-2", r#"  {"a": 1}  "#, r#"{}"#)).await;
    sql(
        &app,
        &insert("chain-test-3", r#"{"名": "王五"}"#, r#"{"x": "é"}"#),
    )
    .await;
    app.register(
        &token,
        &json!({ "name": "链尾", "phone": "13677772223", "consent": { "privacy_policy_version": "v1" } }),
    )
    .await;
    app.settle().await;

    // The function itself, against PostgreSQL's, on every row (multi-byte ones included).
    let admin = app.admin().await;
    let rows = admin
        .query(
            &format!(
                "SELECT {}, e.tx_id::text, es.event_digest(e), e.payload::text
                 FROM es.events e ORDER BY e.global_position",
                store::EVENT_COLUMNS
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rows.len() >= 5);
    let mut exact = 0;
    for row in &rows {
        let (event, metadata) =
            store::recorded_with_metadata_text(row, 0).unwrap_or_else(|e| panic!("{e}"));
        let stored_payload: String = row.get(13);
        if stored_payload != event.payload.get() {
            continue; // white space around the value: the relay leaves it to PostgreSQL
        }
        exact += 1;
        let expected: Vec<u8> = row.get(12);
        assert_eq!(
            chain::event_digest(&event, row.get(11), metadata.get()),
            expected,
            "digest of {}",
            event.stream_id
        );
    }
    assert_eq!(
        exact,
        rows.len() - 1,
        "only the padded payload reads back trimmed"
    );

    // And the links the relay stored verify, with nothing left unchained.
    let report = verify_whole_feed(&app, &token).await;
    assert_eq!(report["first_breach"], Value::Null, "{report}");
    app.cleanup().await;
}

/// Migration 0008 moves the chain's links into the feed entries. On a store the previous
/// relay wrote (links in es.chain, the newest entries not chained yet), it chains what
/// was left exactly as the old relay would have, the whole feed verifies, the relay
/// carries on from the last old link, and an entry without a link is refused.
#[tokio::test]
async fn links_written_before_the_feed_carried_them_still_verify_and_the_chain_carries_on() {
    use events_schema::store::{self, chain};
    let admin = tests::admin_client(&tests::admin_url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let db = format!("belle_t_chainmig_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = tests::url_for(&db);
    events_schema::db::migrate(&url, &[("es", &store::MIGRATIONS[..7])])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = tests::admin_client(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Five events moved by the previous relay, three of them chained.
    client
        .batch_execute(&format!(
            "{}
             INSERT INTO es.feed (seq, global_position)
             SELECT row_number() OVER (ORDER BY tx_id, global_position), global_position FROM es.events;
             UPDATE es.relay_state SET (last_tx_id, last_position, last_seq) =
                 (SELECT tx_id, global_position, 5 FROM es.events ORDER BY tx_id DESC, global_position DESC LIMIT 1);",
            tests::insert_test_events_sql(1, 5)
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let digests: Vec<Vec<u8>> = client
        .query(
            "SELECT es.event_digest(e) FROM es.feed f JOIN es.events e USING (global_position) ORDER BY f.seq",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut links = vec![chain::GENESIS.to_vec()];
    for d in &digests {
        let next = chain::link(links.last().map_or(&[][..], Vec::as_slice), d);
        links.push(next);
    }
    for seq in 1..=3i64 {
        client
            .execute(
                "INSERT INTO es.chain (seq, link) VALUES ($1, $2)",
                &[&seq, &links[usize::try_from(seq).unwrap_or_default()]],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // The migration chains entries 4 and 5, exactly as the old relay would have.
    events_schema::db::migrate(&url, &[("es", store::MIGRATIONS)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let chained: Vec<Vec<u8>> = client
        .query("SELECT link FROM es.chain ORDER BY seq", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(chained, links[1..].to_vec());
    let pool = events_schema::db::app_pool(&url, "belle_command", None, 2)
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = || async {
        let client = pool.get().await.unwrap_or_else(|e| panic!("{e}"));
        chain::verify(&client)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let report = verify().await;
    assert_eq!((report.verified, report.first_breach), (5, None));

    // The relay carries on from link 5, writing links into the entries.
    client
        .batch_execute(&tests::insert_test_events_sql(6, 7))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tests::move_at_least(&pool, 2).await, 2);
    let linked: i64 = client
        .query_one("SELECT count(*) FROM es.feed WHERE link IS NOT NULL", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .get(0);
    assert_eq!(linked, 2);
    let report = verify().await;
    assert_eq!((report.verified, report.first_breach), (7, None));

    // An entry without its link is refused, even to a superuser.
    let refused = client
        .batch_execute(&format!(
            "{} INSERT INTO es.feed (seq, global_position) SELECT 8, max(global_position) FROM es.events;",
            tests::insert_test_events_sql(8, 8)
        ))
        .await
        .expect_err("an unlinked feed entry");
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION),
        "{refused}"
    );
    pool.close();
    drop(client);
    tests::drop_database(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
