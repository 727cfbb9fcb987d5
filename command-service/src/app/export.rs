//! Data-subject access (PIPL Art. 45): everything Belle holds about one customer, in
//! clear, as JSON: her record and consent as they are now, every change with who, when
//! and why, and every disclosure of her data. Built from her own streams only, so it
//! holds nothing about anyone else (staff appear as account ids). The export is itself
//! logged as a disclosure before it is returned.

use super::sealing::SubjectKey;
use super::{App, AppError, CommandContext};
use crate::domain::customer::{CustomerEvent, CustomerState, FieldValue, Reason};
use events_schema::customer::{self as wire, Consent, REASON_FIELD};
use events_schema::disclosure::{self, DisclosureEvent};
use events_schema::envelope::{Actor, DomainEvent};
use events_schema::ids::CustomerId;
use events_schema::store;
use serde_json::{Map, Value};

/// Exports one salon may make per hour: each opens every event of a customer, and a
/// run of them is how a stolen manager's token would empty the customer base.
pub const EXPORTS_PER_TENANT: super::throttle::RateLimit = super::throttle::RateLimit {
    what: "exports for this salon this hour",
    limit: 60,
    window: std::time::Duration::from_secs(3600),
};

#[derive(Debug, serde::Serialize)]
pub struct Export {
    pub customer_id: CustomerId,
    pub exported_at: chrono::DateTime<chrono::Utc>,
    /// Her record as it is now, every field in clear.
    pub record: Map<String, Value>,
    pub consent: Consent,
    pub history: Vec<ExportedChange>,
    pub disclosures: Vec<ExportedDisclosure>,
}

#[derive(Debug, serde::Serialize)]
pub struct ExportedChange {
    pub version: i64,
    pub event_type: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor: Actor,
    /// Fields set, in clear.
    pub set: Map<String, Value>,
    pub cleared: Vec<String>,
    pub reason: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct ExportedDisclosure {
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor: Actor,
    pub what: String,
    pub reason: String,
}

fn value_of(v: &FieldValue) -> Value {
    match v {
        FieldValue::Tags(tags) => Value::Array(
            tags.iter()
                .map(|t| Value::String(t.as_str().to_owned()))
                .collect(),
        ),
        FieldValue::SourceChannel(c) => Value::String(c.as_str().to_owned()),
        other => other.sealable_text().map_or(Value::Null, Value::String),
    }
}

fn fields(values: &[FieldValue]) -> Map<String, Value> {
    values
        .iter()
        .map(|v| (v.field().as_str().to_owned(), value_of(v)))
        .collect()
}

impl App {
    pub async fn export_customer(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        reason: &Reason,
    ) -> Result<Export, AppError> {
        self.rate_limit(&[(EXPORTS_PER_TENANT, ctx.tenant.to_string().as_str())])
            .await?;
        let loaded = self.load_customer(ctx.tenant, customer_id).await?;
        let CustomerState::Active {
            details, consent, ..
        } = &loaded.state
        else {
            return Err(crate::domain::customer::CustomerError::NotFound.into());
        };
        let key = SubjectKey {
            tenant: ctx.tenant,
            customer: customer_id,
            version: loaded.key_version,
            dek: &loaded.dek,
        };
        let today = chrono::Utc::now().date_naive();
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let mut history = Vec::new();
        for e in store::read_stream(&client, ctx.tenant, &wire::stream_id(customer_id)).await? {
            let stored =
                wire::CustomerEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Internal(err.into()))?;
            let (set, cleared, reason) = match key.open_event(&stored, today)? {
                CustomerEvent::Registered { details, .. } => {
                    (fields(&details.values()), vec![], None)
                }
                CustomerEvent::Changed {
                    set,
                    cleared,
                    reason,
                    ..
                } => (
                    fields(&set),
                    cleared.iter().map(|f| f.as_str().to_owned()).collect(),
                    Some(reason.as_str().to_owned()),
                ),
                CustomerEvent::MarketingConsentChanged { marketing, .. } => (
                    Map::from_iter([("marketing_consent".to_owned(), Value::Bool(marketing))]),
                    vec![],
                    None,
                ),
                CustomerEvent::PatchTestRecorded {
                    service_id,
                    done_on,
                    result,
                    ..
                } => (
                    Map::from_iter([(
                        "patch_test".to_owned(),
                        serde_json::json!({ "service_id": service_id, "done_on": done_on,
                                            "result": result.as_str() }),
                    )]),
                    vec![],
                    None,
                ),
            };
            history.push(ExportedChange {
                version: e.stream_version,
                event_type: e.event_type.clone(),
                occurred_at: e.metadata.occurred_at,
                actor: e.metadata.actor,
                set,
                cleared,
                reason,
            });
        }
        let mut disclosures = Vec::new();
        for e in
            store::read_stream(&client, ctx.tenant, &disclosure::stream_id(customer_id)).await?
        {
            let (what, sealed) =
                match DisclosureEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Internal(err.into()))?
                {
                    DisclosureEvent::Revealed(r) => (r.field.as_str().to_owned(), r.reason),
                    DisclosureEvent::Exported(x) => ("export".to_owned(), x.reason),
                };
            let reason = key.open_text(REASON_FIELD, &sealed)?;
            disclosures.push(ExportedDisclosure {
                occurred_at: e.metadata.occurred_at,
                actor: e.metadata.actor,
                what,
                reason,
            });
        }
        drop(client);
        // Logged before it is handed out, like any unmasking.
        self.log_disclosure(
            ctx,
            customer_id,
            DisclosureEvent::Exported(events_schema::disclosure::CustomerExported {
                customer_id,
                reason: key.seal_text(REASON_FIELD, reason.as_str()),
            }),
        )
        .await?;
        Ok(Export {
            customer_id,
            exported_at: chrono::Utc::now(),
            record: fields(&details.values()),
            consent: consent.clone(),
            history,
            disclosures,
        })
    }
}
