//! # belle-bench — the performance report of DESIGN §11
//!
//! Starts Belle in-process (`tests::spawn_app_with`: its own database cloned from the
//! migrated template, its own NATS prefix) and measures, in one run:
//!
//! 1. **append** — `POST /customers` at N concurrent clients (closed loop) versus a raw
//!    single-row `INSERT … ; COMMIT` loop (autocommit) into a scratch table of the same
//!    database at the same concurrency, inserting real registration payloads;
//!    `append_ratio` = command throughput / raw throughput. Each loop warms up, then
//!    the measured window of each is cut into five slices, run alternately in the order
//!    A B B A A B B A A B (each after a 250 ms unmeasured lead-in), so that the two
//!    rates are measured under the same machine: on a shared VM the speed drifts by
//!    ±10 % within a minute, which two back-to-back windows turned into a ratio swinging
//!    by as much. Both loops get their data ready before the clock starts (the raw loop
//!    samples stored payloads, the append loop serialises its request bodies in
//!    advance).
//! 2. **propagation** — registrations at a steady rate (open loop, a warm-up first);
//!    after each 201 the client sends one `GET /customers?phone=…&consistency_token=…`,
//!    which query-service holds until its read model has applied the command's event
//!    (mode `token`, the default: the read-your-writes path of a real client); the
//!    sample counts as visible only when that search returns the customer. Mode `poll`
//!    instead polls the search every `--poll-ms` until the customer is found: on a
//!    two-core machine its own reads (≈5 per command at 2 ms, 2,300/s at 500 commands/s)
//!    saturate the CPU and it measures mostly itself. Reported: p99 of
//!    visible − acknowledged. `--probe-every n` probes only every n-th command.
//! 3. **bulk load** — customers registered and changed through the application layer
//!    (`App::register_customer` / `App::change_customer`: real sealed events, no HTTP)
//!    with the projection workers stopped, then the relay drains into the feed and
//!    JetStream.
//! 4. **rebuild** — `projections::rebuild::rebuild` of the customers read model from the
//!    whole feed (after `VACUUM ANALYZE`, so plans are those of a settled database; the
//!    live workers stay stopped); events/s = feed length / seconds. The workers start
//!    again on the rebuilt version for the lookups.
//! 5. **lookup** — `GET /customers?phone=<existing phone>` at N concurrent clients over
//!    the bulk-loaded customers.
//!
//! Every measured phase starts after a `CHECKPOINT`, so none pays for the WAL written
//! by the one before; idle pooled connections are closed between phases, since three
//! pools of `--pool-size` plus the raw baseline's connections can exceed a default
//! `max_connections` of 100.
//!
//! Progress goes to stderr; the report to stdout, its last line one JSON object with
//! the five figures. Exits 0 whether or not the targets are met (1 if a phase fails).
//!
//! Environment: the harness's `BELLE_TEST_DATABASE_URL` / `DATABASE_URL` (superuser)
//! and `BELLE_TEST_NATS_URL` / `NATS_URL`; `BELLE_LOG` (default `warn`);
//! `BELLE_BENCH_KEEP_DB=1` keeps the database; `BELLE_BENCH_SAMPLES=<file>` writes the
//! propagation samples as CSV.

#[path = "../bench/mod.rs"]
mod bench;

use anyhow::{anyhow, bail, Context};
use bench::db;
use bench::http1;
use bench::load::{self, Caller};
use bench::run::{closed_loop, open_loop, LoadResult};
use bench::stats::{ms, round3, Latencies, Summary};
use clap::{Parser, ValueEnum};
use command_service::app::identity::NewTenant;
use command_service::domain::identity::{LoginName, Password, TenantSlug};
use events_schema::envelope::{Actor, Role};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tests::data;
use tests::{Options, TestApp};

/// Phone numbers (`tests::data::phone(n)`) of each phase, so phases never collide.
const APPEND_PHONES: u64 = 0;
const PROPAGATION_PHONES: u64 = 100_000_000;
const BULK_PHONES: u64 = 200_000_000;

const OWNER_PASSWORD: &str = "correct horse battery staple";
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a propagation sample waits for visibility before it counts as a timeout.
const VISIBILITY_BOUND: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Visibility {
    /// Poll `GET /customers?phone=` every `--poll-ms` until found.
    Poll,
    /// One `GET /customers?phone=&consistency_token=` (query-service waits).
    Token,
}

#[derive(Parser, Debug)]
#[command(
    name = "belle-bench",
    about = "Measures Belle against the performance targets of DESIGN §11"
)]
struct Args {
    /// Smoke run: every count ÷10, every duration ÷5.
    #[arg(long)]
    quick: bool,
    /// Concurrent clients of the append, raw and lookup phases.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Connection pool size of command-service (the harness sizes the other pools).
    #[arg(long, default_value_t = 40)]
    pool_size: usize,
    /// Warm-up before each closed-loop measurement, in seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Measured window of the append and raw phases, in seconds.
    #[arg(long, default_value_t = 10.0)]
    append_secs: f64,
    /// Commands per second of the propagation phase.
    #[arg(long, default_value_t = 500)]
    propagation_rate: u64,
    /// Duration of the propagation phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    propagation_secs: f64,
    /// How the propagation phase sees a customer become visible.
    #[arg(long, value_enum, default_value_t = Visibility::Token)]
    propagation_mode: Visibility,
    /// Probe the visibility of every n-th command only (the others are just sent), so
    /// that the probes' own reads do not swamp a small machine.
    #[arg(long, default_value_t = 1)]
    probe_every: u64,
    /// Polling interval of `--propagation-mode poll`, in milliseconds.
    #[arg(long, default_value_t = 2)]
    poll_ms: u64,
    /// Customers registered by the bulk load (lookups pick among them).
    #[arg(long, default_value_t = 150_000)]
    customers: u64,
    /// Changes applied by the bulk load (at least; more if needed for --min-events).
    #[arg(long, default_value_t = 50_000)]
    changes: u64,
    /// Events the store must hold before the rebuild.
    #[arg(long, default_value_t = 200_000)]
    min_events: u64,
    /// Concurrent tasks of the bulk load.
    #[arg(long, default_value_t = 16)]
    load_concurrency: usize,
    /// Measured window of the lookup phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    lookup_secs: f64,
    /// Run only some phases (for profiling one of them); the figures of the phases
    /// left out are reported as 0. `load` is the bulk load plus the rebuild.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Phase>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// The append and raw phases.
    Append,
    Propagation,
    /// The bulk load and the rebuild.
    Rebuild,
    /// The bulk load, the rebuild and the lookups.
    Lookup,
    /// Bookings at 32 clients and availability, on a location of 20 technicians with
    /// 200 bookings on the day asked about.
    Book,
}

impl Args {
    fn runs(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
    }
}

impl Args {
    fn shrink(&mut self) {
        self.customers /= 10;
        self.changes /= 10;
        self.min_events /= 10;
        self.warmup_secs /= 5.0;
        self.append_secs /= 5.0;
        self.propagation_secs /= 5.0;
        self.lookup_secs /= 5.0;
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_secs.max(0.0))
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.1))
}

/// One row of the report.
struct Row {
    phase: &'static str,
    count: u64,
    secs: f64,
    rate: f64,
    lat: Option<Summary>,
    errors: u64,
    note: String,
}

impl Row {
    fn from_load(phase: &'static str, r: &LoadResult, note: String) -> Row {
        Row {
            phase,
            count: r.ok,
            secs: r.secs,
            rate: r.rate(),
            lat: Some(r.latencies.summary()),
            errors: r.errors,
            note,
        }
    }
}

#[derive(Default)]
struct Report {
    environment: String,
    rows: Vec<Row>,
    append_ratio: f64,
    append_p99_ms: f64,
    propagation_p99_ms: f64,
    rebuild_events_per_s: f64,
    lookup_p99_ms: f64,
    book_ratio: f64,
    availability_p99_ms: f64,
    warnings: Vec<String>,
}

impl Report {
    fn print(&self) {
        println!("Belle benchmark — {}", self.environment);
        println!();
        println!(
            "{:<30} {:>9} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}  note",
            "phase", "count", "secs", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        );
        for r in &self.rows {
            let lat = |f: fn(&Summary) -> f64| {
                r.lat
                    .map(|s| format!("{:.2}", f(&s)))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{:<30} {:>9} {:>7.1} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}  {}",
                r.phase,
                r.count,
                r.secs,
                if r.rate > 0.0 {
                    format!("{:.0}", r.rate)
                } else {
                    "-".into()
                },
                lat(|s| s.p50_ms),
                lat(|s| s.p95_ms),
                lat(|s| s.p99_ms),
                lat(|s| s.max_ms),
                r.errors,
                r.note
            );
        }
        for w in &self.warnings {
            println!("warning: {w}");
        }
        println!();
        println!("targets (DESIGN §11):");
        let targets: [(&str, f64, &str, f64, bool); 6] = [
            (
                "append_ratio",
                self.append_ratio,
                "≥",
                0.5,
                self.append_ratio >= 0.5,
            ),
            (
                "append_p99_ms",
                self.append_p99_ms,
                "≤",
                20.0,
                self.append_p99_ms <= 20.0,
            ),
            (
                "propagation_p99_ms",
                self.propagation_p99_ms,
                "≤",
                100.0,
                self.propagation_p99_ms <= 100.0,
            ),
            (
                "rebuild_events_per_s",
                self.rebuild_events_per_s,
                "≥",
                20_000.0,
                self.rebuild_events_per_s >= 20_000.0,
            ),
            (
                "lookup_p99_ms",
                self.lookup_p99_ms,
                "≤",
                10.0,
                self.lookup_p99_ms <= 10.0,
            ),
            (
                "availability_p99_ms",
                self.availability_p99_ms,
                "≤",
                20.0,
                self.availability_p99_ms <= 20.0,
            ),
        ];
        for (name, value, op, target, met) in targets {
            println!(
                "  {name:<22} {value:>12.3} {op} {target:<8} {}",
                if met { "met" } else { "MISSED" }
            );
        }
        println!(
            "{{\"append_ratio\":{}, \"append_p99_ms\":{}, \"propagation_p99_ms\":{}, \"rebuild_events_per_s\":{}, \"lookup_p99_ms\":{}, \"book_ratio\":{}, \"availability_p99_ms\":{}}}",
            json!(round3(self.append_ratio)),
            json!(round3(self.append_p99_ms)),
            json!(round3(self.propagation_p99_ms)),
            json!(round3(self.rebuild_events_per_s)),
            json!(round3(self.lookup_p99_ms)),
            json!(round3(self.book_ratio)),
            json!(round3(self.availability_p99_ms)),
        );
    }
}

/// mimalloc: glibc's malloc spent a tenth of the benchmark's CPU in consolidation and
/// fresh-page faults under this workload of many short-lived JSON values.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    if let Err(e) = bench_main().await {
        eprintln!("belle-bench: {e:#}");
        std::process::exit(1);
    }
}

async fn bench_main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.shrink();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("BELLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let started = Instant::now();
    eprintln!("belle-bench: starting Belle (database from BELLE_TEST_DATABASE_URL / DATABASE_URL, NATS from BELLE_TEST_NATS_URL / NATS_URL)");
    let mut app = tests::spawn_app_with(Options {
        relay: true,
        projections: false,
        pool_size: args.pool_size,
        notify_webhook: None,
        scan_logs: false,
        notify_worker: true,
    })
    .await;
    eprintln!(
        "belle-bench: database {}, NATS prefix {}",
        app.db_name, app.prefix
    );
    let outcome = run(&mut app, &args).await;
    let db_name = app.db_name.clone();
    if std::env::var("BELLE_BENCH_KEEP_DB").is_ok_and(|v| v == "1") {
        eprintln!(
            "belle-bench: keeping database {db_name} and NATS stream of prefix {} (BELLE_BENCH_KEEP_DB=1)",
            app.prefix
        );
        app.kill_projections();
    } else {
        eprintln!("belle-bench: cleaning up");
        if tokio::time::timeout(Duration::from_secs(120), app.cleanup())
            .await
            .is_err()
        {
            eprintln!("belle-bench: cleanup timed out; drop database {db_name} by hand");
        }
    }
    let report = outcome?;
    eprintln!(
        "belle-bench: finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    report.print();
    Ok(())
}

async fn run(app: &mut TestApp, args: &Args) -> anyhow::Result<Report> {
    let admin = tests::admin_client(&app.db_url).await?;
    let pg_version: String = admin.query_one("SHOW server_version", &[]).await?.get(0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = load_average();
    let mut report = Report {
        environment: format!(
            "{cpus} CPUs (load average {load:.2} at start), PostgreSQL {pg_version}, {} clients, command pool {}{}",
            args.clients,
            args.pool_size,
            if args.quick {
                ", QUICK (smoke run)"
            } else {
                ""
            }
        ),
        ..Report::default()
    };
    if load > cpus as f64 * 0.5 {
        report.warnings.push(format!(
            "the machine was already busy at start (load average {load:.2} on {cpus} CPUs): the figures are pessimistic"
        ));
    }

    // A salon and its owner.
    let created = app
        .command_app()
        .create_tenant(NewTenant {
            slug: TenantSlug::parse("bench").map_err(|m| anyhow!("slug: {m}"))?,
            name: "Benchmark salon".into(),
            owner_login: LoginName::parse("owner").map_err(|m| anyhow!("login: {m}"))?,
            owner_password: Password::parse(OWNER_PASSWORD)
                .map_err(|m| anyhow!("password: {m}"))?,
        })
        .await
        .map_err(|e| anyhow!("creating the tenant: {e:?}"))?;
    let token = login(
        &app.http,
        &app.command_url,
        "bench",
        "owner",
        OWNER_PASSWORD,
    )
    .await?;
    let token: Arc<str> = Arc::from(token);
    let caller = Caller {
        tenant: created.tenant_id,
        actor: Actor {
            account_id: Some(created.owner_account_id),
            role: Role::Owner,
        },
    };

    if !args.only.is_empty() {
        report.warnings.push(format!(
            "--only {:?}: the other phases were skipped",
            args.only
        ));
    }
    let mut raw_rate: Option<f64> = None;
    if args.runs(Phase::Append) {
        // 1. Append through HTTP against the raw INSERT+COMMIT baseline, measured in
        // interleaved slices so that both see the same machine.
        checkpoint(&admin).await?;
        let slice = args.append_secs / SLICES as f64;
        eprintln!(
            "[1/6] append vs raw: {} clients POST /customers and {} connections INSERT+COMMIT, {:.1} s warm-up each, then {SLICES} slices of {slice:.1} s each, interleaved",
            args.clients, args.clients, args.warmup_secs
        );
        let appender = Appender::prepare(app, &token, args)?;
        appender.run(args.warmup(), Duration::ZERO).await?;
        release_idle(app);
        let (payloads, payload_bytes) = db::sample_payloads(&admin, 64).await?;
        let inserter = Inserter::prepare(app, &admin, payloads, args.clients).await?;
        inserter.run(args.warmup(), Duration::ZERO).await?;
        let (mut append, mut raw) = (LoadResult::default(), LoadResult::default());
        for k in 0..2 * SLICES {
            // A B B A A B B A …: a drift in the machine's speed weighs on both alike.
            if matches!(k % 4, 0 | 3) {
                append.merge(appender.run(SLICE_LEAD, secs(slice)).await?);
            } else {
                raw.merge(inserter.run(SLICE_LEAD, secs(slice)).await?);
            }
        }
        inserter.finish(&admin).await?;
        eprintln!(
            "  {} commands, {:.0}/s, p99 {:.2} ms",
            append.ok,
            append.rate(),
            append.latencies.summary().p99_ms
        );
        eprintln!(
            "  {} inserts (payload ≈ {payload_bytes:.0} B), {:.0}/s, p99 {:.2} ms",
            raw.ok,
            raw.rate(),
            raw.latencies.summary().p99_ms
        );
        raw_rate = Some(raw.rate());
        report.append_ratio = if raw.rate() > 0.0 {
            append.rate() / raw.rate()
        } else {
            0.0
        };
        report.append_p99_ms = append.latencies.summary().p99_ms;
        report.rows.push(Row::from_load(
            "append: POST /customers",
            &append,
            format!(
                "ratio to raw {:.3}; {SLICES} slices interleaved with raw",
                report.append_ratio
            ),
        ));
        report.rows.push(Row::from_load(
            "raw: INSERT+COMMIT",
            &raw,
            format!("json ≈ {payload_bytes:.0} B"),
        ));
        for (label, r) in [("append", &append), ("raw", &raw)] {
            if let Some(e) = &r.first_error {
                report.warnings.push(format!("{label}: first error: {e}"));
            }
        }
    }

    if args.runs(Phase::Propagation) {
        // 3. Propagation at a steady rate.
        app.start_projections();
        db::wait_settled(&admin, Duration::from_secs(300)).await?;
        checkpoint(&admin).await?;
        let count = ((args.propagation_rate as f64) * args.propagation_secs).round() as u64;
        let warmup = ((args.propagation_rate as f64) * args.warmup_secs).round() as u64;
        eprintln!(
        "[3/6] propagation: {count} registrations at {}/s after {warmup} for warm-up, visibility by {:?}",
        args.propagation_rate, args.propagation_mode
    );
        let prop = propagation_phase(app, &token, args, warmup, count).await?;
        report.propagation_p99_ms = prop.visible.summary().p99_ms;
        eprintln!(
        "  achieved {:.0}/s; command p50 {:.2} ms p99 {:.2} ms; propagation p50 {:.2} ms p99 {:.2} ms; {} timeouts, {} errors",
        prop.achieved_rate,
        prop.acks.summary().p50_ms,
        prop.acks.summary().p99_ms,
        prop.visible.summary().p50_ms,
        report.propagation_p99_ms,
        prop.timeouts,
        prop.errors
    );
        report.rows.push(Row {
            phase: "propagation: ack → visible",
            count: prop.visible.len() as u64,
            secs: args.propagation_secs,
            rate: prop.achieved_rate,
            lat: Some(prop.visible.summary()),
            errors: prop.errors + prop.timeouts,
            note: format!(
                "{:?} mode, 1 in {} probed, {:.0} reads/s; {} timeouts (>{}s, counted as {}s)",
                args.propagation_mode,
                args.probe_every.max(1),
                prop.polls as f64 / args.propagation_secs.max(0.1),
                prop.timeouts,
                VISIBILITY_BOUND.as_secs(),
                VISIBILITY_BOUND.as_secs()
            ),
        });
        report.rows.push(Row {
            phase: "propagation: command latency",
            count: prop.acks.len() as u64,
            secs: args.propagation_secs,
            rate: prop.achieved_rate,
            lat: Some(prop.acks.summary()),
            errors: prop.errors,
            note: String::new(),
        });
        if let Some(e) = &prop.first_error {
            report
                .warnings
                .push(format!("propagation: first error: {e}"));
        }
    }

    if args.runs(Phase::Book) {
        book_phases(app, &admin, &token, args, raw_rate, &mut report).await?;
    }

    if !(args.runs(Phase::Rebuild) || args.runs(Phase::Lookup)) {
        return Ok(report);
    }
    // 4. Bulk load through the application layer, projections stopped.
    app.kill_projections();
    eprintln!(
        "[4/6] bulk load: {} registrations with {} tasks through the application layer",
        args.customers, args.load_concurrency
    );
    let command_app = app.command_app().clone();
    let t = Instant::now();
    let registered = load::register_many(
        &command_app,
        caller,
        BULK_PHONES,
        args.customers,
        args.load_concurrency,
    )
    .await?;
    let reg_secs = t.elapsed().as_secs_f64();
    report.rows.push(Row {
        phase: "bulk: register (app layer)",
        count: registered.len() as u64,
        secs: reg_secs,
        rate: registered.len() as f64 / reg_secs,
        lat: None,
        errors: args.customers - registered.len() as u64,
        note: String::new(),
    });
    let events_now = db::progress(&admin).await?.events;
    let changes = args
        .changes
        .max(args.min_events.saturating_sub(u64::try_from(events_now)?));
    eprintln!("  {events_now} events so far; {changes} changes next");
    let registered = Arc::new(registered);
    let t = Instant::now();
    let changed = load::change_many(
        &command_app,
        caller,
        registered.clone(),
        changes,
        args.load_concurrency,
    )
    .await?;
    let change_secs = t.elapsed().as_secs_f64();
    report.rows.push(Row {
        phase: "bulk: change (app layer)",
        count: changed,
        secs: change_secs,
        rate: changed as f64 / change_secs,
        lat: None,
        errors: changes - changed,
        note: String::new(),
    });
    eprintln!("  waiting for the relay to move everything into the feed and JetStream");
    let t = Instant::now();
    let feed = db::wait_for_relay(&admin, Duration::from_secs(1200)).await?;
    report.rows.push(Row {
        phase: "relay: drain after bulk",
        count: u64::try_from(feed)?,
        secs: t.elapsed().as_secs_f64(),
        rate: 0.0,
        lat: None,
        errors: 0,
        note: "feed length; time to finish moving + publishing".into(),
    });

    // 5. Rebuild.
    eprintln!(
        "[5/6] rebuild of the customers read model from {feed} feed events (after VACUUM ANALYZE)"
    );
    admin.batch_execute("VACUUM ANALYZE").await?;
    checkpoint(&admin).await?;
    let projection = app
        .projections()
        .into_iter()
        .find(|p| p.name() == "customers")
        .ok_or_else(|| anyhow!("no customers projection"))?;
    let t = Instant::now();
    let version = projections::rebuild::rebuild(&app.admin_pool, projection.as_ref())
        .await
        .context("rebuild")?;
    let rebuild_secs = t.elapsed().as_secs_f64();
    report.rebuild_events_per_s = feed as f64 / rebuild_secs;
    eprintln!(
        "  {feed} events in {rebuild_secs:.2} s = {:.0} events/s (now version {version})",
        report.rebuild_events_per_s
    );
    report.rows.push(Row {
        phase: "rebuild: customers",
        count: u64::try_from(feed)?,
        secs: rebuild_secs,
        rate: report.rebuild_events_per_s,
        lat: None,
        errors: 0,
        note: format!("feed events; switched to version {version}"),
    });
    if feed < i64::try_from(args.min_events)? {
        report.warnings.push(format!(
            "the feed held {feed} events, fewer than --min-events {}",
            args.min_events
        ));
    }

    if !args.runs(Phase::Lookup) {
        return Ok(report);
    }
    // 6. Lookups by phone.
    release_idle(app);
    app.start_projections();
    db::wait_settled(&admin, Duration::from_secs(300)).await?;
    admin.batch_execute("ANALYZE").await?;
    checkpoint(&admin).await?;
    let customers: i64 = admin
        .query_one("SELECT count(*) FROM rm.customers", &[])
        .await?
        .get(0);
    eprintln!(
        "[6/6] lookup: {} clients GET /customers?phone= over {} bulk customers ({customers} in the read model), {:.1} s warm-up + {:.1} s",
        args.clients,
        registered.len(),
        args.warmup_secs,
        args.lookup_secs
    );
    let lookup = lookup_phase(app, &token, args, registered).await?;
    report.lookup_p99_ms = lookup.latencies.summary().p99_ms;
    eprintln!(
        "  {} lookups, {:.0}/s, p99 {:.2} ms",
        lookup.ok,
        lookup.rate(),
        report.lookup_p99_ms
    );
    report.rows.push(Row::from_load(
        "lookup: GET /customers?phone=",
        &lookup,
        format!("{customers} customers in the read model"),
    ));
    if let Some(e) = &lookup.first_error {
        report.warnings.push(format!("lookup: first error: {e}"));
    }
    if customers < 100_000 && !args.quick {
        report.warnings.push(format!(
            "lookups ran over {customers} customers, fewer than the 100,000 of the target"
        ));
    }
    Ok(report)
}

/// Flushes dirty buffers before a measured phase, so that no phase pays for the WAL of
/// the one before it (the raw baseline and the bulk load write a lot).
async fn checkpoint(admin: &tokio_postgres::Client) -> anyhow::Result<()> {
    admin
        .batch_execute("CHECKPOINT")
        .await
        .context("CHECKPOINT")?;
    Ok(())
}

/// The 1-minute load average (0 where unknown).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Closes the idle connections of the command-service and projection pools, so the
/// next phase finds free PostgreSQL connection slots (`max_connections` is often 100,
/// and three pools of `--pool-size` plus the raw baseline's connections exceed it).
fn release_idle(app: &TestApp) {
    let command = app.command_app().pool.retain(|_, _| false).removed.len();
    let projections = app.projection_pool.retain(|_, _| false).removed.len();
    eprintln!(
        "  closed {command} idle command-service and {projections} idle projection connections"
    );
}

async fn login(
    http: &reqwest::Client,
    command_url: &str,
    tenant: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<String> {
    let r = http
        .post(format!("{command_url}/auth/login"))
        .json(&json!({ "tenant": tenant, "login": login, "password": password }))
        .timeout(HTTP_TIMEOUT)
        .send()
        .await
        .context("login request")?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match body["access_token"].as_str() {
        Some(t) if status == 200 => Ok(t.to_owned()),
        _ => bail!("login failed: {status} {body}"),
    }
}

/// POSTs a registration; returns the response body of a 201.
async fn register_http(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let bytes = register_raw(
        http,
        &reqwest::Url::parse(url)?,
        &bearer(token)?,
        bytes::Bytes::from(body.to_string()),
    )
    .await?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// GETs a search; returns its `total` when 200, or the status and body otherwise.
async fn search_total(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<Result<i64, String>> {
    let r = http
        .get(url)
        .bearer_auth(token)
        .timeout(HTTP_TIMEOUT)
        .send()
        .await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    if status != 200 {
        return Ok(Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    let page: Value = serde_json::from_slice(&bytes)?;
    page["total"]
        .as_i64()
        .map(Ok)
        .ok_or_else(|| anyhow!("search page without total"))
}

/// Most registrations per second the append phase prepares bodies for in advance.
const APPEND_BODIES_PER_SEC: f64 = 16_000.0;

/// Slices each of the append and raw loops is measured in, interleaved.
const SLICES: usize = 5;
/// Unmeasured lead-in of every slice: the other loop's last operations finish and this
/// loop's clients are all busy before the clock starts.
const SLICE_LEAD: Duration = Duration::from_millis(250);

/// The append loop: `POST /customers` over one kept-alive connection per client, as
/// each raw baseline client holds one.
struct Appender {
    clients: Arc<http1::Clients>,
    bodies: Arc<Vec<bytes::Bytes>>,
    next: Arc<AtomicU64>,
}

impl Appender {
    fn prepare(app: &TestApp, token: &Arc<str>, args: &Args) -> anyhow::Result<Appender> {
        let clients = Arc::new(http1::Clients::new(
            &app.command_url,
            args.clients,
            bearer(token)?,
        )?);
        // The request bodies are generated and serialised before the clock starts, as
        // the raw baseline's payloads are: the phase measures Belle, not test-data
        // synthesis. Past the prepared ones, bodies are made on the fly.
        let running =
            args.warmup_secs + args.append_secs + SLICES as f64 * SLICE_LEAD.as_secs_f64();
        let prepared = (running.max(0.1) * APPEND_BODIES_PER_SEC) as u64;
        let bodies = Arc::new(
            (0..prepared)
                .map(|i| {
                    let body = data::customer(&mut rand::thread_rng(), APPEND_PHONES + i);
                    bytes::Bytes::from(body.to_string())
                })
                .collect(),
        );
        Ok(Appender {
            clients,
            bodies,
            next: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A closed loop of every client (one per connection) for `warmup + measure`.
    async fn run(&self, warmup: Duration, measure: Duration) -> anyhow::Result<LoadResult> {
        let (http, bodies, next) = (self.clients.clone(), self.bodies.clone(), self.next.clone());
        closed_loop(http.len(), warmup, measure, move |client| {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let body = bodies
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .cloned();
            let http = http.clone();
            async move {
                let body = match body {
                    Some(b) => b,
                    None => bytes::Bytes::from(
                        data::customer(&mut rand::thread_rng(), APPEND_PHONES + i).to_string(),
                    ),
                };
                let response = http
                    .send(
                        client,
                        reqwest::Method::POST,
                        "/customers",
                        body,
                        HTTP_TIMEOUT,
                    )
                    .await?;
                http1::expect("POST /customers", response, reqwest::StatusCode::CREATED)?;
                Ok(())
            }
        })
        .await
    }
}

/// `Authorization: Bearer <token>`, marked sensitive.
fn bearer(token: &str) -> anyhow::Result<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `POST /customers` with a body already serialised; the response body of a 201.
async fn register_raw(
    http: &reqwest::Client,
    url: &reqwest::Url,
    auth: &reqwest::header::HeaderValue,
    body: bytes::Bytes,
) -> anyhow::Result<bytes::Bytes> {
    let r = http
        .post(url.clone())
        .header(reqwest::header::AUTHORIZATION, auth.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(HTTP_TIMEOUT)
        .send()
        .await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    if status != 201 {
        bail!(
            "POST /customers: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(bytes)
}

/// The raw baseline: one connection per client, each inserting a sampled registration
/// payload into a scratch table, one row per autocommitted statement.
struct Inserter {
    conns: Arc<Vec<(tokio_postgres::Client, tokio_postgres::Statement)>>,
    payloads: Arc<Vec<Value>>,
    next: Arc<AtomicU64>,
    tenant: uuid::Uuid,
}

impl Inserter {
    async fn prepare(
        app: &TestApp,
        admin: &tokio_postgres::Client,
        payloads: Vec<Value>,
        clients: usize,
    ) -> anyhow::Result<Inserter> {
        admin.batch_execute(db::RAW_TABLE_DDL).await?;
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            let c = tests::admin_client(&app.db_url).await?;
            let stmt = c.prepare(db::RAW_INSERT).await?;
            conns.push((c, stmt));
        }
        Ok(Inserter {
            conns: Arc::new(conns),
            payloads: Arc::new(payloads),
            next: Arc::new(AtomicU64::new(0)),
            tenant: uuid::Uuid::now_v7(),
        })
    }

    /// A closed loop over every connection for `warmup + measure`.
    async fn run(&self, warmup: Duration, measure: Duration) -> anyhow::Result<LoadResult> {
        let (conns, payloads, next, tenant) = (
            self.conns.clone(),
            self.payloads.clone(),
            self.next.clone(),
            self.tenant,
        );
        closed_loop(conns.len(), warmup, measure, move |c| {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let (conns, payloads) = (conns.clone(), payloads.clone());
            async move {
                let (client, stmt) = &conns[c];
                let payload = &payloads[(i % payloads.len() as u64) as usize];
                let stream_id = format!("customer-{}", uuid::Uuid::now_v7());
                client
                    .execute(stmt, &[&tenant, &stream_id, payload])
                    .await?;
                Ok(())
            }
        })
        .await
    }

    /// Drops the scratch table (the connections close when the inserter is dropped).
    async fn finish(self, admin: &tokio_postgres::Client) -> anyhow::Result<()> {
        drop(self.conns);
        admin
            .batch_execute("DROP TABLE IF EXISTS public.bench_raw_inserts")
            .await?;
        Ok(())
    }
}

struct Propagation {
    visible: Latencies,
    acks: Latencies,
    /// Visibility reads sent by the probes.
    polls: u64,
    timeouts: u64,
    errors: u64,
    achieved_rate: f64,
    first_error: Option<String>,
}

enum Sample {
    /// A command whose visibility was not probed.
    Acked {
        ack: Duration,
    },
    Visible {
        ack: Duration,
        visible: Duration,
        polls: u64,
    },
    TimedOut {
        ack: Duration,
        polls: u64,
    },
    Failed(String),
}

async fn propagation_phase(
    app: &TestApp,
    token: &Arc<str>,
    args: &Args,
    warmup: u64,
    count: u64,
) -> anyhow::Result<Propagation> {
    let http = app.http.clone();
    let command_url: Arc<str> = Arc::from(format!("{}/customers", app.command_url));
    let query_url: Arc<str> = Arc::from(app.query_url.as_str());
    let mode = args.propagation_mode;
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let probe_every = args.probe_every.max(1);
    let (samples, achieved_rate) = open_loop(args.propagation_rate, warmup + count, |i| {
        let n = PROPAGATION_PHONES + i;
        let body = data::customer(&mut rand::thread_rng(), n);
        let phone = data::phone(n);
        let probe = i % probe_every == 0;
        let (http, command_url, query_url, token) = (
            http.clone(),
            command_url.clone(),
            query_url.clone(),
            token.clone(),
        );
        async move {
            match propagate(
                &http,
                &command_url,
                &query_url,
                &token,
                &body,
                &phone,
                mode,
                poll,
                probe,
            )
            .await
            {
                Ok(s) => s,
                Err(e) => Sample::Failed(format!("{e:#}")),
            }
        }
    })
    .await?;
    let mut p = Propagation {
        visible: Latencies::default(),
        acks: Latencies::default(),
        polls: 0,
        timeouts: 0,
        errors: 0,
        achieved_rate,
        first_error: None,
    };
    if let Ok(path) = std::env::var("BELLE_BENCH_SAMPLES") {
        write_samples(&path, &samples, args.propagation_rate)?;
    }
    // Only the commands started after the warm-up count.
    for s in samples.into_iter().skip(usize::try_from(warmup)?) {
        match s {
            Sample::Acked { ack } => p.acks.push(ack),
            Sample::Visible {
                ack,
                visible,
                polls,
            } => {
                p.acks.push(ack);
                p.visible.push(visible);
                p.polls += polls;
            }
            Sample::TimedOut { ack, polls } => {
                p.acks.push(ack);
                p.polls += polls;
                p.visible.push(VISIBILITY_BOUND);
                p.timeouts += 1;
            }
            Sample::Failed(e) => {
                p.errors += 1;
                p.first_error.get_or_insert(e);
            }
        }
    }
    Ok(p)
}

/// Writes the propagation samples as CSV (`BELLE_BENCH_SAMPLES=<file>`), for looking
/// at when slow ones happened: start offset, command latency, visibility latency (ms).
fn write_samples(path: &str, samples: &[Sample], rate: u64) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut out = String::from("i,start_ms,ack_ms,visible_ms,outcome\n");
    for (i, s) in samples.iter().enumerate() {
        let start = i as f64 * 1000.0 / rate.max(1) as f64;
        let (ack, visible, outcome) = match s {
            Sample::Acked { ack } => (ms(*ack), f64::NAN, "acked"),
            Sample::Visible { ack, visible, .. } => (ms(*ack), ms(*visible), "visible"),
            Sample::TimedOut { ack, .. } => (ms(*ack), f64::NAN, "timeout"),
            Sample::Failed(_) => (f64::NAN, f64::NAN, "failed"),
        };
        writeln!(out, "{i},{start:.1},{ack:.3},{visible:.3},{outcome}")?;
    }
    std::fs::write(path, out).with_context(|| format!("writing {path}"))?;
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one sample's whole setting")]
async fn propagate(
    http: &reqwest::Client,
    command_url: &str,
    query_url: &str,
    token: &str,
    body: &Value,
    phone: &str,
    mode: Visibility,
    poll: Duration,
    probe: bool,
) -> anyhow::Result<Sample> {
    let t0 = Instant::now();
    let out = register_http(http, command_url, token, body).await?;
    let acked = Instant::now();
    let ack = acked - t0;
    if !probe {
        return Ok(Sample::Acked { ack });
    }
    let url = match mode {
        Visibility::Poll => format!("{query_url}/customers?phone={phone}"),
        Visibility::Token => format!(
            "{query_url}/customers?phone={phone}&consistency_token={}",
            out["consistency_token"].as_str().unwrap_or_default()
        ),
    };
    let deadline = acked + VISIBILITY_BOUND;
    let mut polls = 0;
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if mode == Visibility::Poll {
            ticker.tick().await;
        }
        polls += 1;
        match search_total(http, &url, token).await? {
            Ok(1) => {
                return Ok(Sample::Visible {
                    ack,
                    visible: acked.elapsed(),
                    polls,
                })
            }
            Ok(_) => {}
            // 503 not_caught_up: query-service gave up waiting for the token.
            Err(e) if e.starts_with("503") => {}
            Err(e) => bail!("GET /customers: {e}"),
        }
        if Instant::now() >= deadline {
            return Ok(Sample::TimedOut { ack, polls });
        }
    }
}

async fn lookup_phase(
    app: &TestApp,
    token: &Arc<str>,
    args: &Args,
    customers: Arc<Vec<(u64, events_schema::ids::CustomerId)>>,
) -> anyhow::Result<LoadResult> {
    if customers.is_empty() {
        bail!("no customers to look up");
    }
    // One kept-alive connection per client, as in the append phase.
    let clients = Arc::new(http1::Clients::new(
        &app.query_url,
        args.clients,
        bearer(token)?,
    )?);
    closed_loop(
        args.clients,
        args.warmup(),
        secs(args.lookup_secs),
        move |client| {
            let (n, _) = customers[rand::thread_rng().gen_range(0..customers.len())];
            let path = format!("/customers?phone={}", data::phone(n));
            let clients = clients.clone();
            async move {
                let response = clients
                    .send(
                        client,
                        reqwest::Method::GET,
                        &path,
                        bytes::Bytes::new(),
                        HTTP_TIMEOUT,
                    )
                    .await?;
                let body = http1::expect("GET /customers", response, reqwest::StatusCode::OK)?;
                let page: Value = serde_json::from_slice(&body)?;
                match page["total"].as_i64() {
                    Some(1) => Ok(()),
                    Some(t) => bail!("lookup found {t} customers instead of 1"),
                    None => bail!("search page without total"),
                }
            }
        },
    )
    .await
}

/// Phone numbers of the booking phases' customer (a range no other phase uses).
const BOOKING_PHONE: u64 = 500_000_000;
/// Technicians of the booking location, and bookings loaded on its busy day.
const TECHNICIANS: usize = 20;
const LOADED_BOOKINGS: usize = 200;

/// `POST` or `GET` with the owner's token; the status and JSON body.
async fn call_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http
        .request(method, url)
        .bearer_auth(token)
        .timeout(HTTP_TIMEOUT);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

struct BookingSetup {
    location: String,
    service: String,
    customer: String,
    staff: Vec<String>,
    /// The day with the loaded bookings.
    busy_day: chrono::NaiveDate,
}

/// A location open 09:00–21:00, a published 45+15-minute service, 20 technicians on
/// shift every day, a customer, and 200 bookings on one day (10 per technician).
async fn booking_setup(
    app: &TestApp,
    admin: &tokio_postgres::Client,
    token: &str,
) -> anyhow::Result<BookingSetup> {
    let (http, base) = (&app.http, &app.command_url);
    let post = |path: &str, body: Value| {
        let url = format!("{base}{path}");
        async move { call_json(http, reqwest::Method::POST, url, token, Some(&body)).await }
    };
    let day = json!([{ "start": "09:00", "end": "21:00" }]);
    let week = json!({ "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day });
    let (status, out) = post(
        "/locations",
        json!({ "name": "Bench salon", "time_zone": "Asia/Shanghai", "weekly_hours": week }),
    )
    .await?;
    anyhow::ensure!(status == 201, "location: {status} {out}");
    let location = out["location_id"].as_str().unwrap_or_default().to_owned();
    let category: String = admin
        .query_one(
            "SELECT payload::jsonb->>'category_id' FROM es.events WHERE event_type = 'CategoryCreated' LIMIT 1",
            &[],
        )
        .await?
        .get(0);
    let (status, out) = post(
        "/services",
        json!({ "category_id": category, "name": "补水护理",
        "segments": { "work": 45, "buffer_after": 15 }, "price": "198.00" }),
    )
    .await?;
    anyhow::ensure!(status == 201, "service: {status} {out}");
    let service = out["service_id"].as_str().unwrap_or_default().to_owned();
    let (status, out) = post(&format!("/services/{service}/publish"), json!({})).await?;
    anyhow::ensure!(status == 200, "publish: {status} {out}");
    let (status, out) = post(
        "/customers",
        json!({ "name": "预约客", "phone": data::phone(BOOKING_PHONE),
        "consent": { "privacy_policy_version": "v1" } }),
    )
    .await?;
    anyhow::ensure!(status == 201, "customer: {status} {out}");
    let customer = out["customer_id"].as_str().unwrap_or_default().to_owned();
    let today = chrono::Utc::now().date_naive();
    let mut staff = Vec::new();
    for i in 0..TECHNICIANS {
        let (status, out) = post(
            "/staff",
            json!({ "name": format!("技师{i}"), "position": "美容师", "level": "初级",
            "hire_date": "2025-01-01", "skills": [service], "locations": [location] }),
        )
        .await?;
        anyhow::ensure!(status == 201, "staff: {status} {out}");
        let id = out["staff_id"].as_str().unwrap_or_default().to_owned();
        let (status, out) = post(
            &format!("/staff/{id}/rota"),
            json!({ "action": "set_pattern",
            "location_id": location, "valid_from": today.to_string(), "days": week }),
        )
        .await?;
        anyhow::ensure!(status == 200, "rota: {status} {out}");
        staff.push(id);
    }
    let busy_day = today + chrono::Duration::days(2);
    for (k, tech) in staff
        .iter()
        .flat_map(|t| (0..LOADED_BOOKINGS / TECHNICIANS).map(move |k| (k, t)))
    {
        let (status, out) = post(
            "/bookings",
            json!({ "location_id": location, "customer_id": customer,
            "start": format!("{busy_day}T{:02}:00", 9 + k),
            "services": [{ "service_id": service, "staff_id": tech }] }),
        )
        .await?;
        anyhow::ensure!(status == 201, "loading a booking: {status} {out}");
    }
    Ok(BookingSetup {
        location,
        service,
        customer,
        staff,
        busy_day,
    })
}

async fn book_phases(
    app: &TestApp,
    admin: &tokio_postgres::Client,
    token: &Arc<str>,
    args: &Args,
    raw_rate: Option<f64>,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("[book] setup: a location with {TECHNICIANS} technicians and {LOADED_BOOKINGS} bookings on one day");
    let setup = Arc::new(booking_setup(app, admin, token).await?);
    let raw_rate = match raw_rate {
        Some(r) => r,
        None => {
            let (payloads, _) = db::sample_payloads(admin, 64).await?;
            let inserter = Inserter::prepare(app, admin, payloads, args.clients).await?;
            let raw = inserter.run(args.warmup(), secs(args.append_secs)).await?;
            inserter.finish(admin).await?;
            raw.rate()
        }
    };
    checkpoint(admin).await?;
    eprintln!(
        "[book] {} clients POST /bookings at random quarter hours of the next 120 days, {:.1} s warm-up + {:.1} s",
        args.clients, args.warmup_secs, args.append_secs
    );
    let refused = Arc::new(AtomicU64::new(0));
    let (http, base, tok) = (app.http.clone(), app.command_url.clone(), token.clone());
    let (s, r) = (setup.clone(), refused.clone());
    let book = closed_loop(
        args.clients,
        args.warmup(),
        secs(args.append_secs),
        move |_| {
            let (http, base, tok, s, r) = (
                http.clone(),
                base.clone(),
                tok.clone(),
                s.clone(),
                r.clone(),
            );
            async move {
                let (day, quarter, tech) = {
                    let mut rng = rand::thread_rng();
                    (
                        rand::Rng::gen_range(&mut rng, 3..123i64),
                        rand::Rng::gen_range(&mut rng, 0..44u32),
                        rand::Rng::gen_range(&mut rng, 0..s.staff.len()),
                    )
                };
                let date = s.busy_day + chrono::Duration::days(day);
                let body = json!({ "location_id": s.location, "customer_id": s.customer,
                "start": format!("{date}T{:02}:{:02}", 9 + quarter / 4, (quarter % 4) * 15),
                "services": [{ "service_id": s.service, "staff_id": s.staff[tech] }] });
                let (status, out) = call_json(
                    &http,
                    reqwest::Method::POST,
                    format!("{base}/bookings"),
                    &tok,
                    Some(&body),
                )
                .await?;
                match status {
                    201 => Ok(()),
                    409 => {
                        r.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    _ => bail!("POST /bookings: {status} {out}"),
                }
            }
        },
    )
    .await?;
    let refusals = refused.load(Ordering::Relaxed);
    // A refusal (taken) is a completed command too; the ratio counts every one.
    report.book_ratio = if raw_rate > 0.0 {
        book.rate() / raw_rate
    } else {
        0.0
    };
    eprintln!("  {} commands ({refusals} refused as taken, counted from the start), {:.0}/s, p99 {:.2} ms", book.ok, book.rate(), book.latencies.summary().p99_ms);
    report.rows.push(Row::from_load(
        "book: POST /bookings",
        &book,
        format!(
            "ratio to raw {:.3}; refusals (409) included",
            report.book_ratio
        ),
    ));

    // Each phase measures its own operation on a settled system: the read models still
    // applying the bookings just made would otherwise run beside the availability reads.
    if app.projections_running() {
        db::wait_settled(admin, Duration::from_secs(300)).await?;
    }
    checkpoint(admin).await?;
    eprintln!(
        "[book] {} clients GET availability of the loaded day (any of {TECHNICIANS} technicians), {:.1} s warm-up + {:.1} s",
        args.clients, args.warmup_secs, args.lookup_secs
    );
    let (http, base, tok, s) = (
        app.http.clone(),
        app.command_url.clone(),
        token.clone(),
        setup.clone(),
    );
    let avail = closed_loop(
        args.clients,
        args.warmup(),
        secs(args.lookup_secs),
        move |_| {
            let (http, tok) = (http.clone(), tok.clone());
            let url = format!(
                "{base}/locations/{}/availability?service_id={}&date={}",
                s.location, s.service, s.busy_day
            );
            async move {
                let (status, out) = call_json(&http, reqwest::Method::GET, url, &tok, None).await?;
                if status != 200
                    || out["dates"][0]["windows"]
                        .as_array()
                        .is_none_or(Vec::is_empty)
                {
                    bail!("availability: {status} {out}");
                }
                Ok(())
            }
        },
    )
    .await?;
    report.availability_p99_ms = avail.latencies.summary().p99_ms;
    eprintln!(
        "  {} reads, {:.0}/s, p99 {:.2} ms",
        avail.ok,
        avail.rate(),
        report.availability_p99_ms
    );
    report.rows.push(Row::from_load(
        "availability: one day, any tech",
        &avail,
        String::new(),
    ));
    for (label, r) in [("book", &book), ("availability", &avail)] {
        if let Some(e) = &r.first_error {
            report.warnings.push(format!("{label}: first error: {e}"));
        }
    }
    Ok(())
}
