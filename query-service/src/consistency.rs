//! Read-your-writes: a command's consistency token is the global position of its last
//! event. A read waits (bounded) until the relay has placed that event in the feed and
//! the read model's checkpoint has reached its feed position.

use deadpool_postgres::Pool;
use std::time::{Duration, Instant};

/// Longest a read waits for its token.
pub const MAX_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(3);

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("consistency_token must be a positive integer")]
    BadToken,
    #[error("the read model has not caught up with this token yet")]
    NotYet,
    #[error("database: {0}")]
    Db(#[from] events_schema::store::StoreError),
    #[error("database: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

/// Waits until `checkpoint_view` (e.g. `rm.customers_checkpoint`) covers the token.
/// `checkpoint_view = None` waits only for the event to be in the feed.
pub async fn wait_for(
    pool: &Pool,
    token: Option<&str>,
    checkpoint_view: Option<&'static str>,
) -> Result<(), WaitError> {
    let Some(token) = token else { return Ok(()) };
    let position: i64 = token
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or(WaitError::BadToken)?;
    let deadline = Instant::now() + MAX_WAIT;
    let checkpoint_sql = checkpoint_view.map(|v| format!("SELECT seq FROM {v}"));
    let mut seq = None;
    loop {
        // A connection per poll: a waiting read must not pin one of the pool's.
        let client = pool.get().await?;
        if seq.is_none() {
            seq = events_schema::store::feed_seq_of(&client, position).await?;
        }
        if let Some(seq) = seq {
            let Some(sql) = &checkpoint_sql else {
                return Ok(());
            };
            let stmt = client.prepare_cached(sql).await?;
            let cp: i64 = client.query_one(&stmt, &[]).await?.get(0);
            if cp >= seq {
                return Ok(());
            }
        }
        drop(client);
        if Instant::now() >= deadline {
            return Err(WaitError::NotYet);
        }
        tokio::time::sleep(POLL).await;
    }
}
