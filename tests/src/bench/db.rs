//! Database-side helpers: waiting for the relay and the projections, and the raw
//! INSERT+COMMIT baseline table.

use anyhow::{bail, Context};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Where the relay and the read models stand (`checkpoint`: the lowest of every read
/// model's checkpoint, so "settled" means all of them, not the customers one alone —
/// a phase measured while the others still catch up measures their catch-up too).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub events: i64,
    pub feed: i64,
    pub published: i64,
    pub checkpoint: i64,
}

pub async fn progress(admin: &Client) -> anyhow::Result<Progress> {
    progress_by(admin, &progress_sql(admin).await?).await
}

/// The statement [`progress`] runs: one subquery per read model registered now.
async fn progress_sql(admin: &Client) -> anyhow::Result<String> {
    let names: Vec<String> = admin
        .query("SELECT name FROM projections.registry ORDER BY name", &[])
        .await
        .context("listing the read models")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let checkpoints = if names.is_empty() {
        "0".to_owned()
    } else {
        let each: Vec<String> = names
            .iter()
            .map(|n| format!("(SELECT seq FROM rm.{n}_checkpoint)"))
            .collect();
        format!("LEAST({})", each.join(", "))
    };
    Ok(format!(
        "SELECT (SELECT count(*) FROM es.events), s.last_seq, s.published_seq, {checkpoints}
         FROM es.relay_state s WHERE s.id = 1"
    ))
}

async fn progress_by(admin: &Client, sql: &str) -> anyhow::Result<Progress> {
    let row = admin
        .query_one(sql, &[])
        .await
        .context("reading relay and projection progress")?;
    Ok(Progress {
        events: row.get(0),
        feed: row.get(1),
        published: row.get(2),
        checkpoint: row.get(3),
    })
}

/// How long the feed or checkpoint may stand still, with work pending, before a wait
/// gives up as stalled.
const STALL: Duration = Duration::from_secs(60);

/// Waits until the relay has moved every committed event into the feed and published
/// the whole feed to JetStream; returns the feed head.
pub async fn wait_for_relay(admin: &Client, timeout: Duration) -> anyhow::Result<i64> {
    wait(admin, timeout, "the relay", |p| {
        (p.events == p.feed && p.published == p.feed).then_some(p.feed)
    })
    .await
}

/// Waits until the relay and every read model have applied every committed event;
/// returns the feed head.
pub async fn wait_settled(admin: &Client, timeout: Duration) -> anyhow::Result<i64> {
    wait(admin, timeout, "the projections", |p| {
        (p.events == p.feed && p.checkpoint == p.feed).then_some(p.feed)
    })
    .await
}

async fn wait(
    admin: &Client,
    timeout: Duration,
    what: &str,
    done: impl Fn(&Progress) -> Option<i64>,
) -> anyhow::Result<i64> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_move = Instant::now();
    let sql = progress_sql(admin).await?;
    let mut last = progress_by(admin, &sql).await?;
    loop {
        let p = progress_by(admin, &sql).await?;
        if let Some(head) = done(&p) {
            return Ok(head);
        }
        if (p.feed, p.published, p.checkpoint) != (last.feed, last.published, last.checkpoint) {
            last_move = Instant::now();
        }
        last = p;
        let stalled = last_move.elapsed() > STALL;
        if stalled || started.elapsed() > timeout {
            let diagnosis = diagnose(admin)
                .await
                .unwrap_or_else(|e| format!("(diagnosis failed: {e:#})"));
            bail!(
                "waiting for {what}: {} after {:.0} s: {} events, feed {}, published {}, checkpoint {}\n{diagnosis}",
                if stalled { "no progress" } else { "timed out" },
                started.elapsed().as_secs_f64(),
                p.events,
                p.feed,
                p.published,
                p.checkpoint
            );
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "  waiting for {what}: {} events, feed {}, published {}, checkpoint {}",
                p.events, p.feed, p.published, p.checkpoint
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The relay's checkpoint, the next events it would move (and whether they already are
/// in the feed, which stalls it on a duplicate key), and the feed's last entries.
async fn diagnose(admin: &Client) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let s = admin
        .query_one(
            "SELECT last_tx_id::text, last_position, last_seq, published_seq,
                    pg_current_snapshot()::text
             FROM es.relay_state WHERE id = 1",
            &[],
        )
        .await?;
    writeln!(
        out,
        "relay_state: last_tx_id {}, last_position {}, last_seq {}, published_seq {}; snapshot {}",
        s.get::<_, String>(0),
        s.get::<_, i64>(1),
        s.get::<_, i64>(2),
        s.get::<_, i64>(3),
        s.get::<_, String>(4)
    )?;
    for r in admin
        .query(
            "SELECT e.global_position, e.tx_id::text, f.seq
             FROM es.events e LEFT JOIN es.feed f USING (global_position), es.relay_state s
             WHERE s.id = 1 AND (e.tx_id, e.global_position) > (s.last_tx_id, s.last_position)
             ORDER BY e.tx_id, e.global_position LIMIT 5",
            &[],
        )
        .await?
    {
        writeln!(
            out,
            "next to move: global_position {}, tx_id {}, already in feed at seq {:?}",
            r.get::<_, i64>(0),
            r.get::<_, String>(1),
            r.get::<_, Option<i64>>(2)
        )?;
    }
    for r in admin
        .query(
            "SELECT f.seq, e.global_position, e.tx_id::text
             FROM es.feed f JOIN es.events e USING (global_position)
             ORDER BY f.seq DESC LIMIT 5",
            &[],
        )
        .await?
    {
        writeln!(
            out,
            "feed tail: seq {}, global_position {}, tx_id {}",
            r.get::<_, i64>(0),
            r.get::<_, i64>(1),
            r.get::<_, String>(2)
        )?;
    }
    Ok(out)
}

/// Scratch table of the raw baseline: an identity key and a few columns like an event
/// row's, the payload json like an event's.
pub const RAW_TABLE_DDL: &str = "
    DROP TABLE IF EXISTS public.bench_raw_inserts;
    CREATE TABLE public.bench_raw_inserts (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id   uuid NOT NULL,
        stream_id   text NOT NULL,
        payload     json NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
    )";

pub const RAW_INSERT: &str =
    "INSERT INTO public.bench_raw_inserts (tenant_id, stream_id, payload) VALUES ($1, $2, $3)";

/// Real registration payloads (sealed, so incompressible like production ones) for the
/// raw baseline to insert, and their mean size in bytes of JSON text.
pub async fn sample_payloads(
    admin: &Client,
    n: i64,
) -> anyhow::Result<(Vec<serde_json::Value>, f64)> {
    let rows = admin
        .query(
            "SELECT payload FROM es.events WHERE event_type = 'CustomerRegistered'
             ORDER BY global_position DESC LIMIT $1",
            &[&n],
        )
        .await?;
    let payloads: Vec<serde_json::Value> = rows.iter().map(|r| r.get(0)).collect();
    if payloads.is_empty() {
        bail!("no registration events to take payloads from");
    }
    let mean = payloads
        .iter()
        .map(|p| p.to_string().len() as f64)
        .sum::<f64>()
        / payloads.len() as f64;
    Ok((payloads, mean))
}
