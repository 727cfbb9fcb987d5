//! Database-side helpers: waiting for the relay and the projections, and the raw
//! INSERT+COMMIT baseline table.

use anyhow::{bail, Context};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Where the relay and the customers projection stand.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub events: i64,
    pub feed: i64,
    pub published: i64,
    pub checkpoint: i64,
}

pub async fn progress(admin: &Client) -> anyhow::Result<Progress> {
    let row = admin
        .query_one(
            "SELECT (SELECT count(*) FROM es.events), s.last_seq, s.published_seq,
                    (SELECT seq FROM rm.customers_checkpoint)
             FROM es.relay_state s WHERE s.id = 1",
            &[],
        )
        .await
        .context("reading relay and projection progress")?;
    Ok(Progress {
        events: row.get(0),
        feed: row.get(1),
        published: row.get(2),
        checkpoint: row.get(3),
    })
}

/// Waits until the relay has moved every committed event into the feed and published
/// the whole feed to JetStream; returns the feed head.
pub async fn wait_for_relay(admin: &Client, timeout: Duration) -> anyhow::Result<i64> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let p = progress(admin).await?;
        if p.events == p.feed && p.published == p.feed {
            return Ok(p.feed);
        }
        if started.elapsed() > timeout {
            bail!(
                "the relay did not catch up within {timeout:?}: {} events, feed {}, published {}",
                p.events,
                p.feed,
                p.published
            );
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "  waiting for the relay: {} events, feed {}, published {}",
                p.events, p.feed, p.published
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the relay and the customers projection have applied every committed
/// event; returns the feed head.
pub async fn wait_settled(admin: &Client, timeout: Duration) -> anyhow::Result<i64> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let p = progress(admin).await?;
        if p.events == p.feed && p.checkpoint == p.feed {
            return Ok(p.feed);
        }
        if started.elapsed() > timeout {
            bail!(
                "the read model did not settle within {timeout:?}: {} events, feed {}, checkpoint {}",
                p.events,
                p.feed,
                p.checkpoint
            );
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "  waiting for the projections: {} events, feed {}, checkpoint {}",
                p.events, p.feed, p.checkpoint
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Scratch table of the raw baseline: an identity key and a few columns like an event
/// row's, the payload a jsonb.
pub const RAW_TABLE_DDL: &str = "
    DROP TABLE IF EXISTS public.bench_raw_inserts;
    CREATE TABLE public.bench_raw_inserts (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id   uuid NOT NULL,
        stream_id   text NOT NULL,
        payload     jsonb NOT NULL,
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
