//! Relay, feed and projections under faults (G5, G6, G7, G8).

use command_service::app::customers::RegisterCustomer;
use command_service::app::sealing::SubjectKey;
use command_service::domain::customer::{self as domain, CustomerDetails};
use events_schema::customer::{self as wire, Consent, SourceChannel};
use events_schema::envelope::DomainEvent;
use events_schema::ids::CustomerId;
use events_schema::store::{self, ExpectedVersion, StreamAppend};
use events_schema::values::{PersonName, Phone};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::time::Duration;
use tests::{spawn_app_with, Options, TestApp};

fn details(name: &str, phone: &str) -> CustomerDetails {
    CustomerDetails {
        name: PersonName::parse(name).unwrap_or_else(|e| panic!("{e}")),
        phone: Phone::parse(phone).unwrap_or_else(|e| panic!("{e}")),
        source_channel: SourceChannel::WalkIn,
        gender: None,
        birthday: None,
        email: None,
        id_number: None,
        address: None,
        tags: vec![],
        notes: None,
        allergies: None,
        conditions: None,
    }
}

fn consent() -> Consent {
    Consent {
        privacy_policy_version: "v1".into(),
        purpose: Some("customer_record".into()),
        marketing: false,
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.admin()
        .await
        .query_one(sql, &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The feed holds every event exactly once, with seq 1..n, and each entry's link of the
/// hash chain verifies, however many relays raced to write it.
async fn assert_feed_is_complete(app: &TestApp) {
    let events = count(app, "SELECT count(*) FROM es.events").await;
    let feed = count(app, "SELECT count(DISTINCT global_position) FROM es.feed").await;
    let max = count(app, "SELECT coalesce(max(seq), 0) FROM es.feed").await;
    let rows = count(app, "SELECT count(*) FROM es.feed").await;
    assert_eq!(
        (feed, rows, max),
        (events, events, events),
        "feed must be gap-free and complete"
    );
    let pool = app.command_app().pool.clone();
    let client = pool.get().await.unwrap_or_else(|e| panic!("{e}"));
    let report = events_schema::store::chain::verify(&client)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((report.verified, report.first_breach), (events, None));
}

/// Every customer event took effect once, in feed order.
async fn assert_read_model_matches_feed(app: &TestApp) {
    let registrations = count(
        app,
        "SELECT count(*) FROM es.events WHERE event_type = 'CustomerRegistered'",
    )
    .await;
    let customer_events = count(
        app,
        "SELECT count(*) FROM es.events WHERE stream_type = 'customer'",
    )
    .await;
    assert_eq!(
        count(app, "SELECT count(*) FROM rm.customers").await,
        registrations
    );
    assert_eq!(
        count(app, "SELECT count(*) FROM rm.customer_history").await,
        customer_events
    );
    // History seq is exactly the feed seq of each event.
    let mismatched = count(
        app,
        "SELECT count(*) FROM rm.customer_history h
         JOIN es.events e ON e.stream_id = 'customer-' || h.customer_id AND e.stream_version = h.stream_version
         JOIN es.feed f ON f.global_position = e.global_position
         WHERE f.seq <> h.seq",
    )
    .await;
    assert_eq!(mismatched, 0);
    // Versions of each customer row equal the stream's version.
    let stale = count(
        app,
        "SELECT count(*) FROM rm.customers c JOIN es.streams s ON s.stream_id = 'customer-' || c.customer_id
         WHERE s.version <> c.version",
    )
    .await;
    assert_eq!(stale, 0);
    for p in app.projections() {
        let diffs = projections::rebuild::verify(&app.admin_pool, p.as_ref())
            .await
            .unwrap_or_else(|e| panic!("verify: {e:#}"));
        assert!(diffs.is_empty(), "live differs from a rebuild: {diffs:?}");
    }
}

/// Registers `n` customers through the application layer with `concurrency` tasks;
/// every `change_every`-th one also gets a change.
fn workload(
    app: &TestApp,
    tenant: &str,
    n: u64,
    base: u64,
    concurrency: u64,
    change_every: u64,
) -> tokio::task::JoinHandle<u64> {
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let a = app.command_app().clone();
        let ctx_base = app.context(tenant);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(base + worker);
            let mut done = 0u64;
            let mut i = worker;
            while i < n {
                let mut ctx = ctx_base.clone();
                ctx.command_id = events_schema::ids::CommandId::new();
                let phone = tests::data::phone(base + i);
                let name = tests::data::chinese_name(&mut rng);
                let out = a
                    .register_customer(
                        &ctx,
                        RegisterCustomer {
                            details: details(&name, &phone),
                            consent: consent(),
                        },
                    )
                    .await
                    .unwrap_or_else(|e| panic!("register: {e:?}"));
                done += 1;
                if change_every > 0 && i % change_every == 0 {
                    let id: CustomerId = out.body["customer_id"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| panic!("customer id"));
                    let mut ctx = ctx_base.clone();
                    ctx.command_id = events_schema::ids::CommandId::new();
                    let tag = command_service::domain::customer::Tag::parse(&format!(
                        "t{}",
                        rng.gen_range(0..5)
                    ))
                    .unwrap_or_else(|e| panic!("{e}"));
                    a.change_customer(
                        &ctx,
                        command_service::app::customers::ChangeCustomer {
                            customer_id: id,
                            expected_version: None,
                            set: vec![domain::FieldValue::Tags(vec![tag])],
                            clear: vec![],
                            reason: domain::Reason::parse("workload")
                                .unwrap_or_else(|e| panic!("{e}")),
                        },
                    )
                    .await
                    .unwrap_or_else(|e| panic!("change: {e:?}"));
                    done += 1;
                }
                i += concurrency;
            }
            done
        }));
    }
    tokio::spawn(async move {
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap_or_else(|e| panic!("workload task: {e}"));
        }
        total
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_held_open_delays_later_events_but_none_is_skipped_or_repeated() {
    let app = spawn_app_with(Options::default()).await;
    let (tenant, token) = app.tenant("held-open").await;
    app.settle().await;
    let before = count(&app, "SELECT count(*) FROM es.feed").await;

    // Open a transaction that takes an xid now and appends a registration later.
    let pool = app.command_app().pool.clone();
    let mut held_client = pool.get().await.unwrap_or_else(|e| panic!("{e}"));
    let held = held_client
        .transaction()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    held.execute("SELECT pg_current_xact_id()", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Later transactions commit meanwhile.
    for i in 0..5 {
        app.register(
            &token,
            &json!({ "name": "后来", "phone": tests::data::phone(500 + i), "consent": { "privacy_policy_version": "v1" } }),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = count(&app, "SELECT count(*) FROM es.feed").await;
    assert_eq!(
        during, before,
        "nothing passes the visibility barrier of the open transaction"
    );

    // The held transaction appends its own registration and commits last.
    let ctx = app.context(&tenant);
    let id = CustomerId::new();
    let new_key = app
        .command_app()
        .keys
        .prepare_subject_key(ctx.tenant, id.as_uuid());
    let key = SubjectKey {
        tenant: ctx.tenant,
        customer: id,
        version: new_key.version,
        dek: &new_key.dek,
    };
    let event = key
        .seal_event(&domain::CustomerEvent::Registered {
            customer_id: id,
            details: Box::new(details("先来", &tests::data::phone(999))),
            consent: consent(),
        })
        .to_new_event()
        .unwrap_or_else(|e| panic!("{e}"));
    let stream_id = wire::stream_id(id);
    store::append_tx(
        &held,
        &StreamAppend {
            tenant_id: ctx.tenant,
            stream_id: &stream_id,
            stream_type: wire::STREAM_TYPE,
            expected: ExpectedVersion::NoStream,
            events: std::slice::from_ref(&event),
            metadata: &ctx.metadata(chrono::Utc::now()),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    app.command_app()
        .keys
        .insert_subject_key_tx(&held, &new_key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    held.commit().await.unwrap_or_else(|e| panic!("{e}"));
    app.command_app().relay_wakeup.notify_one();

    app.settle().await;
    assert_feed_is_complete(&app).await;
    // The held transaction's event comes first in feed order: it has the older xid.
    let held_seq = count(
        &app,
        &format!("SELECT f.seq FROM es.feed f JOIN es.events e USING (global_position) WHERE e.stream_id = '{stream_id}'"),
    )
    .await;
    assert_eq!(held_seq, before + 1);
    assert_read_model_matches_feed(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_jetstream_messages_are_backfilled_from_postgres() {
    let app = spawn_app_with(Options::default()).await;
    let (tenant, _) = app.tenant("purged").await;
    let js = async_nats::jetstream::new(
        async_nats::connect(tests::nats_url())
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let stream_name = events_schema::subjects::events_stream(&app.prefix);
    let load = workload(&app, &tenant, 400, 10_000, 8, 5);
    let purge = async {
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let mut stream = js
                .get_stream(&stream_name)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            stream
                .purge()
                .await
                .unwrap_or_else(|e| panic!("purge: {e}"));
            // Drop a few individual messages too.
            let last = stream
                .info()
                .await
                .map(|i| i.state.last_sequence)
                .unwrap_or(0);
            let _ = stream.delete_message(last).await;
        }
    };
    let (done, ()) = tokio::join!(load, purge);
    let done = done.unwrap_or_else(|e| panic!("{e}"));
    assert!(done >= 400);
    app.settle().await;
    assert_feed_is_complete(&app).await;
    assert_read_model_matches_feed(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_relay_and_projection_workers_restart_and_converge() {
    let mut app = spawn_app_with(Options {
        relay: false,
        ..Default::default()
    })
    .await;
    let (tenant, _) = app.tenant("killed").await;
    let relay = app.relay().await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut relay_task = tokio::spawn(relay.clone().run(rx.clone()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let load = workload(&app, &tenant, 600, 20_000, 6, 4);
    tokio::pin!(load);
    let mut kills = 0;
    let done = loop {
        tokio::select! {
            n = &mut load => break n.unwrap_or_else(|e| panic!("{e}")),
            _ = tokio::time::sleep(Duration::from_millis(rng.gen_range(20..120))) => {
                kills += 1;
                if kills % 2 == 0 {
                    relay_task.abort();
                    let _ = (&mut relay_task).await;
                    relay_task = tokio::spawn(relay.clone().run(rx.clone()));
                } else {
                    app.kill_projections();
                    app.start_projections();
                }
            }
        }
    };
    assert!(done >= 600 && kills > 2, "done {done}, kills {kills}");
    app.settle().await;
    assert_feed_is_complete(&app).await;
    assert_read_model_matches_feed(&app).await;
    let _ = stop.send(true);
    let _ = relay_task.await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_no_difference_after_ten_thousand_events_and_finds_a_hand_edit() {
    let app = spawn_app_with(Options {
        pool_size: 16,
        ..Default::default()
    })
    .await;
    let (tenant, _) = app.tenant("verify").await;
    let done = workload(&app, &tenant, 8000, 30_000, 12, 3)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(done >= 10_000, "{done} events");
    app.settle().await;
    assert_feed_is_complete(&app).await;
    let p = &app.projections()[0];
    let diffs = projections::rebuild::verify(&app.admin_pool, p.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(diffs.is_empty(), "{diffs:?}");

    app.admin()
        .await
        .batch_execute(
            "UPDATE rm_customers_v1.customers SET name = '篡改' WHERE customer_id = (SELECT customer_id FROM rm_customers_v1.customers ORDER BY customer_id LIMIT 1)",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let diffs = projections::rebuild::verify(&app.admin_pool, p.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].table, "customers");
    assert_eq!((diffs[0].only_in_live, diffs[0].only_in_rebuild), (1, 1));

    // A rebuild replaces the tampered version with a correct one, without downtime.
    let v = projections::rebuild::rebuild(&app.admin_pool, p.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(v, 2);
    let tampered = count(
        &app,
        "SELECT count(*) FROM rm.customers WHERE name = '篡改'",
    )
    .await;
    assert_eq!(tampered, 0);
    assert_read_model_matches_feed(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_that_all_believe_they_lead_still_write_each_feed_entry_once() {
    let app = spawn_app_with(Options {
        relay: false,
        projections: false,
        pool_size: 16,
        ..Default::default()
    })
    .await;
    let (tenant, _) = app.tenant("many-relays").await;
    let pool = app.command_app().pool.clone();
    let load = workload(&app, &tenant, 300, 40_000, 4, 3);
    // Eight movers bypass leadership entirely and race on the feed.
    let mut movers = Vec::new();
    for _ in 0..8 {
        let pool = pool.clone();
        movers.push(tokio::spawn(async move {
            for _ in 0..200 {
                command_service::relay::move_to_feed(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("move: {e:#}"));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    load.await.unwrap_or_else(|e| panic!("{e}"));
    for m in movers {
        m.await.unwrap_or_else(|e| panic!("{e}"));
    }
    while command_service::relay::move_to_feed(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
        > 0
    {}
    assert_feed_is_complete(&app).await;
    app.cleanup().await;
}

/// A relay that waited for the checkpoint's lock while another moved entries reads the
/// new checkpoint, but its statement's snapshot predates those entries and their links:
/// it must not fail, nor write an entry twice, and the chain must run on unbroken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_waited_for_another_chains_on_from_its_entries() {
    let app = spawn_app_with(Options {
        relay: false,
        projections: false,
        notify_worker: false,
        ..Default::default()
    })
    .await;
    let admin = app.admin().await;
    assert_eq!(count(&app, "SELECT count(*) FROM es.events").await, 0);
    admin
        .batch_execute(&tests::insert_test_events_sql(1, 1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The second event's transaction takes its id before relay A's does, and commits
    // while A holds the checkpoint: below relay B's visibility barrier, and after A's
    // snapshot.
    let second = tests::admin_client(&app.db_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    second
        .batch_execute(&format!("BEGIN; {}", tests::insert_test_events_sql(2, 2)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Relay A moves the first event, by hand, and holds its transaction open.
    let a = tests::admin_client(&app.db_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    a.batch_execute(
        "BEGIN;
         SELECT 1 FROM es.relay_state WHERE id = 1 FOR UPDATE;
         INSERT INTO es.feed (seq, global_position, link)
         SELECT 1, e.global_position, sha256(decode(repeat('00', 32), 'hex') || es.event_digest(e))
         FROM es.events e WHERE e.stream_id = 'test-1';
         UPDATE es.relay_state SET (last_tx_id, last_position, last_seq) =
             (SELECT tx_id, global_position, 1 FROM es.events WHERE stream_id = 'test-1');",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    second
        .batch_execute("COMMIT")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Relay B starts its move and waits for A's lock. (With another test's transaction
    // open in the cluster, B's visibility barrier is older than both events: it finds
    // nothing to move and does not wait. The outcome must be the same.)
    let pool = app.command_app().pool.clone();
    let b = tokio::spawn(async move { command_service::relay::move_to_feed(&pool).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !b.is_finished()
        && count(
            &app,
            "SELECT count(*) FROM pg_stat_activity
             WHERE usename = 'belle_command' AND wait_event_type = 'Lock'",
        )
        .await
            == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay B neither waited for the lock nor finished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.batch_execute("COMMIT")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // B either moves the second event now (chaining on from A's entry, which its
    // statement's snapshot did not see) or finds the checkpoint moved and leaves it to
    // its next round; it never fails, and never writes an entry twice.
    let moved = b
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("relay B: {e:#}"));
    assert!(moved <= 1, "A moved the first event");
    if moved == 0 {
        let pool = app.command_app().pool.clone();
        assert_eq!(tests::move_at_least(&pool, 1).await, 1);
    }
    assert_feed_is_complete(&app).await;
    app.cleanup().await;
}

#[tokio::test]
async fn the_relay_orders_transaction_ids_as_numbers_not_text() {
    let app = spawn_app_with(Options {
        relay: false,
        projections: false,
        ..Default::default()
    })
    .await;
    app.tenant("xid-order").await;
    // Transaction ids of different digit counts: as text, "1000" sorts before "999".
    let admin = app.admin().await;
    for (xid, n) in [("1000", 1), ("999", 2)] {
        let tenant = uuid::Uuid::new_v4();
        let metadata = serde_json::json!({
            "command_id": uuid::Uuid::new_v4(),
            "correlation_id": uuid::Uuid::new_v4(),
            "causation_id": uuid::Uuid::new_v4(),
            "actor": { "account_id": null, "role": "system" },
            "tenant_id": tenant,
            "occurred_at": "2026-01-01T00:00:00Z",
        });
        admin
            .execute(
                "INSERT INTO es.events (tx_id, event_id, tenant_id, stream_id, stream_type, stream_version,
                                        event_type, schema_version, payload, metadata)
                 VALUES ($1::text::xid8, $2, $3, $4, 'test', 1, 'TestHappened', 1, '{}', $5)",
                &[&xid, &uuid::Uuid::new_v4(), &tenant, &format!("test-{n}"), &metadata],
            )
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    let pool = app.command_app().pool.clone();
    tests::move_at_least(&pool, 4).await;
    let second = command_service::relay::move_to_feed(&pool)
        .await
        .unwrap_or_else(|e| panic!("second move must find nothing new: {e:#}"));
    assert_eq!(second, 0);
    assert_feed_is_complete(&app).await;
    let order: Vec<String> = admin
        .query(
            "SELECT e.stream_id FROM es.feed f JOIN es.events e USING (global_position)
             WHERE e.stream_type = 'test' ORDER BY f.seq",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(order, ["test-2", "test-1"], "xid 999 precedes xid 1000");
    app.cleanup().await;
}

/// The relay publishes the feed as pages: each JetStream message holds a run of
/// consecutive entries of its subject's tenant and stream type, named by its headers
/// and `Nats-Msg-Id`; together the messages hold the whole feed once, in order, and
/// the projections apply them to the same read models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_carries_the_feed_as_pages_of_one_subject() {
    let app = spawn_app_with(Options {
        relay: false,
        ..Default::default()
    })
    .await;
    let (a, _) = app.tenant("pages-a").await;
    let (b, _) = app.tenant("pages-b").await;
    // Both tenants' registrations interleave in the events table; the relay, started
    // only afterwards, moves them in one go, so runs of one subject are long.
    let (done_a, done_b) = tokio::join!(
        workload(&app, &a, 300, 30_000, 4, 0),
        workload(&app, &b, 300, 40_000, 4, 0)
    );
    assert_eq!(
        done_a.unwrap_or_else(|e| panic!("{e}")) + done_b.unwrap_or_else(|e| panic!("{e}")),
        600
    );
    let relay = app.relay().await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let relay_task = tokio::spawn(relay.run(rx));
    app.settle().await;
    assert_feed_is_complete(&app).await;
    assert_read_model_matches_feed(&app).await;

    let mut seqs = Vec::new();
    let mut longest = 0;
    for msg in app.stored_messages().await {
        let n = msg.sequence;
        let header = |name: &str| {
            msg.headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| panic!("message {n} lacks {name}: {:?}", msg.headers))
        };
        let page = events_schema::subjects::decode_page(&msg.payload)
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
        let (Some(first), Some(end)) = (page.first(), page.last()) else {
            panic!("message {n} is an empty page");
        };
        assert_eq!(
            header(events_schema::subjects::SEQ_HEADER),
            first.seq.to_string()
        );
        assert_eq!(
            header(events_schema::subjects::LAST_SEQ_HEADER),
            end.seq.to_string()
        );
        assert_eq!(
            msg.headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str().to_owned()),
            Some(events_schema::subjects::page_msg_id(&page)),
            "message {n}: its id names its entries"
        );
        for (i, entry) in page.iter().enumerate() {
            assert_eq!(
                entry.seq,
                first.seq + i as i64,
                "message {n}: consecutive seqs"
            );
            assert_eq!(
                msg.subject.as_str(),
                events_schema::subjects::event_subject(
                    &app.prefix,
                    entry.event.tenant_id,
                    &entry.event.stream_type
                ),
                "message {n}: one subject per page"
            );
            seqs.push(entry.seq);
        }
        longest = longest.max(page.len());
    }
    let feed = count(&app, "SELECT coalesce(max(seq), 0) FROM es.feed").await;
    assert_eq!(
        seqs,
        (1..=feed).collect::<Vec<_>>(),
        "every entry once, in feed order"
    );
    assert!(longest > 1, "runs of one subject share a message");
    assert!(
        longest <= events_schema::subjects::PAGE_ENTRIES,
        "pages are bounded"
    );
    let _ = stop.send(true);
    let _ = relay_task.await;
    app.cleanup().await;
}
