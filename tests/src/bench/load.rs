//! Bulk loading through the application layer (`App::register_customer` /
//! `App::change_customer`): the same decide → seal → append path as the HTTP API,
//! without HTTP, so the events are real sealed customer events.

use anyhow::{anyhow, bail, Context};
use command_service::app::customers::{ChangeCustomer, RegisterCustomer};
use command_service::app::{request_hash, App, AppError, CommandContext};
use command_service::domain::customer::{
    Address, CustomerDetails, FieldValue, FreeText, Gender, Reason, Tag,
};
use events_schema::customer::{Consent, SourceChannel};
use events_schema::envelope::Actor;
use events_schema::ids::{CommandId, CustomerId, TenantId};
use events_schema::values::{Birthday, Email, IdCardNumber, PersonName, Phone};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Who the bulk commands run as.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub actor: Actor,
}

impl Caller {
    fn context(&self, operation: &str, target: &str, body: &Value) -> CommandContext {
        CommandContext {
            tenant: self.tenant,
            actor: self.actor,
            command_id: CommandId::new(),
            request_hash: request_hash(operation, target, body),
            correlation_id: uuid::Uuid::now_v7(),
        }
    }
}

fn text<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field).and_then(Value::as_str)
}

fn required<'a>(body: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    text(body, field).ok_or_else(|| anyhow!("{field} is missing"))
}

/// A parse result with the field named in its error.
fn valid<T, E: std::fmt::Display>(field: &str, r: Result<T, E>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("{field}: {e}"))
}

/// Turns a registration body (as from `tests::data::customer`) into the command the
/// HTTP layer would build from it.
pub fn register_command(
    body: &Value,
    today: chrono::NaiveDate,
) -> anyhow::Result<RegisterCustomer> {
    let mut values = vec![
        FieldValue::Name(valid("name", PersonName::parse(required(body, "name")?))?),
        FieldValue::Phone(valid("phone", Phone::parse(required(body, "phone")?))?),
        FieldValue::SourceChannel(
            SourceChannel::parse(text(body, "source_channel").unwrap_or("walk_in"))
                .ok_or_else(|| anyhow!("source_channel is not valid"))?,
        ),
    ];
    if let Some(s) = text(body, "gender") {
        values.push(FieldValue::Gender(valid("gender", Gender::parse(s))?));
    }
    if let Some(s) = text(body, "birthday") {
        values.push(FieldValue::Birthday(valid(
            "birthday",
            Birthday::parse(s, today),
        )?));
    }
    if let Some(s) = text(body, "email") {
        values.push(FieldValue::Email(valid("email", Email::parse(s))?));
    }
    if let Some(s) = text(body, "id_number") {
        values.push(FieldValue::IdNumber(valid(
            "id_number",
            IdCardNumber::parse(s, today),
        )?));
    }
    if let Some(s) = text(body, "address") {
        values.push(FieldValue::Address(valid("address", Address::parse(s))?));
    }
    if let Some(s) = text(body, "notes") {
        values.push(FieldValue::Notes(valid("notes", FreeText::parse(s, 2000))?));
    }
    let mut tags = Vec::new();
    for t in body
        .get("tags")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let tag = valid("tags", Tag::parse(t.as_str().unwrap_or_default()))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags.sort();
    values.push(FieldValue::Tags(tags));
    let details = CustomerDetails::from_values(values)
        .ok_or_else(|| anyhow!("name, phone and source channel are required"))?;
    let consent = Consent {
        privacy_policy_version: body
            .pointer("/consent/privacy_policy_version")
            .and_then(Value::as_str)
            .unwrap_or("2026-01")
            .to_owned(),
        purpose: Some("customer_record".into()),
        marketing: body
            .pointer("/consent/marketing")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    Ok(RegisterCustomer { details, consent })
}

/// Attempts per command when the failure may pass (the same command id each time, so a
/// retry after an unseen commit replays the first outcome instead of appending twice).
const ATTEMPTS: u32 = 8;

/// A failure that may pass on retry: a dependency briefly unavailable, or a connection
/// refused because PostgreSQL ran out of connection slots.
fn transient(e: &AppError) -> bool {
    matches!(e, AppError::Unavailable | AppError::Internal(_))
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
}

fn app_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::Internal(inner) => inner.context("internal error"),
        other => anyhow!("{other} ({other:?})"),
    }
}

/// Prints `label: done/total (rate/s)` to stderr every few seconds until dropped.
struct Reporter {
    handle: tokio::task::JoinHandle<()>,
}

impl Reporter {
    fn start(label: &'static str, done: Arc<AtomicU64>, total: u64) -> Reporter {
        let handle = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let n = done.load(Ordering::Relaxed);
                eprintln!(
                    "  {label}: {n}/{total} ({:.0}/s)",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        });
        Reporter { handle }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Registers customers `base..base + count` (phone = `tests::data::phone(base + i)`)
/// with `concurrency` tasks; returns the registered numbers with their ids.
pub async fn register_many(
    app: &App,
    caller: Caller,
    base: u64,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<Vec<(u64, CustomerId)>> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let _reporter = Reporter::start("registered", done.clone(), count);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let app = app.clone();
        let next = next.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(0xBE11E + worker as u64);
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(out);
                }
                let n = base + i;
                let body = crate::data::customer(&mut rng, n);
                let ctx = caller.context("register_customer", "", &body);
                let mut attempt = 0;
                let outcome = loop {
                    attempt += 1;
                    let cmd = register_command(&body, chrono::Utc::now().date_naive())?;
                    match app.register_customer(&ctx, cmd).await {
                        Err(e) if transient(&e) && attempt < ATTEMPTS => backoff(attempt).await,
                        other => break other,
                    }
                };
                match outcome {
                    Ok(outcome) => {
                        let id: CustomerId = outcome.body["customer_id"]
                            .as_str()
                            .unwrap_or_default()
                            .parse()
                            .context("customer id in the outcome")?;
                        out.push((n, id));
                    }
                    Err(AppError::DuplicatePhone) => {}
                    Err(e) => return Err(app_error(e).context("register_customer")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut all = Vec::with_capacity(usize::try_from(count).unwrap_or_default());
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_unstable_by_key(|(n, _)| *n);
    Ok(all)
}

const TAGS: &[&str] = &["vip", "new", "nails", "hair", "facial", "spa", "referral"];

/// Applies `count` changes (tags and notes, never the phone, so lookups by phone stay
/// valid), spread over the given customers so that concurrent changes rarely hit the
/// same stream.
pub async fn change_many(
    app: &App,
    caller: Caller,
    customers: Arc<Vec<(u64, CustomerId)>>,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<u64> {
    if customers.is_empty() {
        bail!("no customers to change");
    }
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let _reporter = Reporter::start("changed", done.clone(), count);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let app = app.clone();
        let next = next.clone();
        let done = done.clone();
        let customers = customers.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(0xC4A9 + worker as u64);
            let mut changed = 0u64;
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= count {
                    return anyhow::Ok(changed);
                }
                let (_, id) = customers[(j % customers.len() as u64) as usize];
                let k = rng.gen_range(1..=3);
                let mut tags: Vec<&str> = TAGS.choose_multiple(&mut rng, k).copied().collect();
                tags.sort_unstable();
                let notes = format!("第{}次回访：皮肤状态良好", j + 1);
                let body = json!({
                    "reason": "回访后更新资料",
                    "changes": { "tags": tags, "notes": notes }
                });
                let mut parsed_tags = Vec::new();
                for t in &tags {
                    parsed_tags.push(valid("tags", Tag::parse(t))?);
                }
                let set = vec![
                    FieldValue::Tags(parsed_tags),
                    FieldValue::Notes(valid("notes", FreeText::parse(&notes, 2000))?),
                ];
                let reason = valid("reason", Reason::parse("回访后更新资料"))?;
                let ctx = caller.context("change_customer", &id.to_string(), &body);
                let mut attempt = 0;
                let outcome = loop {
                    attempt += 1;
                    let cmd = ChangeCustomer {
                        customer_id: id,
                        expected_version: None,
                        set: set.clone(),
                        clear: Vec::new(),
                        reason: reason.clone(),
                    };
                    match app.change_customer(&ctx, cmd).await {
                        Err(e) if transient(&e) && attempt < ATTEMPTS => backoff(attempt).await,
                        other => break other,
                    }
                };
                match outcome {
                    Ok(_) => changed += 1,
                    // Lost every retry against a concurrent change of the same customer.
                    Err(AppError::Conflict) => {}
                    Err(e) => return Err(app_error(e).context("change_customer")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total)
}
