//! Latency samples and their percentiles.

use std::time::Duration;

/// Collected latencies of one measurement.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

/// Percentiles of a [`Latencies`] in milliseconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn summary(&self) -> Summary {
        let mut s = self.samples.clone();
        s.sort_unstable();
        if s.is_empty() {
            return Summary::default();
        }
        Summary {
            p50_ms: ms(percentile(&s, 0.50)),
            p95_ms: ms(percentile(&s, 0.95)),
            p99_ms: ms(percentile(&s, 0.99)),
            max_ms: ms(s.last().copied().unwrap_or_default()),
        }
    }
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=1).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds for the report (3 decimals).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
