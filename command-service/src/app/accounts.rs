//! Staff accounts (SEC-1, STF-1 "administrators only, every change logged"): owners and
//! managers create accounts, change their roles and deactivate them; everyone changes
//! their own password. Each change appends to the account's stream (`account-<id>`,
//! reasons sealed with the account's key) and updates `iam.credentials` in the same
//! transaction; the credentials row is locked first, so concurrent changes of one account
//! are serialised and the "last active owner" rule cannot be raced.
//!
//! Deactivation and a password change also end the account's sessions (its refresh
//! tokens); access tokens already issued run out within their short lifetime.
//!
//! These commands are idempotent by nature (a login is unique per tenant; giving the
//! role an account already has, or deactivating an inactive account, changes nothing),
//! so they keep no command record.

use super::{App, AppError, CommandContext};
use crate::domain::identity::{is_staff, may_manage, LoginName, Password};
use deadpool_postgres::{GenericClient, Transaction};
use events_schema::envelope::{DomainEvent, Role};
use events_schema::identity::{
    self, AccountCreated, AccountDeactivated, AccountEvent, AccountRoleChanged, PasswordChanged,
    ACCOUNT_REASON_FIELD, LOGIN_FIELD,
};
use events_schema::ids::{AccountId, TenantId};
use events_schema::sealing::{blind_index, seal, SealContext};
use events_schema::store::{self, ExpectedVersion, StreamAppend};

/// Blind-index purpose of login names (shared with login).
pub(super) const LOGIN_INDEX: &str = "login";

/// Why an account command was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    /// 404 (also for another tenant's account).
    #[error("no such account")]
    NotFound,
    /// 409
    #[error("this salon already has an account with this login")]
    DuplicateLogin,
    /// 403: the caller's role may not manage accounts of that role.
    #[error("your role may not manage accounts with this role")]
    NotYours,
    /// 422
    #[error("{0}")]
    Rule(&'static str),
}

pub struct NewAccount {
    pub login: LoginName,
    pub password: Password,
    pub role: Role,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountSaved {
    pub account_id: AccountId,
    pub role: Role,
    pub active: bool,
}

/// The credentials row of an account, locked for this transaction.
struct Locked {
    role: Role,
    active: bool,
}

impl App {
    /// Creates a staff account with a login and a first password.
    pub async fn create_account(
        &self,
        ctx: &CommandContext,
        a: NewAccount,
    ) -> Result<AccountSaved, AppError> {
        if !is_staff(a.role) {
            return Err(AccountError::Rule("role must be a staff role").into());
        }
        let actor = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            current_role(&client, ctx).await?
        };
        if !may_manage(actor, a.role) {
            return Err(AccountError::NotYours.into());
        }
        let account_id = AccountId::new();
        let password_hash = self.hash_password(&a.password).await?;
        let index_key = self.keys.index_key(ctx.tenant).await?;
        let login_hash = blind_index(&index_key, LOGIN_INDEX, a.login.as_str());
        let new_key = self
            .keys
            .prepare_subject_key(ctx.tenant, account_id.as_uuid());
        let login = seal(
            &new_key.dek,
            new_key.version,
            &SealContext {
                tenant: ctx.tenant,
                subject: account_id.as_uuid(),
                field: LOGIN_FIELD,
            },
            a.login.as_str(),
        );
        let event = AccountEvent::Created(AccountCreated {
            account_id,
            role: a.role,
            login,
            customer_id: None,
        })
        .to_new_event()
        .map_err(|e| AppError::Internal(e.into()))?;
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let stream_id = identity::account_stream_id(account_id);
        store::append_tx(
            &tx,
            &StreamAppend {
                tenant_id: ctx.tenant,
                stream_id: &stream_id,
                stream_type: identity::ACCOUNT_STREAM_TYPE,
                expected: ExpectedVersion::NoStream,
                events: std::slice::from_ref(&event),
                metadata: &ctx.metadata(chrono::Utc::now()),
            },
        )
        .await?;
        self.keys.insert_subject_key_tx(&tx, &new_key).await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO iam.credentials (tenant_id, login_hash, account_id, password_hash, role)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .await?;
        let inserted = tx
            .execute(
                &stmt,
                &[
                    &ctx.tenant.as_uuid(),
                    &login_hash,
                    &account_id.as_uuid(),
                    &password_hash,
                    &a.role.as_str(),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(AccountError::DuplicateLogin.into());
        }
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(AccountSaved {
            account_id,
            role: a.role,
            active: true,
        })
    }

    /// Gives an account another staff role.
    pub async fn change_account_role(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        role: Role,
        reason: &str,
    ) -> Result<AccountSaved, AppError> {
        if !is_staff(role) {
            return Err(AccountError::Rule("role must be a staff role").into());
        }
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let current = lock(&tx, ctx.tenant, account_id).await?;
        let actor = current_role(&tx, ctx).await?;
        if !may_manage(actor, current.role) || !may_manage(actor, role) {
            return Err(AccountError::NotYours.into());
        }
        if ctx.actor.account_id == Some(account_id) {
            return Err(AccountError::Rule("you cannot change your own role").into());
        }
        if current.role == role {
            return Ok(AccountSaved {
                account_id,
                role,
                active: current.active,
            });
        }
        if current.role == Role::Owner && current.active {
            ensure_another_owner(&tx, ctx.tenant, account_id).await?;
        }
        let reason = self
            .seal_reason(&tx, ctx.tenant, account_id, reason)
            .await?;
        let event = AccountEvent::RoleChanged(AccountRoleChanged {
            account_id,
            role,
            previous: current.role,
            reason,
        });
        self.append_account(&tx, ctx, account_id, &event).await?;
        set_credentials(&tx, account_id, "role = $2", &role.as_str()).await?;
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(AccountSaved {
            account_id,
            role,
            active: current.active,
        })
    }

    /// Switches an account off: it can no longer log in.
    pub async fn deactivate_account(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        reason: &str,
    ) -> Result<AccountSaved, AppError> {
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let current = lock(&tx, ctx.tenant, account_id).await?;
        let actor = current_role(&tx, ctx).await?;
        if !may_manage(actor, current.role) {
            return Err(AccountError::NotYours.into());
        }
        if ctx.actor.account_id == Some(account_id) {
            return Err(AccountError::Rule("you cannot deactivate your own account").into());
        }
        if !current.active {
            return Ok(AccountSaved {
                account_id,
                role: current.role,
                active: false,
            });
        }
        if current.role == Role::Owner {
            ensure_another_owner(&tx, ctx.tenant, account_id).await?;
        }
        let reason = self
            .seal_reason(&tx, ctx.tenant, account_id, reason)
            .await?;
        let event = AccountEvent::Deactivated(AccountDeactivated { account_id, reason });
        self.append_account(&tx, ctx, account_id, &event).await?;
        set_credentials(&tx, account_id, "active = $2", &false).await?;
        super::sessions::revoke_account(&tx, account_id).await?;
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(AccountSaved {
            account_id,
            role: current.role,
            active: false,
        })
    }

    /// The caller sets a new password after proving the current one.
    pub async fn change_password(
        &self,
        ctx: &CommandContext,
        current_password: &str,
        new_password: &Password,
    ) -> Result<(), AppError> {
        let account_id = ctx.actor.account_id.ok_or(AccountError::NotFound)?;
        if current_password == new_password.as_str() {
            return Err(
                AccountError::Rule("the new password must differ from the current one").into(),
            );
        }
        let phc = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            let stmt = client
                .prepare_cached(
                    "SELECT password_hash FROM iam.credentials
                     WHERE tenant_id = $1 AND account_id = $2 AND active",
                )
                .await?;
            client
                .query_opt(&stmt, &[&ctx.tenant.as_uuid(), &account_id.as_uuid()])
                .await?
                .map(|r| r.get::<_, String>(0))
                .ok_or(AccountError::NotFound)?
        };
        if !self.verify_password(current_password, phc).await? {
            return Err(AppError::BadCredentials);
        }
        let hash = self.hash_password(new_password).await?;
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        lock(&tx, ctx.tenant, account_id).await?;
        let event = AccountEvent::PasswordChanged(PasswordChanged { account_id });
        self.append_account(&tx, ctx, account_id, &event).await?;
        set_credentials(&tx, account_id, "password_hash = $2", &hash).await?;
        // Whoever knew the old password may hold a session: end them all.
        super::sessions::revoke_account(&tx, account_id).await?;
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(())
    }

    /// Seals a reason with the account's key (the version its login was sealed with).
    async fn seal_reason(
        &self,
        tx: &Transaction<'_>,
        tenant: TenantId,
        account_id: AccountId,
        reason: &str,
    ) -> Result<events_schema::sealing::SealedValue, AppError> {
        let stream_id = identity::account_stream_id(account_id);
        let history = store::read_stream(tx, tenant, &stream_id).await?;
        let key_version = history
            .iter()
            .find_map(|e| {
                match AccountEvent::from_stored(&e.event_type, e.schema_version, &e.payload) {
                    Ok(AccountEvent::Created(c)) => Some(c.login.kv),
                    _ => None,
                }
            })
            .ok_or(AccountError::NotFound)?;
        let dek = self
            .keys
            .subject_key(tenant, account_id.as_uuid(), key_version)
            .await?
            .ok_or(AppError::Erased)?;
        Ok(seal(
            &dek,
            key_version,
            &SealContext {
                tenant,
                subject: account_id.as_uuid(),
                field: ACCOUNT_REASON_FIELD,
            },
            reason,
        ))
    }

    async fn append_account(
        &self,
        tx: &Transaction<'_>,
        ctx: &CommandContext,
        account_id: AccountId,
        event: &AccountEvent,
    ) -> Result<(), AppError> {
        let stream_id = identity::account_stream_id(account_id);
        let stmt = tx
            .prepare_cached(
                "SELECT version FROM es.streams WHERE stream_id = $1 AND tenant_id = $2",
            )
            .await?;
        let version: i64 = tx
            .query_opt(&stmt, &[&stream_id, &ctx.tenant.as_uuid()])
            .await?
            .map(|r| r.get(0))
            .ok_or(AccountError::NotFound)?;
        let event = event
            .to_new_event()
            .map_err(|e| AppError::Internal(e.into()))?;
        store::append_tx(
            tx,
            &StreamAppend {
                tenant_id: ctx.tenant,
                stream_id: &stream_id,
                stream_type: identity::ACCOUNT_STREAM_TYPE,
                expected: ExpectedVersion::Exact(version),
                events: std::slice::from_ref(&event),
                metadata: &ctx.metadata(chrono::Utc::now()),
            },
        )
        .await?;
        Ok(())
    }
}

/// Locks the tenant's row, then the account's credentials row (404 for another
/// tenant's account too). Account changes of one salon take turns, so two owners
/// demoting each other wait for each other instead of deadlocking.
async fn lock(
    tx: &Transaction<'_>,
    tenant: TenantId,
    account_id: AccountId,
) -> Result<Locked, AppError> {
    let stmt = tx
        .prepare_cached("SELECT 1 FROM iam.tenants WHERE tenant_id = $1 FOR UPDATE")
        .await?;
    tx.query_opt(&stmt, &[&tenant.as_uuid()]).await?;
    let stmt = tx
        .prepare_cached(
            "SELECT role, active FROM iam.credentials
             WHERE tenant_id = $1 AND account_id = $2 FOR UPDATE",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&tenant.as_uuid(), &account_id.as_uuid()])
        .await?
        .ok_or(AccountError::NotFound)?;
    let role = Role::parse(row.get(0))
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown stored role")))?;
    Ok(Locked {
        role,
        active: row.get(1),
    })
}

/// The caller's role as the credentials have it now, not as the token (issued up to its
/// lifetime ago) says: a demoted or deactivated administrator manages no account.
async fn current_role(client: &impl GenericClient, ctx: &CommandContext) -> Result<Role, AppError> {
    let Some(account) = ctx.actor.account_id else {
        return Err(AccountError::NotYours.into());
    };
    let stmt = client
        .prepare_cached(
            "SELECT role FROM iam.credentials WHERE tenant_id = $1 AND account_id = $2 AND active",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&ctx.tenant.as_uuid(), &account.as_uuid()])
        .await?
        .ok_or(AccountError::NotYours)?;
    Role::parse(row.get(0))
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown stored role")))
}

/// The salon must keep an active owner (under the tenant lock taken by [`lock`]).
async fn ensure_another_owner(
    tx: &Transaction<'_>,
    tenant: TenantId,
    account_id: AccountId,
) -> Result<(), AppError> {
    let stmt = tx
        .prepare_cached(
            "SELECT account_id FROM iam.credentials
             WHERE tenant_id = $1 AND role = 'owner' AND active AND account_id <> $2",
        )
        .await?;
    let others = tx
        .query(&stmt, &[&tenant.as_uuid(), &account_id.as_uuid()])
        .await?;
    if others.is_empty() {
        return Err(AccountError::Rule("the salon must keep at least one active owner").into());
    }
    Ok(())
}

async fn set_credentials(
    tx: &impl GenericClient,
    account_id: AccountId,
    assignment: &'static str,
    value: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<(), AppError> {
    let sql = format!("UPDATE iam.credentials SET {assignment} WHERE account_id = $1");
    let stmt = tx.prepare_cached(&sql).await?;
    tx.execute(&stmt, &[&account_id.as_uuid(), value]).await?;
    Ok(())
}
