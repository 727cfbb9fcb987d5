//! Unmasking (CUS-7, SEC-4): a member of staff asks for one sealed field of a customer,
//! with a reason. The disclosure is appended to the customer's disclosure stream and
//! committed *before* the value is returned, so no value is ever shown unlogged; the
//! auditors' disclosure log is built from those events.

use super::sealing::SubjectKey;
use super::{App, AppError, CommandContext};
use crate::domain::customer::{CustomerState, Reason};
use events_schema::customer::{CustomerField, REASON_FIELD};
use events_schema::disclosure::{self, CustomerFieldRevealed, DisclosureEvent};
use events_schema::envelope::DomainEvent;
use events_schema::ids::CustomerId;
use events_schema::permissions::reveals;
use events_schema::store::{self, ExpectedVersion, StoreError, StreamAppend};

/// Why a reveal was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RevealError {
    /// 403
    #[error("your role may not unmask this field")]
    NotForYourRole,
    /// 404
    #[error("no value is recorded for this field")]
    NoValue,
}

impl App {
    /// Appends a disclosure to the customer's disclosure stream and commits it.
    pub(super) async fn log_disclosure(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        event: DisclosureEvent,
    ) -> Result<(), AppError> {
        let event = event
            .to_new_event()
            .map_err(|e| AppError::Internal(e.into()))?;
        let stream_id = disclosure::stream_id(customer_id);
        let metadata = ctx.metadata(chrono::Utc::now());
        for attempt in 1.. {
            let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
            let tx = client.transaction().await?;
            let stmt = tx
                .prepare_cached("SELECT version FROM es.streams WHERE stream_id = $1")
                .await?;
            let expected = match tx.query_opt(&stmt, &[&stream_id]).await? {
                Some(row) => ExpectedVersion::Exact(row.get(0)),
                None => ExpectedVersion::NoStream,
            };
            let appended = store::append_tx(
                &tx,
                &StreamAppend {
                    tenant_id: ctx.tenant,
                    stream_id: &stream_id,
                    stream_type: disclosure::STREAM_TYPE,
                    expected,
                    events: std::slice::from_ref(&event),
                    metadata: &metadata,
                },
            )
            .await;
            match appended {
                Ok(_) => {
                    tx.commit().await?;
                    break;
                }
                // Two disclosures of one customer at once: log again behind the other.
                Err(StoreError::Conflict { .. }) if attempt < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.relay_wakeup.notify_one();
        Ok(())
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Revealed {
    pub customer_id: CustomerId,
    pub field: CustomerField,
    pub value: String,
}

impl App {
    pub async fn reveal(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        field: CustomerField,
        reason: &Reason,
    ) -> Result<Revealed, AppError> {
        if !reveals(ctx.actor.role).contains(&field) {
            return Err(RevealError::NotForYourRole.into());
        }
        let loaded = self.load_customer(ctx.tenant, customer_id).await?;
        let value = match &loaded.state {
            CustomerState::Active { details, .. } => details
                .values()
                .into_iter()
                .find(|v| v.field() == field)
                .and_then(|v| v.sealable_text()),
            CustomerState::New => None,
        }
        .ok_or(RevealError::NoValue)?;
        let key = SubjectKey {
            tenant: ctx.tenant,
            customer: customer_id,
            version: loaded.key_version,
            dek: &loaded.dek,
        };
        self.log_disclosure(
            ctx,
            customer_id,
            DisclosureEvent::Revealed(CustomerFieldRevealed {
                customer_id,
                field,
                reason: key.seal_text(REASON_FIELD, reason.as_str()),
            }),
        )
        .await?;
        Ok(Revealed {
            customer_id,
            field,
            value,
        })
    }
}
