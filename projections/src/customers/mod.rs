//! The customers read model: one row per customer with search columns (blind
//! indexes, name, pinyin, initials) and masked display values, plus the change
//! history (CUS-5, CUS-6, CUS-7). No ciphertext is copied here: unmasking reads the
//! customer's own stream, the one source of truth.
//!
//! A batch is applied set-wise: load the touched rows, fold the events in memory,
//! write back with one upsert and one history insert. This is what makes rebuilds fast.

mod row;

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::customer::{self, CustomerEvent, CustomerField, SealedDetails};
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::ids::{CustomerId, TenantId};
use events_schema::keystore::KeyStore;
use events_schema::sealing::{self, blind_index, Dek, IndexKey, SealContext, SealedValue};
use futures::future::BoxFuture;
use row::{CustomerRow, HistoryRow};
use std::collections::HashMap;

pub struct CustomersProjection {
    keys: KeyStore,
}

impl CustomersProjection {
    pub fn new(keys: KeyStore) -> Self {
        CustomersProjection { keys }
    }
}

impl Projection for CustomersProjection {
    fn name(&self) -> &'static str {
        "customers"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[customer::STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customers", "customer_history"]
    }

    fn prepare<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
        after: Option<&'a Prepared>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared>> {
        Box::pin(async move {
            let after = after.map(writes_of).transpose()?;
            let writes = self.prepare_batch(tx, events, after).await?;
            Ok(Box::new(writes) as Prepared)
        })
    }

    fn write<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let writes = writes_of(prepared)?;
            row::save(tx, writes.rows.values()).await?;
            row::save_history(tx, &writes.history).await?;
            row::delete(tx, &writes.erased).await?;
            Ok(())
        })
    }
}

fn writes_of(prepared: &Prepared) -> anyhow::Result<&Writes> {
    prepared
        .downcast_ref::<Writes>()
        .ok_or_else(|| anyhow::anyhow!("customers: foreign prepared batch"))
}

/// A batch's computed writes: the touched rows after the batch, and history entries.
struct Writes {
    rows: HashMap<(TenantId, CustomerId), row::CustomerRow>,
    history: Vec<HistoryRow>,
    /// Customers erased in this batch: their rows and history go (after the writes).
    erased: Vec<(TenantId, CustomerId)>,
}

/// Opened plaintext of one event's sealed fields.
type Plain = HashMap<CustomerField, Option<String>>;

impl CustomersProjection {
    async fn prepare_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[FeedEvent],
        after: Option<&Writes>,
    ) -> anyhow::Result<Writes> {
        let mut decoded = Vec::new();
        for fe in events {
            if fe.event.stream_type != customer::STREAM_TYPE {
                continue;
            }
            let e = CustomerEvent::from_stored(
                &fe.event.event_type,
                fe.event.schema_version,
                &fe.event.payload,
            )?;
            decoded.push((fe, e));
        }
        if decoded.is_empty() {
            return Ok(Writes {
                rows: HashMap::new(),
                history: Vec::new(),
                erased: Vec::new(),
            });
        }
        // Everything asynchronous first: keys and the rows the batch touches.
        let subjects: Vec<(TenantId, uuid::Uuid)> = decoded
            .iter()
            .map(|(fe, e)| (fe.event.tenant_id, e.customer_id().as_uuid()))
            .collect();
        self.keys.prefetch(&subjects).await?;
        let mut keys = Keys::default();
        for ((_, e), (tenant, subject)) in decoded.iter().zip(&subjects) {
            if !keys.index.contains_key(tenant) {
                keys.index
                    .insert(*tenant, self.keys.index_key(*tenant).await?);
            }
            let kv = e.key_version().unwrap_or(1);
            if let std::collections::hash_map::Entry::Vacant(slot) =
                keys.subjects.entry((*tenant, *subject, kv))
            {
                slot.insert(self.keys.subject_key(*tenant, *subject, kv).await?);
            }
        }
        let mut rows = row::load(tx, &subjects).await?;
        if let Some(after) = after {
            // The previous batch is being written meanwhile: its rows are the current ones.
            for key in &subjects {
                let key = (key.0, CustomerId::from_uuid(key.1));
                if let Some(row) = after.rows.get(&key) {
                    rows.insert(key, row.clone());
                }
            }
        }
        // Then the CPU work (opening sealed values, pinyin, blind indexes, masks),
        // customer by customer: customers are independent, so a large batch is split
        // into two halves by customer and folded on two threads.
        if decoded.len() < PARALLEL_FROM {
            return fold(&keys, &decoded, rows);
        }
        let half = |id: &CustomerId| id.as_uuid().as_u128() % 2 == 1;
        let (decoded_b, decoded_a): (Vec<_>, Vec<_>) = decoded
            .into_iter()
            .partition(|(_, e)| half(&e.customer_id()));
        let (rows_b, rows_a): (HashMap<_, _>, HashMap<_, _>) =
            rows.into_iter().partition(|((_, id), _)| half(id));
        let (a, b) = std::thread::scope(|scope| {
            let b = scope.spawn(|| fold(&keys, &decoded_b, rows_b));
            let a = fold(&keys, &decoded_a, rows_a);
            (a, b.join())
        });
        let mut writes = a?;
        let b = b.map_err(|_| anyhow::anyhow!("customers: a fold thread panicked"))??;
        writes.rows.extend(b.rows);
        writes.history.extend(b.history);
        writes.erased.extend(b.erased);
        Ok(writes)
    }
}

/// Batches at least this large are folded on two threads.
const PARALLEL_FROM: usize = 256;

/// The keys a batch needs, fetched before the (synchronous) fold.
#[derive(Default)]
struct Keys {
    index: HashMap<TenantId, IndexKey>,
    /// `None`: that key is gone (erased).
    subjects: HashMap<(TenantId, uuid::Uuid, u32), Option<Dek>>,
}

/// Folds events (in feed order) into the rows of their customers: the batch's writes.
fn fold(
    keys: &Keys,
    decoded: &[(&FeedEvent, CustomerEvent)],
    mut rows: HashMap<(TenantId, CustomerId), CustomerRow>,
) -> anyhow::Result<Writes> {
    let mut history: Vec<HistoryRow> = Vec::with_capacity(decoded.len());
    let mut erased = Vec::new();
    for (fe, e) in decoded {
        let tenant = fe.event.tenant_id;
        let id = e.customer_id();
        let Some(index_key) = keys.index.get(&tenant) else {
            continue;
        };
        let at = fe.event.metadata.occurred_at;
        match e {
            CustomerEvent::Registered(r) => {
                let plain = open_all(keys, tenant, id, &r.details)?;
                let Some(new_row) = CustomerRow::registered(
                    tenant,
                    id,
                    fe.event.stream_version,
                    &r.details,
                    &plain,
                    &r.consent,
                    index_key,
                    at,
                ) else {
                    // Erased before this replay: no row, no history of her details.
                    continue;
                };
                history.push(HistoryRow::new(
                    fe,
                    id,
                    changes(&plain, &r.details, &[]),
                    None,
                ));
                rows.insert((tenant, id), new_row);
            }
            CustomerEvent::Changed(c) => {
                let plain = open_all(keys, tenant, id, &c.details)?;
                let reason = open(keys, tenant, id, customer::REASON_FIELD, &c.reason)?;
                if let Some(row) = rows.get_mut(&(tenant, id)) {
                    row.change(
                        fe.event.stream_version,
                        &c.details,
                        &plain,
                        &c.cleared,
                        index_key,
                        at,
                    );
                }
                history.push(HistoryRow::new(
                    fe,
                    id,
                    changes(&plain, &c.details, &c.cleared),
                    reason,
                ));
            }
            CustomerEvent::MarketingConsentChanged(m) => {
                if let Some(row) = rows.get_mut(&(tenant, id)) {
                    row.set_marketing_consent(fe.event.stream_version, m.marketing, at);
                }
                let shown = if m.marketing { "granted" } else { "withdrawn" };
                history.push(HistoryRow::new(
                    fe,
                    id,
                    tokio_postgres::types::Json(vec![Change {
                        field: "marketing_consent",
                        value: ChangedValue::Text(shown.to_owned()),
                    }]),
                    None,
                ));
            }
            CustomerEvent::PatchTestRecorded(p) => {
                if let Some(row) = rows.get_mut(&(tenant, id)) {
                    row.touch(fe.event.stream_version, at);
                }
                // The history says a test of which service was done when; its result
                // (health data, sealed) is not shown.
                history.push(HistoryRow::new(
                    fe,
                    id,
                    tokio_postgres::types::Json(vec![Change {
                        field: "patch_test",
                        value: ChangedValue::Text(format!("{} {}", p.service_id, p.done_on)),
                    }]),
                    None,
                ));
            }
            CustomerEvent::Erased(_) => {
                // No read-model row of her stays: not her record, not its history.
                rows.remove(&(tenant, id));
                history.retain(|h| !h.is_of(tenant, id));
                erased.push((tenant, id));
            }
        }
    }
    Ok(Writes {
        rows,
        history,
        erased,
    })
}

/// Opens one sealed value: `None` when the subject's key is gone (erased).
fn open(
    keys: &Keys,
    tenant: TenantId,
    id: CustomerId,
    field: &str,
    sealed: &SealedValue,
) -> anyhow::Result<Option<String>> {
    match keys.subjects.get(&(tenant, id.as_uuid(), sealed.kv)) {
        Some(Some(dek)) => Ok(Some(sealing::open(dek, &ctx(tenant, id, field), sealed)?)),
        Some(None) => Ok(None),
        None => anyhow::bail!("customers: key version {} was not fetched", sealed.kv),
    }
}

/// Opens an event's sealed fields. Health notes are not decrypted: this read model
/// keeps only that they are recorded (`has_notes`…, "(recorded)" in the history), so
/// they count as present whenever the customer's key exists.
fn open_all(
    keys: &Keys,
    tenant: TenantId,
    id: CustomerId,
    details: &SealedDetails,
) -> anyhow::Result<Plain> {
    let mut plain = HashMap::new();
    for field in details.present_fields() {
        let Some(sealed) = details.sealed(field) else {
            continue;
        };
        let value = match field {
            CustomerField::Notes | CustomerField::Allergies | CustomerField::Conditions => {
                match keys.subjects.get(&(tenant, id.as_uuid(), sealed.kv)) {
                    Some(Some(_)) => Some(String::new()),
                    _ => None,
                }
            }
            f => open(keys, tenant, id, f.as_str(), sealed)?,
        };
        plain.insert(field, value);
    }
    Ok(plain)
}

fn ctx(tenant: TenantId, id: CustomerId, field: &str) -> SealContext<'_> {
    SealContext {
        tenant,
        subject: id.as_uuid(),
        field,
    }
}

/// What changed, for the history: each field with its masked new value (`null` when
/// cleared). Health notes show only that they changed. Typed, so that it is written
/// to the jsonb column straight from these values (no JSON tree per event).
fn changes(plain: &Plain, details: &SealedDetails, cleared: &[CustomerField]) -> row::Changes {
    let mut out = Vec::new();
    for field in details.present_fields() {
        let value = match field {
            CustomerField::SourceChannel => {
                details.source_channel.map_or(ChangedValue::Cleared, |c| {
                    ChangedValue::Text(c.as_str().to_owned())
                })
            }
            CustomerField::Tags => details
                .tags
                .clone()
                .map_or(ChangedValue::Cleared, ChangedValue::Tags),
            f => match plain.get(&f).cloned().flatten() {
                Some(text) => ChangedValue::Text(row::masked(f, &text)),
                None => ChangedValue::Text("[erased]".to_owned()),
            },
        };
        out.push(Change {
            field: field.as_str(),
            value,
        });
    }
    for f in cleared {
        out.push(Change {
            field: f.as_str(),
            value: ChangedValue::Cleared,
        });
    }
    tokio_postgres::types::Json(out)
}

/// One entry of a history row's `changes`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Change {
    field: &'static str,
    value: ChangedValue,
}

#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum ChangedValue {
    Text(String),
    Tags(Vec<String>),
    /// `null`
    Cleared,
}

/// Blind index of a normalised value under the tenant's key.
pub(crate) fn index(key: &IndexKey, purpose: &str, value: &str) -> String {
    blind_index(key, purpose, value)
}
