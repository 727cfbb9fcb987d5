//! Registering and changing customer records.

use super::sealing::SubjectKey;
use super::{App, AppError, CommandContext, Outcome};
use crate::domain::customer::{
    self as domain, CustomerCommand, CustomerDetails, CustomerError, CustomerState, FieldValue,
    Reason,
};
use deadpool_postgres::GenericClient;
use events_schema::customer::{self as wire, Consent, CustomerField};
use events_schema::envelope::DomainEvent;
use events_schema::ids::CustomerId;
use events_schema::sealing::blind_index;
use events_schema::store::{
    self, CommandRecord, EventColumns, ExpectedVersion, StoreError, StreamAppend,
};
use serde_json::json;

use events_schema::customer::index::PHONE as PHONE_INDEX;

/// A registration in one statement, committed on its own (no BEGIN/COMMIT round trips):
/// the stream row (the compare-and-set: a new stream), the events, the customer's data
/// key, the phone guard and the command record. The later inserts read from `s`, so
/// they run only once the stream row is in; any unique violation fails the whole
/// statement and its constraint name says which (`StoreError::from_db`). The subject is
/// a fresh UUIDv7, so no erasure record can exist for it (`keys.erasures` is not
/// consulted, unlike `KeyStore::insert_subject_key_tx`). The command record's outcome
/// gets the consistency token (the last event's position) here.
const REGISTER: &str = "\
WITH s AS (
    INSERT INTO es.streams (stream_id, stream_type, tenant_id, version)
    VALUES ($1, $2, $3, $4)
    RETURNING stream_id
), e AS (
    INSERT INTO es.events (event_id, tenant_id, stream_id, stream_type, stream_version,
                           event_type, schema_version, payload, metadata)
    SELECT u.event_id, $3, s.stream_id, $2, u.stream_version, u.event_type,
           u.schema_version, u.payload, $9
    FROM s, UNNEST($5::uuid[], $6::bigint[], $7::text[], $8::int[], $10::jsonb[])
         AS u (event_id, stream_version, event_type, schema_version, payload)
    RETURNING global_position
), k AS (
    INSERT INTO keys.subject_keys (tenant_id, subject_id, key_version, kek_id, wrapped)
    SELECT $3, $11, $12, $13, $14 FROM s
), g AS (
    INSERT INTO guard.customer_phones (tenant_id, phone_hash, customer_id)
    SELECT $3, $15, $11 FROM s
), c AS (
    INSERT INTO es.commands (tenant_id, command_id, request_hash, response)
    SELECT $3, $16, $17,
           jsonb_set($18::jsonb, '{body,consistency_token}', to_jsonb(max(e.global_position)::text))
    FROM e
)
SELECT max(global_position) FROM e";

/// How many times a change is decided again on fresh state after losing a race.
const MAX_ATTEMPTS: usize = 3;

pub struct RegisterCustomer {
    pub details: CustomerDetails,
    pub consent: Consent,
}

pub struct ChangeCustomer {
    pub customer_id: CustomerId,
    /// When given, the change applies only to exactly this version (else 409).
    pub expected_version: Option<i64>,
    pub set: Vec<FieldValue>,
    pub clear: Vec<CustomerField>,
    pub reason: Reason,
}

fn saved(status: u16, customer_id: CustomerId, version: i64, position: i64) -> Outcome {
    Outcome {
        status,
        body: json!({
            "customer_id": customer_id,
            "version": version,
            "consistency_token": position.to_string(),
        }),
    }
}

fn to_new_events(
    key: &SubjectKey<'_>,
    events: &[domain::CustomerEvent],
) -> Result<Vec<events_schema::envelope::NewEvent>, AppError> {
    events
        .iter()
        .map(|e| {
            key.seal_event(e)
                .to_new_event()
                .map_err(|err| AppError::Internal(err.into()))
        })
        .collect()
}

impl App {
    pub async fn register_customer(
        &self,
        ctx: &CommandContext,
        cmd: RegisterCustomer,
    ) -> Result<Outcome, AppError> {
        // No look-up of the Idempotency-Key first: a replay fails on the phone guard or
        // the command record inside the one statement below, and is answered then.
        let customer_id = CustomerId::new();
        let index_key = self.keys.index_key(ctx.tenant).await?;
        let phone_hash = blind_index(&index_key, PHONE_INDEX, cmd.details.phone.as_e164());
        let events = domain::decide(
            &CustomerState::New,
            CustomerCommand::Register {
                customer_id,
                details: Box::new(cmd.details),
                consent: cmd.consent,
            },
        )?;
        let new_key = self
            .keys
            .prepare_subject_key(ctx.tenant, customer_id.as_uuid());
        let key = SubjectKey {
            tenant: ctx.tenant,
            customer: customer_id,
            version: new_key.version,
            dek: &new_key.dek,
        };
        let new_events = to_new_events(&key, &events)?;
        let metadata = ctx.metadata(chrono::Utc::now());
        let stream_id = wire::stream_id(customer_id);

        let metadata = store::metadata_json(&metadata)?;
        let columns = EventColumns::of(&new_events, 0);
        let key_version = i32::try_from(new_key.version)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("key version out of range")))?;
        // The consistency token is filled in by the statement (the position is known
        // only there); the rest of the outcome is known now.
        let new_version = i64::try_from(new_events.len()).unwrap_or(i64::MAX);
        let response = serde_json::to_value(saved(201, customer_id, new_version, 0))
            .map_err(|e| AppError::Internal(e.into()))?;

        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(REGISTER).await?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &stream_id,
                    &wire::STREAM_TYPE,
                    &ctx.tenant.as_uuid(),
                    &new_version,
                    &columns.ids,
                    &columns.versions,
                    &columns.types,
                    &columns.schema_versions,
                    &metadata,
                    &columns.payloads,
                    &customer_id.as_uuid(),
                    &key_version,
                    &new_key.kek_id(),
                    &new_key.wrapped(),
                    &phone_hash,
                    &ctx.command_id.as_uuid(),
                    &ctx.request_hash,
                    &response,
                ],
            )
            .await;
        drop(client);
        let position: Option<i64> = match row {
            Ok(row) => row.get(0),
            Err(e) => {
                // A twin under the same Idempotency-Key trips the phone guard or the
                // command record: answer with its outcome (or refuse a reused key).
                let e = match StoreError::from_db(e) {
                    StoreError::DuplicateCommand => AppError::Idempotent,
                    other => AppError::from(other),
                };
                if let Some(done) = self.replay(ctx).await? {
                    return Ok(done);
                }
                return Err(e);
            }
        };
        let position = position
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("registration appended no event")))?;
        self.relay_wakeup.notify_one();
        Ok(saved(201, customer_id, new_version, position))
    }

    pub async fn change_customer(
        &self,
        ctx: &CommandContext,
        cmd: ChangeCustomer,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let stream_id = wire::stream_id(cmd.customer_id);
        let index_key = self.keys.index_key(ctx.tenant).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let history = {
                let client = self.pool.get().await.map_err(AppError::from_pool)?;
                store::read_stream(&client, ctx.tenant, &stream_id).await?
            };
            let Some(last) = history.last() else {
                return Err(CustomerError::NotFound.into());
            };
            let version = last.stream_version;
            if cmd.expected_version.is_some_and(|v| v != version) {
                return Err(AppError::Conflict);
            }
            let key_version = key_version_of(&history)?;
            let dek = self
                .keys
                .subject_key(ctx.tenant, cmd.customer_id.as_uuid(), key_version)
                .await?
                .ok_or(AppError::Erased)?;
            let key = SubjectKey {
                tenant: ctx.tenant,
                customer: cmd.customer_id,
                version: key_version,
                dek: &dek,
            };
            let today = chrono::Utc::now().date_naive();
            let mut state = CustomerState::New;
            for e in &history {
                let wire_event =
                    wire::CustomerEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                        .map_err(|err| AppError::Internal(err.into()))?;
                state = domain::evolve(state, &key.open_event(&wire_event, today)?);
            }
            let old_phone = match &state {
                CustomerState::Active { details, .. } => Some(details.phone.clone()),
                CustomerState::New => None,
            };
            let events = domain::decide(
                &state,
                CustomerCommand::Change {
                    set: cmd.set.clone(),
                    clear: cmd.clear.clone(),
                    reason: cmd.reason.clone(),
                },
            )?;
            let new_phone = events.iter().find_map(|e| match e {
                domain::CustomerEvent::Changed { set, .. } => set.iter().find_map(|v| match v {
                    FieldValue::Phone(p) => Some(p.clone()),
                    _ => None,
                }),
                domain::CustomerEvent::Registered { .. } => None,
            });
            let new_events = to_new_events(&key, &events)?;
            let metadata = ctx.metadata(chrono::Utc::now());

            let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
            let tx = client.transaction().await?;
            let appended = store::append_tx(
                &tx,
                &StreamAppend {
                    tenant_id: ctx.tenant,
                    stream_id: &stream_id,
                    stream_type: wire::STREAM_TYPE,
                    expected: ExpectedVersion::Exact(version),
                    events: &new_events,
                    metadata: &metadata,
                },
            )
            .await;
            let appended = match appended {
                Ok(a) => a,
                Err(StoreError::Conflict { .. })
                    if cmd.expected_version.is_none() && attempt < MAX_ATTEMPTS =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let outcome = saved(
                200,
                cmd.customer_id,
                appended.new_version,
                appended.last_position,
            );
            let recorded = self.finish(&tx, ctx, &outcome).await;
            if let Err(AppError::Idempotent) = recorded {
                drop(tx);
                drop(client);
                return self.replay_after_race(ctx).await;
            }
            recorded?;
            if let (Some(old), Some(new)) = (old_phone, new_phone) {
                let old_hash = blind_index(&index_key, PHONE_INDEX, old.as_e164());
                let new_hash = blind_index(&index_key, PHONE_INDEX, new.as_e164());
                let stmt = tx
                    .prepare_cached(
                        "DELETE FROM guard.customer_phones WHERE tenant_id = $1 AND phone_hash = $2",
                    )
                    .await?;
                tx.execute(&stmt, &[&ctx.tenant.as_uuid(), &old_hash])
                    .await?;
                insert_phone_guard(&tx, ctx, &new_hash, cmd.customer_id).await?;
            }
            tx.commit().await?;
            self.relay_wakeup.notify_one();
            return Ok(outcome);
        }
    }

    /// Records the command's outcome in the append transaction.
    async fn finish(
        &self,
        tx: &impl GenericClient,
        ctx: &CommandContext,
        outcome: &Outcome,
    ) -> Result<(), AppError> {
        let response = serde_json::to_value(outcome).map_err(|e| AppError::Internal(e.into()))?;
        match store::record_command_tx(
            tx,
            ctx.tenant,
            ctx.command_id,
            &CommandRecord {
                request_hash: ctx.request_hash.clone(),
                response,
            },
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::DuplicateCommand) => Err(AppError::Idempotent),
            Err(e) => Err(e.into()),
        }
    }
}

async fn insert_phone_guard(
    tx: &impl GenericClient,
    ctx: &CommandContext,
    phone_hash: &str,
    customer_id: CustomerId,
) -> Result<(), AppError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO guard.customer_phones (tenant_id, phone_hash, customer_id) VALUES ($1, $2, $3)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&ctx.tenant.as_uuid(), &phone_hash, &customer_id.as_uuid()],
    )
    .await
    .map_err(StoreError::from_db)?;
    Ok(())
}

/// The key version the stream's values are sealed with (all events of a customer
/// share her current key version until a key rotation appends a re-keying event).
fn key_version_of(history: &[events_schema::envelope::RecordedEvent]) -> Result<u32, AppError> {
    let first = history
        .first()
        .ok_or(AppError::Customer(CustomerError::NotFound))?;
    first
        .payload
        .pointer("/details/name/kv")
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("registration without sealed name")))
}
