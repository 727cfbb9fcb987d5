//! Registering and changing customer records.

use super::group_commit::Registration;
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
use events_schema::store::{self, CommandRecord, ExpectedVersion, StoreError, StreamAppend};
use serde_json::json;

use events_schema::customer::index::PHONE as PHONE_INDEX;

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

/// A customer as her stream has her now.
pub(super) struct LoadedCustomer {
    pub version: i64,
    /// Position of her last event (a consistency token for a change that was a no-op).
    pub last_position: i64,
    pub key_version: u32,
    pub dek: events_schema::sealing::Dek,
    pub state: CustomerState,
    /// Her patch tests (SVC-3), in the order recorded.
    pub patch_tests: Vec<super::patch_tests::PatchTest>,
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
        // the command record when written, and is answered then.
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

        let Ok([event]) = <[_; 1]>::try_from(new_events) else {
            return Err(AppError::Internal(anyhow::anyhow!(
                "a registration appends exactly one event"
            )));
        };
        let key_version = i32::try_from(new_key.version)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("key version out of range")))?;
        // A keyed command's record: its outcome but the consistency token, which the
        // statement fills in (the position is known only there).
        let record = if ctx.is_recorded() {
            let response = serde_json::to_value(saved(201, customer_id, 1, 0))
                .map_err(|e| AppError::Internal(e.into()))?;
            Some((ctx.request_hash.clone(), response))
        } else {
            None
        };
        let registration = Registration {
            stream_id,
            tenant_id: ctx.tenant.as_uuid(),
            event_id: event.event_id.as_uuid(),
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
            metadata: store::metadata_json(&metadata)?,
            customer_id: customer_id.as_uuid(),
            key_version,
            kek_id: new_key.kek_id().to_owned(),
            wrapped: new_key.wrapped().to_vec(),
            phone_hash,
            command_id: ctx.command_id.as_uuid(),
            record,
        };
        let position = match self.group_commit.register(registration).await {
            Ok(position) => position,
            Err(e) => {
                // A twin under the same Idempotency-Key trips the phone guard or the
                // command record: answer with its outcome (or refuse a reused key).
                if let Some(done) = self.replay(ctx).await? {
                    return Ok(done);
                }
                return Err(e);
            }
        };
        self.relay_wakeup.notify_one();
        Ok(saved(201, customer_id, 1, position))
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
            let loaded = self.load_customer(ctx.tenant, cmd.customer_id).await?;
            let version = loaded.version;
            if cmd.expected_version.is_some_and(|v| v != version) {
                return Err(AppError::Conflict);
            }
            let key = SubjectKey {
                tenant: ctx.tenant,
                customer: cmd.customer_id,
                version: loaded.key_version,
                dek: &loaded.dek,
            };
            let state = loaded.state;
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
                _ => None,
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

    /// She gives or withdraws consent to marketing messages (SEC-5). Naturally
    /// idempotent: asking for what is already so records nothing.
    pub async fn set_marketing_consent(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        marketing: bool,
    ) -> Result<Outcome, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let loaded = self.load_customer(ctx.tenant, customer_id).await?;
            let events = domain::decide(
                &loaded.state,
                CustomerCommand::SetMarketingConsent { marketing },
            )?;
            if events.is_empty() {
                return Ok(saved(
                    200,
                    customer_id,
                    loaded.version,
                    loaded.last_position,
                ));
            }
            let key = SubjectKey {
                tenant: ctx.tenant,
                customer: customer_id,
                version: loaded.key_version,
                dek: &loaded.dek,
            };
            let new_events = to_new_events(&key, &events)?;
            let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
            let tx = client.transaction().await?;
            let appended = store::append_tx(
                &tx,
                &StreamAppend {
                    tenant_id: ctx.tenant,
                    stream_id: &wire::stream_id(customer_id),
                    stream_type: wire::STREAM_TYPE,
                    expected: ExpectedVersion::Exact(loaded.version),
                    events: &new_events,
                    metadata: &ctx.metadata(chrono::Utc::now()),
                },
            )
            .await;
            match appended {
                Ok(a) => {
                    tx.commit().await?;
                    self.relay_wakeup.notify_one();
                    return Ok(saved(200, customer_id, a.new_version, a.last_position));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict)
    }

    /// A customer's state from her stream, with the key her values are sealed with.
    pub(super) async fn load_customer(
        &self,
        tenant: events_schema::ids::TenantId,
        customer_id: CustomerId,
    ) -> Result<LoadedCustomer, AppError> {
        let stream_id = wire::stream_id(customer_id);
        let history = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            store::read_stream(&client, tenant, &stream_id).await?
        };
        let Some(last) = history.last() else {
            return Err(CustomerError::NotFound.into());
        };
        let (version, last_position) = (last.stream_version, last.global_position);
        let wire_events = history
            .iter()
            .map(|e| {
                wire::CustomerEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Internal(err.into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if wire_events
            .iter()
            .any(|e| matches!(e, wire::CustomerEvent::Erased(_)))
        {
            return Err(AppError::Erased);
        }
        // Her values share the key version of her registration until a key rotation
        // appends a re-keying event.
        let key_version = wire_events
            .first()
            .and_then(wire::CustomerEvent::key_version)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("registration without sealed values"))
            })?;
        let dek = self
            .keys
            .subject_key(tenant, customer_id.as_uuid(), key_version)
            .await?
            .ok_or(AppError::Erased)?;
        let key = SubjectKey {
            tenant,
            customer: customer_id,
            version: key_version,
            dek: &dek,
        };
        let today = chrono::Utc::now().date_naive();
        let mut state = CustomerState::New;
        let mut patch_tests = Vec::new();
        for wire_event in &wire_events {
            let event = key.open_event(wire_event, today)?;
            if let domain::CustomerEvent::PatchTestRecorded {
                service_id,
                done_on,
                result,
                ..
            } = &event
            {
                patch_tests.push(super::patch_tests::PatchTest {
                    service_id: *service_id,
                    done_on: *done_on,
                    result: *result,
                });
            }
            state = domain::evolve(state, &event);
        }
        Ok(LoadedCustomer {
            version,
            last_position,
            key_version,
            dek,
            state,
            patch_tests,
        })
    }

    /// Records the command's outcome in the append transaction.
    pub(super) async fn finish(
        &self,
        tx: &impl GenericClient,
        ctx: &CommandContext,
        outcome: &Outcome,
    ) -> Result<(), AppError> {
        if !ctx.is_recorded() {
            return Ok(());
        }
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
