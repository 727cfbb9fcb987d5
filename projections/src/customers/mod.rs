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
use events_schema::sealing::{blind_index, IndexKey, Opened, SealContext};
use futures::future::BoxFuture;
use row::{CustomerRow, HistoryRow};
use serde_json::json;
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
            });
        }
        let subjects: Vec<(TenantId, uuid::Uuid)> = decoded
            .iter()
            .map(|(fe, e)| (fe.event.tenant_id, customer_id(e).as_uuid()))
            .collect();
        self.keys.prefetch(&subjects).await?;
        let mut index_keys: HashMap<TenantId, IndexKey> = HashMap::new();
        for (tenant, _) in &subjects {
            if !index_keys.contains_key(tenant) {
                index_keys.insert(*tenant, self.keys.index_key(*tenant).await?);
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
        let mut history = Vec::with_capacity(decoded.len());
        for (fe, e) in &decoded {
            let tenant = fe.event.tenant_id;
            let id = customer_id(e);
            let Some(index_key) = index_keys.get(&tenant) else {
                continue;
            };
            let at = fe.event.metadata.occurred_at;
            match e {
                CustomerEvent::Registered(r) => {
                    let plain = self.open_all(tenant, id, &r.details).await?;
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
                    let plain = self.open_all(tenant, id, &c.details).await?;
                    let reason = match self
                        .keys
                        .open(&ctx(tenant, id, customer::REASON_FIELD), &c.reason)
                        .await?
                    {
                        Opened::Plain(s) => Some(s),
                        Opened::Erased => None,
                    };
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
            }
        }
        Ok(Writes { rows, history })
    }

    async fn open_all(
        &self,
        tenant: TenantId,
        id: CustomerId,
        details: &SealedDetails,
    ) -> anyhow::Result<Plain> {
        let mut plain = HashMap::new();
        for field in details.present_fields() {
            if let Some(sealed) = details.sealed(field) {
                let opened = self
                    .keys
                    .open(&ctx(tenant, id, field.as_str()), sealed)
                    .await?;
                plain.insert(field, opened.into_plain());
            }
        }
        Ok(plain)
    }
}

fn ctx(tenant: TenantId, id: CustomerId, field: &str) -> SealContext<'_> {
    SealContext {
        tenant,
        subject: id.as_uuid(),
        field,
    }
}

fn customer_id(e: &CustomerEvent) -> CustomerId {
    match e {
        CustomerEvent::Registered(r) => r.customer_id,
        CustomerEvent::Changed(c) => c.customer_id,
    }
}

/// What changed, for the history: each field with its masked new value (`null` when
/// cleared). Health notes show only that they changed.
fn changes(plain: &Plain, details: &SealedDetails, cleared: &[CustomerField]) -> serde_json::Value {
    let mut out = Vec::new();
    for field in details.present_fields() {
        let value = match field {
            CustomerField::SourceChannel => json!(details.source_channel.map(|c| c.as_str())),
            CustomerField::Tags => json!(details.tags),
            f => match plain.get(&f).cloned().flatten() {
                Some(text) => json!(row::masked(f, &text)),
                None => json!("[erased]"),
            },
        };
        out.push(json!({ "field": field.as_str(), "value": value }));
    }
    for f in cleared {
        out.push(json!({ "field": f.as_str(), "value": null }));
    }
    json!(out)
}

/// Blind index of a normalised value under the tenant's key.
pub(crate) fn index(key: &IndexKey, purpose: &str, value: &str) -> String {
    blind_index(key, purpose, value)
}
