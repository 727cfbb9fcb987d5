//! Erasure (PIPL Art. 47, DESIGN §6): the customer's data keys are destroyed and a
//! `CustomerErased` event is appended in one transaction. Every value ever sealed for
//! her, in every event, becomes unreadable; the events themselves stay (the log is
//! immutable and its hash chain still verifies), projections drop her rows, and her
//! phone may be registered again. The erasure is recorded in `keys.erasures` (so she
//! never gets a key again) and answered with the evidence for the operator. Her own
//! account (if she signed in herself) is switched off and its sessions revoked.

use super::{App, AppError, CommandContext};
use crate::domain::customer::CustomerError;
use events_schema::customer::{self as wire, CustomerErased, CustomerEvent};
use events_schema::envelope::DomainEvent;
use events_schema::ids::CustomerId;
use events_schema::store::{self, ExpectedVersion, StreamAppend};

/// What the operator keeps as proof.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErasureEvidence {
    pub customer_id: CustomerId,
    pub reference: String,
    pub erased_at: chrono::DateTime<chrono::Utc>,
    pub keys_destroyed: u32,
    /// Position of the `CustomerErased` event; also a consistency token.
    pub event_position: i64,
    pub consistency_token: String,
}

impl App {
    pub async fn erase_customer(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        reference: &str,
    ) -> Result<ErasureEvidence, AppError> {
        let stream_id = wire::stream_id(customer_id);
        let (tenant, subject) = (ctx.tenant.as_uuid(), customer_id.as_uuid());
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "SELECT version FROM es.streams WHERE stream_id = $1 AND tenant_id = $2 FOR UPDATE",
            )
            .await?;
        let version: i64 = tx
            .query_opt(&stmt, &[&stream_id, &tenant])
            .await?
            .map(|r| r.get(0))
            .ok_or(CustomerError::NotFound)?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO keys.erasures (tenant_id, subject_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING RETURNING erased_at",
            )
            .await?;
        let Some(row) = tx.query_opt(&stmt, &[&tenant, &subject]).await? else {
            return Err(AppError::Erased);
        };
        let erased_at: chrono::DateTime<chrono::Utc> = row.get(0);
        let stmt = tx
            .prepare_cached(
                "DELETE FROM keys.subject_keys WHERE tenant_id = $1 AND subject_id = $2",
            )
            .await?;
        let destroyed = tx.execute(&stmt, &[&tenant, &subject]).await?;
        let stmt = tx
            .prepare_cached(
                "DELETE FROM guard.customer_phones WHERE tenant_id = $1 AND customer_id = $2",
            )
            .await?;
        tx.execute(&stmt, &[&tenant, &subject]).await?;
        // Her own account signs in no more; its sessions end now.
        let stmt = tx
            .prepare_cached(
                "UPDATE iam.customer_accounts SET active = false
                 WHERE tenant_id = $1 AND customer_id = $2 RETURNING account_id",
            )
            .await?;
        for row in tx.query(&stmt, &[&tenant, &subject]).await? {
            super::sessions::revoke_account(
                &tx,
                events_schema::ids::AccountId::from_uuid(row.get(0)),
            )
            .await?;
        }
        let keys_destroyed = u32::try_from(destroyed).unwrap_or(u32::MAX);
        let event = CustomerEvent::Erased(CustomerErased {
            customer_id,
            reference: reference.to_owned(),
            keys_destroyed,
        })
        .to_new_event()
        .map_err(|e| AppError::Internal(e.into()))?;
        let appended = store::append_tx(
            &tx,
            &StreamAppend {
                tenant_id: ctx.tenant,
                stream_id: &stream_id,
                stream_type: wire::STREAM_TYPE,
                expected: ExpectedVersion::Exact(version),
                events: std::slice::from_ref(&event),
                metadata: &ctx.metadata(chrono::Utc::now()),
            },
        )
        .await?;
        tx.commit().await?;
        self.keys.forget_subject(ctx.tenant, subject);
        self.relay_wakeup.notify_one();
        Ok(ErasureEvidence {
            customer_id,
            reference: reference.to_owned(),
            erased_at,
            keys_destroyed,
            event_position: appended.last_position,
            consistency_token: appended.last_position.to_string(),
        })
    }
}
