//! # belle-demo — loads demo customers into a running Belle over HTTP
//!
//! Logs in (`POST {command-url}/auth/login`), then registers `--customers` generated
//! customers (`tests::data::customer`) with a few concurrent requests. Phone numbers
//! start at a random offset, so reruns add new customers; a number that is already
//! taken (409 `duplicate_phone`) is skipped. Exits non-zero when login fails or any
//! registration fails for another reason.

use anyhow::{bail, Context};
use clap::Parser;
use futures::stream::{self, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "belle-demo",
    about = "Registers demo customers in a running Belle over HTTP"
)]
struct Args {
    /// Base URL of command-service, e.g. http://127.0.0.1:8080
    #[arg(long, env = "BELLE_COMMAND_URL")]
    command_url: String,
    /// Tenant (salon) slug to log in to.
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    login: String,
    #[arg(long, env = "BELLE_DEMO_PASSWORD")]
    password: String,
    /// How many customers to register.
    #[arg(long, default_value_t = 300)]
    customers: u64,
    /// Concurrent requests.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

enum Outcome {
    Registered,
    DuplicatePhone,
    Failed(String),
}

/// Phone numbers of demo customers: `tests::data::phone(n)` for `n` from a random base
/// in this range (prefixes 186/177/199), away from the benchmark's ranges.
const PHONE_RANGE: std::ops::Range<u64> = 300_000_000..600_000_000;

/// mimalloc: glibc's malloc spent a tenth of the benchmark's CPU in consolidation and
/// fresh-page faults under this workload of many short-lived JSON values.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args).await {
        eprintln!("belle-demo: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let base_url = args.command_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let token = login(&http, &base_url, args).await?;

    let span = PHONE_RANGE.end - PHONE_RANGE.start;
    let count = args.customers.min(span);
    let base = PHONE_RANGE.start + rand::thread_rng().gen_range(0..=span - count);
    let url = format!("{base_url}/customers");
    let started = Instant::now();
    let outcomes: Vec<Outcome> = stream::iter(0..count)
        .map(|i| {
            let body = tests::data::customer(&mut rand::thread_rng(), base + i);
            let (http, url, token) = (&http, &url, &token);
            async move { register(http, url, token, &body).await }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;

    let mut registered = 0u64;
    let mut duplicates = 0u64;
    let mut failures = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Registered => registered += 1,
            Outcome::DuplicatePhone => duplicates += 1,
            Outcome::Failed(e) => failures.push(e),
        }
    }
    println!(
        "belle-demo: tenant {}: registered {registered} customers, skipped {duplicates} (phone already taken), {} failed, in {:.1} s",
        args.tenant,
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(first) = failures.first() {
        bail!(
            "{} registrations failed; the first: {first}",
            failures.len()
        );
    }
    Ok(())
}

async fn login(http: &reqwest::Client, base_url: &str, args: &Args) -> anyhow::Result<String> {
    let r = http
        .post(format!("{base_url}/auth/login"))
        .json(&json!({ "tenant": args.tenant, "login": args.login, "password": args.password }))
        .send()
        .await
        .with_context(|| format!("cannot reach command-service at {base_url}"))?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match body["access_token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => bail!(
            "login as {:?} to tenant {:?} failed: HTTP {status} {}",
            args.login,
            args.tenant,
            body["message"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("(no message)")
        ),
    }
}

async fn register(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Outcome {
    let r = match http.post(url).bearer_auth(token).json(body).send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("request: {e}")),
    };
    let status = r.status();
    let out: Value = r.json().await.unwrap_or(Value::Null);
    match status.as_u16() {
        200 | 201 => Outcome::Registered,
        409 if out["error"] == "duplicate_phone" => Outcome::DuplicatePhone,
        _ => Outcome::Failed(format!("HTTP {status} {out}")),
    }
}
