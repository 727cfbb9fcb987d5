//! Sessions (SEC-3): short-lived access tokens and rotating refresh tokens.
//!
//! A login starts a *family*: one refresh token, stored only as its SHA-256. Refreshing
//! spends the presented token and issues the next one of the family, with an access
//! token carrying the account's role as the credentials have it *now* (a re-roled or
//! deactivated account does not get its old powers back). A spent token presented
//! again was copied (RFC 9700 §4.14.2): the whole family is revoked, so the thief and
//! the victim both have to log in again. Logout, deactivation and a password change
//! revoke families too.

use super::{App, AppError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deadpool_postgres::GenericClient;
use events_schema::envelope::Role;
use events_schema::ids::{AccountId, CustomerId, TenantId};
use events_schema::token::{Claims, API_AUDIENCE};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a refresh token may wait before it is used.
pub const REFRESH_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// What a login or a refresh hands out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Session {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// Spend it at `POST /auth/refresh` for the next pair; it works once.
    pub refresh_token: String,
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub role: Role,
    /// A customer's own record (customer sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
}

fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The presented token with its account as it is now: a staff account's credentials or
/// a customer's own account (role `customer`, her record).
const SPEND: &str = "\
SELECT r.family_id, r.tenant_id, r.account_id, r.spent_at IS NOT NULL,
       r.revoked_at IS NOT NULL OR r.expires_at <= now(),
       coalesce(c.role, CASE WHEN ca.account_id IS NOT NULL THEN 'customer' END),
       coalesce(c.active, ca.active), ca.customer_id
FROM iam.refresh_tokens r
LEFT JOIN iam.credentials c ON c.account_id = r.account_id AND c.tenant_id = r.tenant_id
LEFT JOIN iam.customer_accounts ca ON ca.account_id = r.account_id AND ca.tenant_id = r.tenant_id
WHERE r.token_hash = $1
FOR UPDATE OF r";

impl App {
    /// Issues an access token and a refresh token of `family` (a new family at login).
    /// `customer`: the record of a customer's own account.
    pub(super) async fn issue_session(
        &self,
        client: &impl GenericClient,
        tenant: TenantId,
        (account, role, customer): (AccountId, Role, Option<CustomerId>),
        family: uuid::Uuid,
    ) -> Result<Session, AppError> {
        let refresh_token = new_refresh_token();
        let stmt = client
            .prepare_cached(
                "INSERT INTO iam.refresh_tokens (token_hash, family_id, tenant_id, account_id, expires_at)
                 VALUES ($1, $2, $3, $4, now() + $5::float8 * interval '1 second')",
            )
            .await?;
        client
            .execute(
                &stmt,
                &[
                    &token_hash(&refresh_token),
                    &family,
                    &tenant.as_uuid(),
                    &account.as_uuid(),
                    &REFRESH_TTL.as_secs_f64(),
                ],
            )
            .await?;
        let now = chrono::Utc::now().timestamp();
        let ttl = self.token_ttl.as_secs();
        let claims = Claims {
            sub: account,
            tenant,
            role,
            aud: API_AUDIENCE.into(),
            iat: now,
            exp: now + i64::try_from(ttl).unwrap_or(900),
            jti: uuid::Uuid::new_v4(),
            customer,
        };
        Ok(Session {
            access_token: self.tokens.issue(&claims),
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token,
            tenant_id: tenant,
            account_id: account,
            role,
            customer_id: customer,
        })
    }

    /// Spends a refresh token for the next pair. A spent, revoked, expired or unknown
    /// token gets 401; a spent one also revokes its family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AppError> {
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let stmt = tx.prepare_cached(SPEND).await?;
        let Some(row) = tx.query_opt(&stmt, &[&token_hash(refresh_token)]).await? else {
            return Err(AppError::BadCredentials);
        };
        let family: uuid::Uuid = row.get(0);
        let (spent, dead): (bool, bool) = (row.get(3), row.get(4));
        let role: Option<String> = row.get(5);
        let active: Option<bool> = row.get(6);
        if spent {
            tracing::warn!(%family, "a spent refresh token was presented again; revoking its family");
            revoke_family(&tx, family).await?;
            tx.commit().await?;
            return Err(AppError::BadCredentials);
        }
        let role = role.as_deref().and_then(Role::parse);
        let (false, Some(true), Some(role)) = (dead, active, role) else {
            return Err(AppError::BadCredentials);
        };
        let stmt = tx
            .prepare_cached("UPDATE iam.refresh_tokens SET spent_at = now() WHERE token_hash = $1")
            .await?;
        tx.execute(&stmt, &[&token_hash(refresh_token)]).await?;
        let session = self
            .issue_session(
                &tx,
                TenantId::from_uuid(row.get(1)),
                (
                    AccountId::from_uuid(row.get(2)),
                    role,
                    row.get::<_, Option<uuid::Uuid>>(7)
                        .map(CustomerId::from_uuid),
                ),
                family,
            )
            .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Ends the session the refresh token belongs to (idempotent; unknown tokens too).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "UPDATE iam.refresh_tokens SET revoked_at = now()
                 WHERE family_id = (SELECT family_id FROM iam.refresh_tokens WHERE token_hash = $1)
                   AND revoked_at IS NULL",
            )
            .await?;
        client.execute(&stmt, &[&token_hash(refresh_token)]).await?;
        Ok(())
    }
}

async fn revoke_family(client: &impl GenericClient, family: uuid::Uuid) -> Result<(), AppError> {
    let stmt = client
        .prepare_cached(
            "UPDATE iam.refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .await?;
    client.execute(&stmt, &[&family]).await?;
    Ok(())
}

/// Revokes every session of an account (deactivation, password change).
pub(super) async fn revoke_account(
    client: &impl GenericClient,
    account: AccountId,
) -> Result<(), AppError> {
    let stmt = client
        .prepare_cached(
            "UPDATE iam.refresh_tokens SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL",
        )
        .await?;
    client.execute(&stmt, &[&account.as_uuid()]).await?;
    Ok(())
}
