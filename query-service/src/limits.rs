//! Limits on expensive reads (SEC-6, OWASP API4). Verifying the hash chain recomputes a
//! digest for every event of the log: one verification runs at a time per instance,
//! and each tenant may start [`CHAIN_VERIFICATIONS_PER_HOUR`] an hour. Counted in
//! memory per instance: query-service writes nothing, and a few more verifications
//! across instances cost time, not safety.

use events_schema::ids::TenantId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

pub const CHAIN_VERIFICATIONS_PER_HOUR: u32 = 10;
const WINDOW: Duration = Duration::from_secs(3600);

/// Why a verification may not start now, and when to ask again (seconds).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Busy { retry_after: u64 },
    TooMany { retry_after: u64 },
}

#[derive(Debug)]
pub struct ChainGate {
    running: Semaphore,
    started: Mutex<HashMap<TenantId, (Instant, u32)>>,
}

impl Default for ChainGate {
    fn default() -> Self {
        ChainGate {
            running: Semaphore::new(1),
            started: Mutex::new(HashMap::new()),
        }
    }
}

impl ChainGate {
    /// Admits one verification for `tenant`; hold the permit while it runs.
    pub fn admit(&self, tenant: TenantId, now: Instant) -> Result<SemaphorePermit<'_>, Refused> {
        let permit = self
            .running
            .try_acquire()
            .map_err(|_| Refused::Busy { retry_after: 5 })?;
        let mut started = self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        started.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        let (since, count) = started.entry(tenant).or_insert((now, 0));
        if *count >= CHAIN_VERIFICATIONS_PER_HOUR {
            let left = WINDOW.saturating_sub(now.duration_since(*since));
            return Err(Refused::TooMany {
                retry_after: left.as_secs().max(1),
            });
        }
        *count += 1;
        Ok(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_and_ten_an_hour_per_tenant() {
        let gate = ChainGate::default();
        let (a, b) = (TenantId::new(), TenantId::new());
        let t0 = Instant::now();
        let held = gate.admit(a, t0);
        assert!(held.is_ok());
        assert_eq!(
            gate.admit(b, t0).err(),
            Some(Refused::Busy { retry_after: 5 })
        );
        drop(held);
        for _ in 1..CHAIN_VERIFICATIONS_PER_HOUR {
            assert!(gate.admit(a, t0).is_ok());
        }
        assert!(
            matches!(gate.admit(a, t0), Err(Refused::TooMany { retry_after }) if retry_after > 3500)
        );
        assert!(
            gate.admit(b, t0).is_ok(),
            "another tenant has its own count"
        );
        assert!(
            gate.admit(a, t0 + WINDOW).is_ok(),
            "a new hour, a new count"
        );
    }
}
