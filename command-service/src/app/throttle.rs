//! Failed-login throttling (SEC-3): every login attempt is counted, before its password
//! is checked, against the account (tenant slug + login name) and against the client
//! address, in a fixed window shared by all instances (`iam.login_throttle`). Past a
//! limit the attempt is refused with 429 and `Retry-After` without running argon2, so a
//! guessing run costs the attacker time and the server nothing. Counting first makes
//! the limit exact under concurrency: the 11th attempt is refused however many arrive at
//! once. A successful login clears the account's count and takes its own attempt back
//! from the address.

use super::{App, AppError};
use std::net::IpAddr;
use std::time::Duration;

/// Attempts allowed per window.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    pub window: Duration,
    pub per_account: i32,
    pub per_address: i32,
}

impl Default for LoginLimits {
    /// 10 per account and 100 per address (a salon's front desk shares one) in 15 minutes.
    fn default() -> Self {
        LoginLimits {
            window: Duration::from_secs(15 * 60),
            per_account: 10,
            per_address: 100,
        }
    }
}

/// The throttle keys of one attempt.
pub struct AttemptKeys {
    account: String,
    address: String,
}

const COUNT: &str = "\
INSERT INTO iam.login_throttle AS t (key, window_start, attempts)
VALUES ($1, now(), 1), ($2, now(), 1)
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN t.window_start <= now() - $3::float8 * interval '1 second'
                        THEN now() ELSE t.window_start END,
    attempts = CASE WHEN t.window_start <= now() - $3::float8 * interval '1 second'
                    THEN 1 ELSE t.attempts + 1 END
RETURNING key, attempts,
    ceil(extract(epoch FROM t.window_start + $3::float8 * interval '1 second' - now()))::bigint";

const SUCCEEDED: &str = "\
WITH a AS (DELETE FROM iam.login_throttle WHERE key = $1)
UPDATE iam.login_throttle SET attempts = attempts - 1 WHERE key = $2 AND attempts > 0";

/// One use counted against each key of `$1`, in windows of `$2` seconds.
const COUNT_KEYS: &str = "\
INSERT INTO iam.login_throttle AS t (key, window_start, attempts)
SELECT k, now(), 1 FROM unnest($1::text[]) AS k
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN t.window_start <= now() - $2::float8 * interval '1 second'
                        THEN now() ELSE t.window_start END,
    attempts = CASE WHEN t.window_start <= now() - $2::float8 * interval '1 second'
                    THEN 1 ELSE t.attempts + 1 END
RETURNING key, attempts,
    ceil(extract(epoch FROM t.window_start + $2::float8 * interval '1 second' - now()))::bigint";

/// Rows of windows long over (their keys would start afresh anyway).
const PURGE: &str = "\
DELETE FROM iam.login_throttle WHERE window_start < now() - $1::float8 * interval '1 second'";

/// A limit on something costly or abusable, counted per key in fixed windows shared by
/// all instances (the table of the login throttle, under other keys).
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    /// Names the key space (part of the keyed hash) and says what was limited.
    pub what: &'static str,
    pub limit: i32,
    pub window: Duration,
}

impl App {
    /// Counts one use against `limit` for each of `subjects` (e.g. a phone and a client
    /// address); refuses it (429 with `Retry-After`) when any of them is past its limit.
    /// The keys stored are keyed hashes: no phone or address is kept in clear.
    pub async fn rate_limit(&self, checks: &[(RateLimit, &str)]) -> Result<(), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(COUNT_KEYS).await?;
        for (limit, subject) in checks {
            let key = self
                .tokens
                .keyed_hash(&format!("rate-limit/{}", limit.what), subject.as_bytes());
            let row = client
                .query_one(&stmt, &[&vec![key], &limit.window.as_secs_f64()])
                .await?;
            let attempts: i32 = row.get(1);
            let left: i64 = row.get(2);
            if attempts > limit.limit {
                return Err(AppError::RateLimited {
                    what: limit.what,
                    retry_after: u64::try_from(left.max(1)).unwrap_or(1),
                });
            }
        }
        Ok(())
    }

    pub fn attempt_keys(
        &self,
        tenant_slug: &str,
        login: &str,
        client: Option<IpAddr>,
    ) -> AttemptKeys {
        let account = format!("{}\0{}", tenant_slug, login.trim().to_lowercase());
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        AttemptKeys {
            account: self
                .tokens
                .keyed_hash("login-throttle/account", account.as_bytes()),
            address: self
                .tokens
                .keyed_hash("login-throttle/address", address.as_bytes()),
        }
    }

    /// Counts an attempt; refuses it (429) when the account or the address is over its
    /// limit.
    pub async fn admit_login(&self, keys: &AttemptKeys) -> Result<(), AppError> {
        let limits = self.login_limits;
        let window = limits.window.as_secs_f64();
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(COUNT).await?;
        let rows = client
            .query(&stmt, &[&keys.account, &keys.address, &window])
            .await?;
        let mut retry_after = None;
        for row in &rows {
            let key: &str = row.get(0);
            let attempts: i32 = row.get(1);
            let left: i64 = row.get(2);
            let limit = if key == keys.account {
                limits.per_account
            } else {
                limits.per_address
            };
            if attempts > limit {
                let secs = u64::try_from(left.max(1)).unwrap_or(1);
                retry_after = Some(retry_after.map_or(secs, |r: u64| r.max(secs)));
            }
        }
        if rand::random::<u8>() == 0 {
            let purge = client.prepare_cached(PURGE).await?;
            // Every limit's window is at most a day (rate limits share the table).
            client.execute(&purge, &[&window.max(86_400.0)]).await?;
        }
        match retry_after {
            Some(secs) => Err(AppError::TooManyAttempts { retry_after: secs }),
            None => Ok(()),
        }
    }

    /// After a successful login: the account starts afresh.
    pub async fn login_succeeded(&self, keys: &AttemptKeys) -> Result<(), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(SUCCEEDED).await?;
        client
            .execute(&stmt, &[&keys.account, &keys.address])
            .await?;
        Ok(())
    }
}
