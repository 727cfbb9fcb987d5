//! Group commit of registrations: concurrent registrations are written together, in
//! one statement and one commit, instead of one commit each.
//!
//! A registration is independent of every other (a new stream, a new key, its own
//! phone guard and command record), so many can share a transaction without changing
//! what any of them means. Batches form on their own: at most [`WRITERS`] batches are
//! in flight; registrations that arrive meanwhile queue, and the next free writer
//! takes all of them (up to [`MAX_BATCH`]). A lone registration is written at once, so
//! a quiet salon waits for nothing; under load, one commit (one WAL flush, one
//! statement start-up) serves many.
//!
//! If a batch fails (a duplicate phone, a twin under the same `Idempotency-Key`, a
//! lost connection), nothing of it was written, and each of its registrations is then
//! written on its own, so that each gets its own answer: exactly what it would have got
//! without batching. A registration is acknowledged only after the commit that holds
//! it.

use super::AppError;
use deadpool_postgres::Pool;
use events_schema::customer::STREAM_TYPE;
use events_schema::store::StoreError;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_postgres::types::Json;

/// Batches written at the same time. Two keep a statement in PostgreSQL while the
/// other commits; more only split the same registrations into smaller batches, each
/// paying its own statement and commit (`belle-bench --only append` on two cores:
/// 12,200–13,300 registrations/s with two writers, 11,100–11,900 with four).
const WRITERS: usize = 2;
/// Most registrations in one batch.
const MAX_BATCH: usize = 64;
/// Registrations waiting for a writer before submitters wait too.
const QUEUE: usize = 1024;

/// One registration, ready to write: a new customer stream with exactly one event.
pub struct Registration {
    pub stream_id: String,
    pub tenant_id: uuid::Uuid,
    pub event_id: uuid::Uuid,
    pub event_type: &'static str,
    pub schema_version: i32,
    pub payload: Box<serde_json::value::RawValue>,
    pub metadata: Box<serde_json::value::RawValue>,
    pub customer_id: uuid::Uuid,
    pub key_version: i32,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
    pub phone_hash: String,
    pub command_id: uuid::Uuid,
    /// For a command sent under an `Idempotency-Key`: its request hash and outcome
    /// without the consistency token (set by the statement), for `es.commands`.
    pub record: Option<(String, serde_json::Value)>,
}

/// Registrations in one statement, committed on their own (one row of `r` each, one
/// for a registration alone). The events read from `s`, so the stream rows (the
/// compare-and-set of a new stream) go in first; the key and guard rows read `r`
/// directly (no join to order them: a data-modifying CTE the query does not read runs
/// to completion after it anyway). Any unique violation fails the whole statement and
/// its constraint name says which (`StoreError::from_db`). The subjects are fresh
/// UUIDv7s, so no erasure record can exist for them (`keys.erasures` is not consulted,
/// unlike `KeyStore::insert_subject_key_tx`). A keyed command's record gets the
/// consistency token (its event's position) here.
const REGISTER: &str = "\
WITH r AS (
    SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::int[],
                         $6::json[], $7::json[], $8::uuid[], $9::int[], $10::text[],
                         $11::bytea[], $12::text[], $13::uuid[], $14::text[], $15::jsonb[])
        AS r (stream_id, tenant_id, event_id, event_type, schema_version, payload, metadata,
              customer_id, key_version, kek_id, wrapped, phone_hash, command_id,
              request_hash, response)
), s AS (
    INSERT INTO es.streams (stream_id, stream_type, tenant_id, version)
    SELECT stream_id, $16, tenant_id, 1 FROM r
    RETURNING stream_id
), e AS (
    INSERT INTO es.events (event_id, tenant_id, stream_id, stream_type, stream_version,
                           event_type, schema_version, payload, metadata)
    SELECT r.event_id, r.tenant_id, r.stream_id, $16, 1, r.event_type,
           r.schema_version, r.payload, r.metadata
    FROM r JOIN s USING (stream_id)
    RETURNING stream_id, global_position
), k AS (
    INSERT INTO keys.subject_keys (tenant_id, subject_id, key_version, kek_id, wrapped)
    SELECT r.tenant_id, r.customer_id, r.key_version, r.kek_id, r.wrapped FROM r
), g AS (
    INSERT INTO guard.customer_phones (tenant_id, phone_hash, customer_id)
    SELECT r.tenant_id, r.phone_hash, r.customer_id FROM r
), c AS (
    INSERT INTO es.commands (tenant_id, command_id, request_hash, response)
    SELECT r.tenant_id, r.command_id, r.request_hash,
           jsonb_set(r.response, '{body,consistency_token}', to_jsonb(e.global_position::text))
    FROM r JOIN e USING (stream_id)
    WHERE r.request_hash IS NOT NULL
)
SELECT stream_id, global_position FROM e";

struct Job {
    registration: Registration,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

/// Hands registrations to the group-commit writers.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the dispatcher on the current runtime; it ends when every handle is gone.
    pub fn start(pool: Pool) -> GroupCommit {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(dispatch(pool, rx));
        GroupCommit { jobs }
    }

    /// Writes one registration (with others, if they are waiting too); returns its
    /// event's global position once committed.
    pub async fn register(&self, registration: Registration) -> Result<i64, AppError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                registration,
                reply,
            })
            .await
            .map_err(|_| AppError::Unavailable)?;
        match answer.await {
            Ok(result) => result.map_err(|e| match e {
                StoreError::DuplicateCommand => AppError::Idempotent,
                other => AppError::from(other),
            }),
            Err(_) => Err(AppError::Unavailable),
        }
    }
}

async fn dispatch(pool: Pool, mut rx: mpsc::Receiver<Job>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    loop {
        // Take a writer first: while all are busy, registrations gather in the queue.
        let Ok(permit) = writers.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write(&pool, batch).await;
            drop(permit);
        });
    }
}

async fn write(pool: &Pool, batch: Vec<Job>) {
    let (registrations, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|j| (j.registration, j.reply)).unzip();
    let answers = write_batch(pool, &registrations).await;
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

/// Writes registrations together in one statement; if that fails, each on its own.
/// Returns each one's event position (or error), in order.
pub async fn write_batch(
    pool: &Pool,
    registrations: &[Registration],
) -> Vec<Result<i64, StoreError>> {
    if registrations.len() > 1 {
        match write_many(pool, registrations).await {
            Ok(positions) => {
                return registrations
                    .iter()
                    .map(|r| {
                        positions.get(&r.stream_id).copied().ok_or_else(|| {
                            StoreError::Corrupt("a batched registration was not written".into())
                        })
                    })
                    .collect();
            }
            Err(e) => {
                tracing::debug!(error = %e, size = registrations.len(), "group commit failed; writing one by one");
            }
        }
    }
    // Alone, or after a failed batch: each on its own, for its own answer.
    let mut answers = Vec::with_capacity(registrations.len());
    for r in registrations {
        answers.push(write_one(pool, r).await);
    }
    answers
}

async fn write_one(pool: &Pool, r: &Registration) -> Result<i64, StoreError> {
    write_many(pool, std::slice::from_ref(r))
        .await?
        .remove(&r.stream_id)
        .ok_or_else(|| StoreError::Corrupt("a registration was not written".into()))
}

async fn write_many(
    pool: &Pool,
    batch: &[Registration],
) -> Result<HashMap<String, i64>, StoreError> {
    macro_rules! col {
        ($f:ident) => {
            batch.iter().map(|r| &r.$f).collect::<Vec<_>>()
        };
    }
    let client = pool.get().await?;
    let stmt = client.prepare_cached(REGISTER).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &col!(stream_id),
                &col!(tenant_id),
                &col!(event_id),
                &col!(event_type),
                &col!(schema_version),
                &batch.iter().map(|r| Json(&*r.payload)).collect::<Vec<_>>(),
                &batch.iter().map(|r| Json(&*r.metadata)).collect::<Vec<_>>(),
                &col!(customer_id),
                &col!(key_version),
                &col!(kek_id),
                &col!(wrapped),
                &col!(phone_hash),
                &col!(command_id),
                &batch
                    .iter()
                    .map(|r| r.record.as_ref().map(|(hash, _)| hash))
                    .collect::<Vec<_>>(),
                &batch
                    .iter()
                    .map(|r| r.record.as_ref().map(|(_, response)| response))
                    .collect::<Vec<_>>(),
                &STREAM_TYPE,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect())
}
