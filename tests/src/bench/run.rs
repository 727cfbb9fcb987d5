//! Load shapes: a closed loop of N clients for a warm-up plus a measured window, and
//! an open loop at a fixed rate.

use super::stats::Latencies;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a measured window produced.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Operations that succeeded and completed inside the measured window.
    pub ok: u64,
    /// Operations that failed and completed inside the measured window.
    pub errors: u64,
    pub latencies: Latencies,
    /// Length of the measured window in seconds.
    pub secs: f64,
    pub first_error: Option<String>,
}

impl LoadResult {
    /// Adds a further measured window (a slice of an interleaved measurement).
    pub fn merge(&mut self, other: LoadResult) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
        self.secs += other.secs;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Runs `clients` loops of `op(client)` for `warmup + measure`; counts and times the
/// operations that complete inside the measured window.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    measure: Duration,
    op: F,
) -> anyhow::Result<LoadResult>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let from = start + warmup;
    let end = from + measure;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = LoadResult::default();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    return r;
                }
                let outcome = op(client).await;
                let t1 = Instant::now();
                let counted = t1 >= from && t1 <= end;
                match outcome {
                    Ok(()) if counted => {
                        r.ok += 1;
                        r.latencies.push(t1 - t0);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            r.errors += 1;
                        }
                        if r.first_error.is_none() {
                            r.first_error = Some(format!("{e:#}"));
                        }
                        // Do not spin on a failing dependency.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }));
    }
    let mut total = LoadResult {
        secs: measure.as_secs_f64(),
        ..LoadResult::default()
    };
    for t in tasks {
        // Each client's result spans no window of its own (`secs` 0): the total's stays.
        total.merge(t.await?);
    }
    Ok(total)
}

/// Starts `op(i)` for `i in 0..count` at a steady `rate` per second (each in its own
/// task, whatever the earlier ones are doing); returns the outcomes in start order and
/// the achieved start rate.
pub async fn open_loop<F, Fut, T>(rate: u64, count: u64, op: F) -> anyhow::Result<(Vec<T>, f64)>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(count)?);
    for i in 0..count {
        ticker.tick().await;
        tasks.push(tokio::spawn(op(i)));
    }
    // Starts happen at ticks 0..count-1: count-1 periods apart.
    let achieved = count.saturating_sub(1) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await?);
    }
    Ok((out, achieved))
}
