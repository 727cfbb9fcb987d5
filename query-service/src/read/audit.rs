//! The auditors' view of the event store: one stream's events, or the tenant's part of
//! the feed, each with type, version, time, actor and payload — sealed values shown
//! masked (opened with the subject's key when it still exists, else `[erased]`).

use deadpool_postgres::GenericClient;
use events_schema::customer::{self, CustomerField};
use events_schema::envelope::{Metadata, RecordedEvent};
use events_schema::ids::TenantId;
use events_schema::keystore::KeyStore;
use events_schema::sealing::{Opened, SealContext, SealedValue};
use events_schema::store::{self, StoreError};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct AuditEvent {
    pub seq: Option<i64>,
    pub global_position: i64,
    pub event_id: events_schema::ids::EventId,
    pub stream_id: String,
    pub stream_type: String,
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub metadata: Metadata,
    pub payload: Value,
}

/// The subject a stream's sealed values belong to (`customer-<uuid>` → uuid).
fn subject_of(stream_id: &str) -> Option<uuid::Uuid> {
    stream_id
        .split_once('-')
        .and_then(|(_, id)| uuid::Uuid::parse_str(id).ok())
}

/// A JSON object shaped exactly like a sealed value.
fn as_sealed(value: &Value) -> Option<SealedValue> {
    let map = value.as_object()?;
    if map.len() != 4 || !(["v", "kv", "n", "c"].iter().all(|k| map.contains_key(*k))) {
        return None;
    }
    serde_json::from_value(value.clone()).ok()
}

/// Replaces every sealed value in `payload` with its masked plaintext.
async fn mask_payload(
    keys: &KeyStore,
    tenant: TenantId,
    subject: Option<uuid::Uuid>,
    value: &mut Value,
    field: &str,
) -> Result<(), events_schema::keystore::KeyStoreError> {
    if let Some(sealed) = as_sealed(value) {
        let shown = match subject {
            None => "[sealed]".to_owned(),
            Some(subject) => match keys
                .open(
                    &SealContext {
                        tenant,
                        subject,
                        field,
                    },
                    &sealed,
                )
                .await
            {
                Ok(Opened::Plain(text)) => match CustomerField::parse(field) {
                    Some(f) => customer::masked(f, &text),
                    None => events_schema::values::mask_middle(&text, 1, 0),
                },
                Ok(Opened::Erased) => "[erased]".to_owned(),
                Err(_) => "[sealed]".to_owned(),
            },
        };
        *value = Value::String(shown);
        return Ok(());
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                Box::pin(mask_payload(keys, tenant, subject, v, k)).await?;
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                Box::pin(mask_payload(keys, tenant, subject, v, field)).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn to_audit(
    keys: &KeyStore,
    seq: Option<i64>,
    e: RecordedEvent,
) -> Result<AuditEvent, events_schema::keystore::KeyStoreError> {
    // Valid JSON by construction (checked when read from the store).
    let mut payload = e
        .payload
        .to_value()
        .map_err(|_| events_schema::sealing::SealError::Malformed)?;
    mask_payload(
        keys,
        e.tenant_id,
        subject_of(&e.stream_id),
        &mut payload,
        "",
    )
    .await?;
    Ok(AuditEvent {
        seq,
        global_position: e.global_position,
        event_id: e.event_id,
        stream_id: e.stream_id,
        stream_type: e.stream_type,
        stream_version: e.stream_version,
        event_type: e.event_type,
        schema_version: e.schema_version,
        recorded_at: e.recorded_at,
        metadata: e.metadata,
        payload,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] events_schema::keystore::KeyStoreError),
}

pub async fn stream_events(
    client: &impl GenericClient,
    keys: &KeyStore,
    tenant: TenantId,
    stream_id: &str,
) -> Result<Vec<AuditEvent>, AuditError> {
    let events = store::read_stream(client, tenant, stream_id).await?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let seq = store::feed_seq_of(client, e.global_position).await?;
        out.push(to_audit(keys, seq, e).await?);
    }
    Ok(out)
}

pub async fn feed(
    client: &impl GenericClient,
    keys: &KeyStore,
    tenant: TenantId,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, AuditError> {
    let entries = store::read_tenant_feed(client, tenant, after, limit).await?;
    let mut out = Vec::with_capacity(entries.len());
    for fe in entries {
        out.push(to_audit(keys, Some(fe.seq), fe.event).await?);
    }
    Ok(out)
}
