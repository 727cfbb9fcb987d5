//! Application layer: turns a validated command into an append. Loads the stream,
//! opens its sealed values, calls the aggregate's pure `decide`, seals the new
//! events, and appends them together with the command record and any consistency rows
//! in one transaction. Handles idempotency (G3) and bounded retries on conflicts (G2).

pub mod accounts;
pub mod bookings;
pub mod catalogue;
pub mod customers;
pub mod disclosures;
pub mod erasure;
pub mod error;
pub mod export;
pub mod group_commit;
pub mod identity;
pub mod images;
pub mod locations;
pub mod notify;
pub mod patch_tests;
pub mod reminders;
pub mod rota;
pub mod sealing;
pub mod sessions;
pub mod settings;
pub mod sign_in;
pub mod staff;
pub mod throttle;
pub mod visits;
pub mod waitlist;

pub use error::AppError;

use deadpool_postgres::Pool;
use events_schema::envelope::{Actor, DomainEvent, Metadata};
use events_schema::ids::{CommandId, TenantId};
use events_schema::keystore::KeyStore;
use events_schema::token::TokenSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Everything command handlers need; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub pool: Pool,
    pub keys: KeyStore,
    pub tokens: TokenSecret,
    pub token_ttl: Duration,
    /// Poked after every commit so the relay picks new events up at once.
    pub relay_wakeup: Arc<Notify>,
    /// Bounds concurrent password hashing (argon2 runs on blocking threads).
    pub hashing: Arc<Semaphore>,
    /// Writes concurrent registrations together (one commit for many).
    pub group_commit: group_commit::GroupCommit,
    /// Failed-login limits per account and per client address.
    pub login_limits: throttle::LoginLimits,
    /// The notification channel and its worker's wake-up.
    pub notifier: Arc<notify::Notifier>,
    /// Queues this instance's commands on one busy stream (a location's day) so they
    /// take turns instead of failing each other's appends; other instances are still
    /// kept apart by the stream version.
    pub stream_turns: Arc<StreamTurns>,
    /// Availability answers kept with what they were computed from.
    pub availability_cache: Arc<bookings::AvailabilityCache>,
}

/// One async lock per stream id, made on demand and dropped when nobody waits.
#[derive(Default)]
pub struct StreamTurns(
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
);

impl StreamTurns {
    /// Waits for this instance's turn on `stream`; the turn ends when the guard drops.
    pub async fn take(&self, stream: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.retain(|_, l| Arc::strong_count(l) > 1);
            map.entry(stream.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Writes committed together with an appended event ([`App::append_one_with`]).
#[derive(Default)]
pub struct SideWrites<'a> {
    /// A new subject's data key, stored with the subject's first event.
    pub key: Option<&'a events_schema::keystore::NewSubjectKey>,
    /// Statements with their parameters, run in order before the append.
    pub statements: Vec<(
        &'static str,
        Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)>,
    )>,
    /// More members of the answer's body (recorded with it for replays).
    pub body: Vec<(&'static str, serde_json::Value)>,
}

/// Who sends a command and under which id.
#[derive(Clone, Debug)]
pub struct CommandContext {
    pub tenant: TenantId,
    pub actor: Actor,
    pub command_id: CommandId,
    /// Hash of the request (operation, target and body) for idempotency checks; empty
    /// for a command without an `Idempotency-Key`.
    pub request_hash: String,
    pub correlation_id: uuid::Uuid,
}

impl CommandContext {
    /// Whether this command id may have been recorded before: ids derived from an
    /// `Idempotency-Key` are UUIDv8 ([`command_id_from_key`]); a fresh id (UUIDv7)
    /// cannot have been, so its lookup is skipped.
    pub fn may_be_replay(&self) -> bool {
        self.command_id.as_uuid().get_version_num() == 8
    }

    /// Whether the command's outcome is recorded in `es.commands` (G3): only a command
    /// sent under an `Idempotency-Key` can be sent again under the same id; a fresh
    /// id is never seen twice, so recording it would only cost a row and an index
    /// entry per command.
    pub fn is_recorded(&self) -> bool {
        self.may_be_replay()
    }

    pub fn metadata(&self, now: chrono::DateTime<chrono::Utc>) -> Metadata {
        Metadata {
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            causation_id: self.command_id.as_uuid(),
            actor: self.actor,
            tenant_id: self.tenant,
            occurred_at: now,
        }
    }
}

/// What a command returns; recorded for idempotent replays.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Outcome {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Hashes a request for the idempotency record.
pub fn request_hash(operation: &str, target: &str, body: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(target.as_bytes());
    h.update([0]);
    h.update(body.to_string().as_bytes());
    events_schema::migrate::hex(&h.finalize())
}

/// Derives a command id from an `Idempotency-Key` header value (scoped by tenant in storage).
pub fn command_id_from_key(key: &str) -> CommandId {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    CommandId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

impl App {
    /// A stream folded into its state with `apply`, and its version (0 and the
    /// default state when it has no events yet).
    pub(super) async fn fold_stream<E: DomainEvent, S: Default>(
        &self,
        tenant: TenantId,
        stream: &str,
        apply: impl Fn(&mut S, &E),
    ) -> Result<(i64, S), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = events_schema::store::read_stream(&client, tenant, stream).await?;
        let mut state = S::default();
        for e in &history {
            let event = E::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| AppError::Internal(err.into()))?;
            apply(&mut state, &event);
        }
        Ok((history.last().map_or(0, |e| e.stream_version), state))
    }

    /// Appends one event to a stream whose events each carry a whole document
    /// (locations, categories, services): with the command's record, in one
    /// transaction, then wakes the relay. Answers `{<id_key>: id, version,
    /// consistency_token}`; a twin that recorded the command first is answered with
    /// its outcome.
    pub(super) async fn append_one<E: DomainEvent>(
        &self,
        ctx: &CommandContext,
        stream: (&str, events_schema::store::ExpectedVersion),
        event: &E,
        status: u16,
        id: (&str, uuid::Uuid),
    ) -> Result<Outcome, AppError> {
        self.append_one_with(ctx, stream, event, status, id, &SideWrites::default())
            .await
    }

    /// [`App::append_one`], with writes that must commit with the event: a new
    /// subject's data key, rows of write-side guard or state tables.
    pub(super) async fn append_one_with<E: DomainEvent>(
        &self,
        ctx: &CommandContext,
        stream: (&str, events_schema::store::ExpectedVersion),
        event: &E,
        status: u16,
        (id_key, id): (&str, uuid::Uuid),
        side: &SideWrites<'_>,
    ) -> Result<Outcome, AppError> {
        self.append_one_then(
            ctx,
            stream,
            event,
            status,
            (serde_json::json!({ id_key: id }), side),
            |_| Box::pin(async { Ok(()) }),
        )
        .await
    }

    /// [`App::append_one_with`] with rows of the command's own written in the same
    /// transaction, after the event (a service image's bytes): if either fails,
    /// neither is written. `answer` is the outcome's body before `version`,
    /// `consistency_token` and the side writes' members are added.
    pub(super) async fn append_one_then<E, F>(
        &self,
        ctx: &CommandContext,
        (stream_id, expected): (&str, events_schema::store::ExpectedVersion),
        event: &E,
        status: u16,
        (mut answer, side): (serde_json::Value, &SideWrites<'_>),
        rows: F,
    ) -> Result<Outcome, AppError>
    where
        E: DomainEvent,
        F: for<'t> FnOnce(
            &'t deadpool_postgres::Transaction<'t>,
        ) -> futures::future::BoxFuture<'t, Result<(), AppError>>,
    {
        use events_schema::store::{self, StoreError, StreamAppend};
        let new_event = event
            .to_new_event()
            .map_err(|e| AppError::Internal(e.into()))?;
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        if let Some(key) = side.key {
            self.keys.insert_subject_key_tx(&tx, key).await?;
        }
        for (sql, params) in &side.statements {
            let stmt = tx.prepare_cached(sql).await?;
            tx.execute(&stmt, params).await?;
        }
        let appended = store::append_tx(
            &tx,
            &StreamAppend {
                tenant_id: ctx.tenant,
                stream_id,
                stream_type: E::STREAM_TYPE,
                expected,
                events: std::slice::from_ref(&new_event),
                metadata: &ctx.metadata(chrono::Utc::now()),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => AppError::Conflict,
            e => e.into(),
        })?;
        rows(&tx).await?;
        if let Some(body) = answer.as_object_mut() {
            body.insert("version".into(), appended.new_version.into());
            body.insert(
                "consistency_token".into(),
                appended.last_position.to_string().into(),
            );
            for (k, v) in &side.body {
                body.insert((*k).to_owned(), v.clone());
            }
        }
        let outcome = Outcome {
            status,
            body: answer,
        };
        match self.finish(&tx, ctx, &outcome).await {
            Ok(()) => {}
            Err(AppError::Idempotent) => {
                drop(tx);
                drop(client);
                return self.replay_after_race(ctx).await;
            }
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(outcome)
    }

    /// Returns the recorded outcome of an already executed command, refusing a reused
    /// key with a different request.
    pub async fn replay(&self, ctx: &CommandContext) -> Result<Option<Outcome>, AppError> {
        if !ctx.may_be_replay() {
            return Ok(None);
        }
        self.recorded_outcome(ctx).await
    }

    /// After a lost race on the command record: the winner's outcome.
    pub async fn replay_after_race(&self, ctx: &CommandContext) -> Result<Outcome, AppError> {
        self.recorded_outcome(ctx)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("command record vanished")))
    }

    async fn recorded_outcome(&self, ctx: &CommandContext) -> Result<Option<Outcome>, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let Some(record) =
            events_schema::store::find_command(&client, ctx.tenant, ctx.command_id).await?
        else {
            return Ok(None);
        };
        if record.request_hash != ctx.request_hash {
            return Err(AppError::IdempotencyKeyReused);
        }
        serde_json::from_value(record.response)
            .map(Some)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored outcome: {e}")))
    }
}
