//! Tenants, accounts and login.

use super::{App, AppError, CommandContext};
use crate::domain::identity::{LoginName, Password, TenantSlug};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use deadpool_postgres::GenericClient;
use events_schema::envelope::{Actor, DomainEvent, Role};
use events_schema::identity::{
    self, AccountCreated, AccountEvent, TenantCreated, TenantEvent, LOGIN_FIELD,
};
use events_schema::ids::{AccountId, CommandId, TenantId};
use events_schema::sealing::{blind_index, seal, SealContext};
use events_schema::store::{self, ExpectedVersion, StoreError, StreamAppend};

use super::accounts::LOGIN_INDEX;
use super::sessions::Session;

/// argon2id with the OWASP-recommended minimum: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Result<Argon2<'static>, AppError> {
    let params = Params::new(19_456, 2, 1, None)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string for an unknown login, so a miss costs as much as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpg";

pub struct NewTenant {
    pub slug: TenantSlug,
    pub name: String,
    pub owner_login: LoginName,
    pub owner_password: Password,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantCreatedOutcome {
    pub tenant_id: TenantId,
    pub owner_account_id: AccountId,
}

impl App {
    /// Hashes a password on a blocking thread, bounded by the hashing semaphore.
    pub(super) async fn hash_password(&self, password: &Password) -> Result<String, AppError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let pw = zeroize::Zeroizing::new(password.as_str().to_owned());
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()?
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing: {e}")))
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    }

    pub(super) async fn verify_password(
        &self,
        password: &str,
        phc: String,
    ) -> Result<bool, AppError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
        let pw = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || {
            let hash = PasswordHash::new(&phc)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored hash: {e}")))?;
            Ok(argon2()?.verify_password(pw.as_bytes(), &hash).is_ok())
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    }

    /// Creates a tenant with its first owner account (operator CLI).
    pub async fn create_tenant(&self, t: NewTenant) -> Result<TenantCreatedOutcome, AppError> {
        let tenant_id = TenantId::new();
        let account_id = AccountId::new();
        let ctx = CommandContext {
            tenant: tenant_id,
            actor: Actor::system(),
            command_id: CommandId::new(),
            request_hash: String::new(),
            correlation_id: uuid::Uuid::now_v7(),
        };
        let password_hash = self.hash_password(&t.owner_password).await?;
        let index_key = self.keys.index_key(tenant_id).await?;
        let login_hash = blind_index(&index_key, LOGIN_INDEX, t.owner_login.as_str());
        let new_key = self
            .keys
            .prepare_subject_key(tenant_id, account_id.as_uuid());
        let login = seal(
            &new_key.dek,
            new_key.version,
            &SealContext {
                tenant: tenant_id,
                subject: account_id.as_uuid(),
                field: LOGIN_FIELD,
            },
            t.owner_login.as_str(),
        );
        let internal = |e: serde_json::Error| AppError::Internal(e.into());
        let tenant_event = TenantEvent::Created(TenantCreated {
            tenant_id,
            slug: t.slug.as_str().to_owned(),
            name: t.name.clone(),
            currency: "CNY".into(),
            time_zone: "Asia/Shanghai".into(),
        })
        .to_new_event()
        .map_err(internal)?;
        let account_event = AccountEvent::Created(AccountCreated {
            account_id,
            role: Role::Owner,
            login,
            customer_id: None,
        })
        .to_new_event()
        .map_err(internal)?;
        let metadata = ctx.metadata(chrono::Utc::now());

        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let tenant_stream = identity::tenant_stream_id(tenant_id);
        store::append_tx(
            &tx,
            &StreamAppend {
                tenant_id,
                stream_id: &tenant_stream,
                stream_type: identity::TENANT_STREAM_TYPE,
                expected: ExpectedVersion::NoStream,
                events: std::slice::from_ref(&tenant_event),
                metadata: &metadata,
            },
        )
        .await?;
        let account_stream = identity::account_stream_id(account_id);
        store::append_tx(
            &tx,
            &StreamAppend {
                tenant_id,
                stream_id: &account_stream,
                stream_type: identity::ACCOUNT_STREAM_TYPE,
                expected: ExpectedVersion::NoStream,
                events: std::slice::from_ref(&account_event),
                metadata: &metadata,
            },
        )
        .await?;
        self.keys.insert_subject_key_tx(&tx, &new_key).await?;
        super::catalogue::create_defaults(&tx, tenant_id, &metadata).await?;
        exec(
            &tx,
            "INSERT INTO iam.tenants (tenant_id, slug) VALUES ($1, $2)",
            &[&tenant_id.as_uuid(), &t.slug.as_str()],
        )
        .await?;
        exec(
            &tx,
            "INSERT INTO iam.credentials (tenant_id, login_hash, account_id, password_hash, role) VALUES ($1, $2, $3, $4, $5)",
            &[
                &tenant_id.as_uuid(),
                &login_hash,
                &account_id.as_uuid(),
                &password_hash,
                &Role::Owner.as_str(),
            ],
        )
        .await?;
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(TenantCreatedOutcome {
            tenant_id,
            owner_account_id: account_id,
        })
    }

    /// Checks a login and issues an access token. Unknown tenants and logins cost the
    /// same as a wrong password and give the same answer. Every attempt counts against
    /// the account's and the client address's limits first (`throttle`).
    pub async fn login(
        &self,
        tenant_slug: &str,
        login: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Session, AppError> {
        let attempt = self.attempt_keys(tenant_slug, login, client);
        self.admit_login(&attempt).await?;
        let tenant = self.tenant_by_slug(tenant_slug).await?;
        let login = LoginName::parse(login).ok();
        let mut found = None;
        if let (Some(tenant), Some(login)) = (tenant, login) {
            if let Some(key) = self.keys.find_index_key(tenant).await? {
                let hash = blind_index(&key, LOGIN_INDEX, login.as_str());
                let client = self.pool.get().await.map_err(AppError::from_pool)?;
                let stmt = client
                    .prepare_cached(
                        "SELECT account_id, password_hash, role FROM iam.credentials
                         WHERE tenant_id = $1 AND login_hash = $2 AND active",
                    )
                    .await?;
                found = client
                    .query_opt(&stmt, &[&tenant.as_uuid(), &hash])
                    .await?
                    .map(|r| {
                        (
                            tenant,
                            AccountId::from_uuid(r.get(0)),
                            r.get::<_, String>(1),
                            r.get::<_, String>(2),
                        )
                    });
            }
        }
        let Some((tenant, account, phc, role)) = found else {
            let _ = self.verify_password(password, DUMMY_HASH.to_owned()).await;
            return Err(AppError::BadCredentials);
        };
        if !self.verify_password(password, phc).await? {
            return Err(AppError::BadCredentials);
        }
        self.login_succeeded(&attempt).await?;
        let role = Role::parse(&role)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown stored role")))?;
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        self.issue_session(&client, tenant, (account, role, None), uuid::Uuid::new_v4())
            .await
    }
}

async fn exec(
    tx: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, AppError> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, params)
        .await
        .map_err(|e| AppError::from(StoreError::from_db(e)))
}
