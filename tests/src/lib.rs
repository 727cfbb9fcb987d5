//! # tests — end-to-end harness, demo loader and benchmark
//!
//! [`spawn_app`] builds the real application in-process against REAL PostgreSQL and
//! NATS JetStream: its own database cloned from a migrated template, its own NATS
//! subject prefix and stream, the three services on port 0. The integration tests in
//! `tests/tests/`, the `belle-demo` loader and the `belle-bench` benchmark use it.
//!
//! Connection settings: `BELLE_TEST_DATABASE_URL` (a superuser URL to a maintenance
//! database; default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `BELLE_TEST_NATS_URL` (default `nats://127.0.0.1:4222`).

pub mod data;
pub mod log_scan;

use anyhow::Context;
use command_service::config::Config as CommandConfig;
use command_service::startup::Application as CommandApp;
use events_schema::keystore::KeyStore;
use events_schema::sealing::Kek;
use events_schema::token::TokenSecret;
use projections::Projection;
use query_service::config::Config as QueryConfig;
use query_service::startup::Application as QueryApp;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub fn admin_url() -> String {
    std::env::var("BELLE_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("BELLE_TEST_NATS_URL")
        .or_else(|_| std::env::var("NATS_URL"))
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The admin URL pointed at another database.
pub fn url_for(db: &str) -> String {
    let base = admin_url();
    match base.rsplit_once('/') {
        Some((head, tail)) if !head.ends_with('/') => {
            let query = tail
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            format!("{head}/{db}{query}")
        }
        _ => format!("{base}/{db}"),
    }
}

pub async fn admin_client(db_url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::Config::from_str(db_url)?
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting as admin")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn all_migrations() -> Vec<(&'static str, &'static [events_schema::migrate::Migration])> {
    let mut m = command_service::startup::migrations();
    m.push(("projections", projections::MIGRATIONS));
    m
}

/// Name of the migrated template database for the current migrations.
fn template_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (c, ms) in all_migrations() {
        c.hash(&mut h);
        for m in ms {
            m.sql.hash(&mut h);
        }
    }
    format!("belle_tpl_{:016x}", h.finish())
}

/// Creates a fresh database cloned from the migrated template.
pub async fn fresh_database(prefix: &str) -> anyhow::Result<String> {
    let admin = admin_client(&admin_url()).await?;
    let template = template_name();
    // Serialise template creation across parallel tests and processes.
    admin
        .execute("SELECT pg_advisory_lock(4242424242)", &[])
        .await?;
    let exists: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&template],
        )
        .await?
        .get(0);
    if !exists {
        let building = format!("{template}_build");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await?;
        events_schema::db::migrate(&url_for(&building), &all_migrations()).await?;
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await?;
    }
    admin
        .execute("SELECT pg_advisory_unlock(4242424242)", &[])
        .await?;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut last = None;
    for _ in 0..20 {
        match admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
        {
            // No database-level privilege to re-apply: TEMPLATE does not copy them, and
            // the service roles need none (the administrator creates every schema).
            Ok(()) => return Ok(name),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("create database")))
}

pub async fn drop_database(name: &str) -> anyhow::Result<()> {
    let admin = admin_client(&admin_url()).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}

/// SQL that inserts events `test-<from>` … `test-<to>` (stream type `test`, one event
/// each, system metadata, a payload with a multi-byte character) straight into
/// `es.events`, as an administrator: for relay and chain tests that need rows the
/// relay has not seen yet.
pub fn insert_test_events_sql(from: i32, to: i32) -> String {
    let tenant = uuid::Uuid::new_v4();
    let metadata = serde_json::to_string(&events_schema::envelope::Metadata::system(
        events_schema::ids::TenantId::from_uuid(tenant),
        uuid::Uuid::new_v4(),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    format!(
        "INSERT INTO es.events (event_id, tenant_id, stream_id, stream_type, stream_version,
                                event_type, schema_version, payload, metadata)
         SELECT gen_random_uuid(), '{tenant}', 'test-' || n, 'test', 1, 'TestHappened', 1,
                json_build_object('n', n, 'note', '链 ✓'), '{metadata}'
         FROM generate_series({from}, {to}) n;"
    )
}

/// Runs the relay's move (without leadership) until at least `n` events have moved
/// into the feed; returns how many did. Events wait behind the visibility barrier while
/// any older transaction in the cluster (another test's) is open, so this retries for
/// up to 30 s before failing the test.
pub async fn move_at_least(pool: &deadpool_postgres::Pool, n: usize) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut moved = 0;
    while moved < n {
        moved += command_service::relay::move_to_feed(pool)
            .await
            .unwrap_or_else(|e| panic!("move: {e:#}"));
        assert!(tokio::time::Instant::now() < deadline, "moved only {moved}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    moved
}

/// What `spawn_app` may change.
#[derive(Clone, Debug)]
pub struct Options {
    /// Run the relay inside command-service.
    pub relay: bool,
    /// Run the projection workers.
    pub projections: bool,
    pub pool_size: usize,
    /// Send notifications to this gateway instead of the app's log file.
    pub notify_webhook: Option<String>,
    /// Format and scan every service log line for personal data (off for benchmarks).
    pub scan_logs: bool,
    /// Run command-service's notification worker and reminder planner (tests that kill
    /// and restart them run their own).
    pub notify_worker: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            relay: true,
            projections: true,
            pool_size: 8,
            notify_webhook: None,
            scan_logs: true,
            notify_worker: true,
        }
    }
}

/// PostgreSQL connections the tests of one process may hold at once
/// (`BELLE_TEST_MAX_CONNECTIONS`, default 70 of the server's usual 100). Each app takes
/// its share before starting and gives it back when dropped, so parallel tests queue
/// instead of exhausting the server.
static CONNECTION_BUDGET: std::sync::Mutex<Option<usize>> = std::sync::Mutex::new(None);

fn budget_total() -> usize {
    std::env::var("BELLE_TEST_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(70)
}

/// A share of the connection budget, returned on drop.
pub struct BudgetShare(usize);

impl BudgetShare {
    pub async fn acquire(wanted: usize) -> BudgetShare {
        let wanted = wanted.min(budget_total());
        loop {
            {
                let mut left = CONNECTION_BUDGET
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let available = left.get_or_insert_with(budget_total);
                if *available >= wanted {
                    *available -= wanted;
                    return BudgetShare(wanted);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        let mut left = CONNECTION_BUDGET
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *left.get_or_insert_with(budget_total) += self.0;
    }
}

/// Pool size of query-service and the projections in tests (command-service takes
/// `Options::pool_size`).
const SIDE_POOL: usize = 6;
/// Connections of the administrator's pool (versions of read models, rebuild, verify).
const ADMIN_POOL: usize = 3;

/// A running Belle with its own database and NATS prefix.
pub struct TestApp {
    _budget: BudgetShare,
    pub db_name: String,
    pub db_url: String,
    pub prefix: String,
    pub kek: Kek,
    pub tokens: TokenSecret,
    pub command: Option<CommandApp>,
    pub query: Option<QueryApp>,
    pub command_url: String,
    pub query_url: String,
    pub http: reqwest::Client,
    pub projection_pool: deadpool_postgres::Pool,
    /// The administrator's pool: what `projections rebuild|verify` use.
    pub admin_pool: deadpool_postgres::Pool,
    pub keys: KeyStore,
    /// The `log` notification channel's file (unless `Options::notify_webhook`).
    pub notify_log: std::path::PathBuf,
    workers: Vec<(watch::Sender<bool>, JoinHandle<()>)>,
    pub options: Options,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    try_spawn(options)
        .await
        .unwrap_or_else(|e| panic!("spawning Belle: {e:#}"))
}

async fn try_spawn(options: Options) -> anyhow::Result<TestApp> {
    // command pool + 3 key pools of 4 + query and projection pools + relay lock + admin
    let budget =
        BudgetShare::acquire(options.pool_size + 12 + 2 * SIDE_POOL + 4 + ADMIN_POOL).await;
    // Every service log line is scanned for personal data (`cleanup` fails the test on
    // a hit); BELLE_TEST_LOG=debug (a tracing filter) also prints them.
    if options.scan_logs {
        log_scan::install();
    }
    let db_name = fresh_database("belle_t").await?;
    let db_url = url_for(&db_name);
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let kek = Kek::generate("k1");
    let tokens = TokenSecret::generate();
    let notify_log = std::env::temp_dir().join(format!("belle-{prefix}-notifications.jsonl"));
    let command = CommandApp::build(CommandConfig {
        database_url: db_url.clone(),
        app_user: "belle_command".into(),
        app_password: None,
        pool_size: options.pool_size,
        nats_url: nats_url(),
        nats_prefix: prefix.clone(),
        nats_replicas: 1,
        kek: Arc::new(kek.clone()),
        previous_kek: None,
        token_secret: tokens.clone(),
        addr: "127.0.0.1:0".parse()?,
        token_ttl: Duration::from_secs(3600),
        relay: options.relay,
        notify_channel: match &options.notify_webhook {
            Some(url) => command_service::app::notify::Channel::Webhook { url: url.clone() },
            None => command_service::app::notify::Channel::Log {
                file: notify_log.clone(),
            },
        },
        notify_worker: options.notify_worker,
    })
    .await?;
    // The stream exists even when this app's relay is off (tests run their own).
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await?);
    command_service::relay::ensure_stream(&js, &prefix, 1).await?;
    let query = QueryApp::build(QueryConfig {
        database_url: db_url.clone(),
        app_user: "belle_query".into(),
        app_password: None,
        pool_size: SIDE_POOL,
        kek: kek.clone(),
        previous_kek: None,
        token_secret: tokens.clone(),
        addr: "127.0.0.1:0".parse()?,
    })
    .await?;
    let projection_pool =
        events_schema::db::app_pool(&db_url, "belle_projections", None, SIDE_POOL)?;
    let keys = KeyStore::new(
        events_schema::db::app_pool(&db_url, "belle_projections", None, 4)?,
        kek.clone(),
    );
    let admin_pool = events_schema::db::admin_pool(&db_url, ADMIN_POOL)?;
    let mut app = TestApp {
        _budget: budget,
        command_url: format!("http://{}", command.addr()),
        query_url: format!("http://{}", query.addr()),
        db_name,
        db_url,
        prefix,
        kek,
        tokens,
        command: Some(command),
        query: Some(query),
        // Neither redirects nor proxies: Belle answers directly, and following
        // redirects costs a URL parse per request, which the benchmark's load
        // generator would pay beside the services it measures.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?,
        projection_pool,
        admin_pool,
        keys,
        notify_log,
        workers: Vec::new(),
        options: options.clone(),
    };
    for p in projections::all(app.keys.clone()) {
        projections::registry::ensure_live(&app.admin_pool, p.as_ref()).await?;
    }
    if options.projections {
        app.start_projections();
    }
    Ok(app)
}

impl TestApp {
    pub fn projections(&self) -> Vec<Arc<dyn Projection>> {
        projections::all(self.keys.clone())
    }

    /// Starts the projection workers.
    pub fn start_projections(&mut self) {
        for p in self.projections() {
            let (tx, rx) = watch::channel(false);
            let handle = tokio::spawn(projections::runner::run_worker(
                self.projection_pool.clone(),
                nats_url(),
                self.prefix.clone(),
                p,
                rx,
            ));
            self.workers.push((tx, handle));
        }
    }

    /// Whether projection workers are running.
    pub fn projections_running(&self) -> bool {
        !self.workers.is_empty()
    }

    /// Kills the projection workers abruptly (mid-batch if they are in one).
    pub fn kill_projections(&mut self) {
        for (_, h) in self.workers.drain(..) {
            h.abort();
        }
    }

    /// Every message JetStream holds for this app, in stream order (the stream is the
    /// relay's, under this app's prefix).
    pub async fn stored_messages(&self) -> Vec<async_nats::jetstream::message::StreamMessage> {
        let js = async_nats::jetstream::new(
            async_nats::connect(nats_url())
                .await
                .unwrap_or_else(|e| panic!("nats: {e}")),
        );
        let mut stream = js
            .get_stream(events_schema::subjects::events_stream(&self.prefix))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let last = stream
            .info()
            .await
            .map(|i| i.state.last_sequence)
            .unwrap_or(0);
        let mut messages = Vec::new();
        for seq in 1..=last {
            messages.push(
                stream
                    .get_raw_message(seq)
                    .await
                    .unwrap_or_else(|e| panic!("message {seq}: {e}")),
            );
        }
        messages
    }

    /// A relay for this app (for tests that run the relay themselves).
    pub async fn relay(&self) -> command_service::relay::Relay {
        let js = async_nats::jetstream::new(
            async_nats::connect(nats_url())
                .await
                .unwrap_or_else(|e| panic!("nats: {e}")),
        );
        let app = self.command.as_ref().map(|c| c.app().clone());
        command_service::relay::Relay {
            pool: app
                .as_ref()
                .map(|a| a.pool.clone())
                .unwrap_or_else(|| self.projection_pool.clone()),
            admin_url: self.db_url.clone(),
            user: "belle_command".into(),
            password: None,
            js,
            prefix: self.prefix.clone(),
            wakeup: app.map(|a| a.relay_wakeup.clone()).unwrap_or_default(),
        }
    }

    /// A command context for calling the application layer directly as the tenant's owner.
    pub fn context(&self, tenant: &str) -> command_service::app::CommandContext {
        command_service::app::CommandContext {
            tenant: tenant.parse().unwrap_or_else(|e| panic!("tenant id: {e}")),
            actor: events_schema::envelope::Actor {
                account_id: Some(events_schema::ids::AccountId::new()),
                role: events_schema::envelope::Role::Owner,
            },
            command_id: events_schema::ids::CommandId::new(),
            request_hash: uuid::Uuid::new_v4().to_string(),
            correlation_id: uuid::Uuid::now_v7(),
        }
    }

    pub fn command_app(&self) -> &command_service::app::App {
        match &self.command {
            Some(c) => c.app(),
            None => panic!("command-service is stopped"),
        }
    }

    /// An admin (superuser) connection to this app's database.
    pub async fn admin(&self) -> tokio_postgres::Client {
        admin_client(&self.db_url)
            .await
            .unwrap_or_else(|e| panic!("admin connection: {e:#}"))
    }

    /// Creates a tenant with an owner and returns (tenant id, owner token).
    pub async fn tenant(&self, slug: &str) -> (String, String) {
        let out = self
            .command_app()
            .create_tenant(command_service::app::identity::NewTenant {
                slug: command_service::domain::identity::TenantSlug::parse(slug)
                    .unwrap_or_else(|m| panic!("slug: {m}")),
                name: format!("Salon {slug}"),
                owner_login: command_service::domain::identity::LoginName::parse("owner")
                    .unwrap_or_else(|m| panic!("login: {m}")),
                owner_password: command_service::domain::identity::Password::parse(
                    "correct horse battery",
                )
                .unwrap_or_else(|m| panic!("password: {m}")),
            })
            .await
            .unwrap_or_else(|e| panic!("create tenant: {e:?}"));
        let token = self.login(slug, "owner", "correct horse battery").await;
        (out.tenant_id.to_string(), token)
    }

    pub async fn login(&self, tenant: &str, login: &str, password: &str) -> String {
        let r = self
            .http
            .post(format!("{}/auth/login", self.command_url))
            .json(&json!({ "tenant": tenant, "login": login, "password": password }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("login request: {e}"));
        assert_eq!(r.status(), 200, "login failed");
        let body: Value = r.json().await.unwrap_or_default();
        body["access_token"].as_str().unwrap_or_default().to_owned()
    }

    /// POSTs a JSON command; returns (status, body).
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.command_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// PUTs a JSON command; returns (status, body).
    pub async fn put_json(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .put(format!("{}{path}", self.command_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs an image to a service (`POST /services/{service}/images`) with the given
    /// `Content-Type` (none: the header is left out); returns (status, body).
    pub async fn upload_image(
        &self,
        token: &str,
        service: &str,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/services/{service}/images", self.command_url))
            .bearer_auth(token)
            .body(bytes);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /services/{service}/images: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .patch(format!("{}{path}", self.command_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// GETs from query-service; returns (status, body).
    pub async fn get(&self, token: &str, path_and_query: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.query_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path_and_query}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Messages the `log` notification channel wrote to `to` (E.164), oldest first.
    pub fn messages_to(&self, to: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.notify_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["to"] == to)
            .collect()
    }

    /// Asks for a customer sign-in code for `phone` (mainland, 11 digits) and reads it
    /// off the "phone": the `log` channel's file.
    pub async fn sign_in_code(&self, tenant: &str, phone: &str) -> String {
        let to = format!("+86{phone}");
        let before = self.messages_to(&to).len();
        let r = self
            .http
            .post(format!("{}/auth/customer/code", self.command_url))
            .json(&json!({ "tenant": tenant, "phone": phone }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("code request: {e}"));
        assert_eq!(r.status(), 202, "code request refused");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(m) = self.messages_to(&to).get(before) {
                let text = m["text"].as_str().unwrap_or_default();
                return text
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .unwrap_or_else(|| panic!("no code in {text:?}"))
                    .to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message reached {to}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signs a new customer up with a code (name `name`, policy v1); returns her session.
    pub async fn customer_session(&self, tenant: &str, phone: &str, name: &str) -> Value {
        let code = self.sign_in_code(tenant, phone).await;
        let r = self
            .http
            .post(format!("{}/auth/customer/sign-in", self.command_url))
            .json(
                &json!({ "tenant": tenant, "phone": phone, "code": code, "name": name,
                           "consent": { "privacy_policy_version": "v1" } }),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("sign-in: {e}"));
        assert_eq!(r.status(), 200, "customer sign-in failed");
        r.json().await.unwrap_or(Value::Null)
    }

    /// Registers a customer and returns the command's response body.
    pub async fn register(&self, token: &str, body: &Value) -> Value {
        let (status, out) = self.post(token, "/customers", body).await;
        assert_eq!(status, 201, "register failed: {out}");
        out
    }

    /// Waits until every projection has applied the whole feed as written so far
    /// (after the relay caught up with every committed event).
    pub async fn settle(&self) {
        let admin = self.admin().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let row = admin
                .query_one(
                    "SELECT (SELECT count(*) FROM es.events), (SELECT count(*) FROM es.feed),
                            (SELECT last_seq FROM es.relay_state),
                            LEAST((SELECT seq FROM rm.customers_checkpoint),
                                  (SELECT seq FROM rm.disclosures_checkpoint),
                                  (SELECT seq FROM rm.locations_checkpoint),
                                  (SELECT seq FROM rm.catalogue_checkpoint),
                                  (SELECT seq FROM rm.staff_checkpoint),
                                  (SELECT seq FROM rm.rota_checkpoint),
                                  (SELECT seq FROM rm.bookings_checkpoint),
                                  (SELECT seq FROM rm.waitlist_checkpoint),
                                  (SELECT seq FROM rm.utilisation_checkpoint))",
                    &[],
                )
                .await
                .unwrap_or_else(|e| panic!("settle: {e}"));
            let (events, feed, head, cp): (i64, i64, i64, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if events == feed && head == feed && cp == head {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "did not settle: events {events}, feed {feed}, checkpoint {cp}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Rebuilds every read model into a scratch copy and asserts it equals live (G7).
    pub async fn assert_replays_agree(&self) {
        self.settle().await;
        for p in self.projections() {
            let diffs = projections::rebuild::verify(&self.admin_pool, p.as_ref())
                .await
                .unwrap_or_else(|e| panic!("verify {}: {e:#}", p.name()));
            assert!(diffs.is_empty(), "{}: {diffs:?}", p.name());
        }
    }

    /// Stops everything and drops the database and the NATS stream.
    pub async fn cleanup(mut self) {
        self.kill_projections();
        if let Some(c) = self.command.take() {
            c.stop().await;
        }
        if let Some(q) = self.query.take() {
            q.stop().await;
        }
        self.projection_pool.close();
        self.keys.close();
        self.admin_pool.close();
        let _ = std::fs::remove_file(&self.notify_log);
        if let Ok(nats) = async_nats::connect(nats_url()).await {
            let js = async_nats::jetstream::new(nats);
            let _ = js
                .delete_stream(events_schema::subjects::events_stream(&self.prefix))
                .await;
        }
        let _ = drop_database(&self.db_name).await;
        if self.options.scan_logs {
            let leaks = log_scan::take_leaks();
            assert!(
                leaks.is_empty(),
                "service log lines held personal data:\n{}",
                leaks.join("\n")
            );
        }
    }
}
