//! Customers sign in — and sign up — with their phone (issue 3, SEC-3): a one-time code
//! is sent to the phone through the notification mechanism ([`super::notify`]), and
//! whoever brings it back holds the phone.
//!
//! * `request_sign_in_code` always answers the same (202), whether or not the salon or
//!   the phone is known, so it tells nobody who is a customer. Requests are limited per
//!   phone and per client address. A new code replaces the phone's previous one.
//! * Only a keyed hash of the code is stored, with its expiry (10 minutes) and the wrong
//!   guesses made against it: the fifth wrong guess kills it.
//! * `sign_in_with_code` consumes the code and signs her in to her own account (role
//!   `customer`, created at her first sign-in: `AccountCreated` in `account-<id>`, her
//!   phone as login, sealed with her own key so that erasing her erases it). A phone no
//!   customer of the salon has yet is a sign-up: with her name and her acceptance of the
//!   privacy policy the customer record is registered first (source channel `online`,
//!   actor: her new account). Without them the answer says which fields are missing
//!   and the code stays valid for the retry.

use super::customers::RegisterCustomer;
use super::notify::Message;
use super::sessions::Session;
use super::throttle::RateLimit;
use super::{App, AppError, CommandContext};
use crate::app::error::FieldError;
use events_schema::customer::index::PHONE as PHONE_INDEX;
use events_schema::envelope::{Actor, DomainEvent, Role};
use events_schema::identity::{self, AccountCreated, AccountEvent, LOGIN_FIELD};
use events_schema::ids::{AccountId, CommandId, CustomerId, TenantId};
use events_schema::sealing::{blind_index, seal, SealContext};
use events_schema::store::{self, ExpectedVersion, StreamAppend};
use events_schema::values::Phone;
use std::net::IpAddr;
use std::time::Duration;

/// How long a code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Wrong guesses that kill a code.
pub const CODE_GUESSES: i32 = 5;
/// Codes one phone may be sent per hour.
pub const CODES_PER_PHONE: RateLimit = RateLimit {
    what: "sign-in codes for this phone",
    limit: 5,
    window: Duration::from_secs(3600),
};
/// Codes one client address may ask for per hour (a salon's tablet signs many in).
pub const CODES_PER_ADDRESS: RateLimit = RateLimit {
    what: "sign-in codes from this address",
    limit: 50,
    window: Duration::from_secs(3600),
};
/// Codes one client address may try per 15 minutes, across phones.
pub const GUESSES_PER_ADDRESS: RateLimit = RateLimit {
    what: "sign-in attempts from this address",
    limit: 100,
    window: Duration::from_secs(15 * 60),
};

impl App {
    pub(super) async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantId>, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached("SELECT tenant_id FROM iam.tenants WHERE slug = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&slug])
            .await?
            .map(|r| TenantId::from_uuid(r.get(0))))
    }

    fn code_hash(&self, tenant: TenantId, phone_hash: &str, code: &str) -> String {
        self.tokens.keyed_hash(
            "sign-in-code",
            format!("{tenant}\0{phone_hash}\0{code}").as_bytes(),
        )
    }

    /// Sends a one-time sign-in code to `phone` if the salon exists. Answers the same
    /// either way (the caller cannot learn whether the salon or the phone is known).
    pub async fn request_sign_in_code(
        &self,
        tenant_slug: &str,
        phone: &Phone,
        client: Option<IpAddr>,
    ) -> Result<(), AppError> {
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let phone_key = format!("{tenant_slug}\0{}", phone.as_e164());
        self.rate_limit(&[
            (CODES_PER_ADDRESS, address.as_str()),
            (CODES_PER_PHONE, phone_key.as_str()),
        ])
        .await?;
        let Some(tenant) = self.tenant_by_slug(tenant_slug).await? else {
            return Ok(());
        };
        let index_key = self.keys.index_key(tenant).await?;
        let phone_hash = blind_index(&index_key, PHONE_INDEX, phone.as_e164());
        let code = {
            use rand::Rng;
            format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
        };
        let text = format!(
            "Belle ({tenant_slug}): your sign-in code is {code}. It is valid for {} minutes; \
             nobody from the salon will ask you for it.",
            CODE_TTL.as_secs() / 60
        );
        let mut db = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = db.transaction().await?;
        let stmt = tx
            .prepare_cached("SELECT customer_id FROM guard.customer_phones WHERE tenant_id = $1 AND phone_hash = $2")
            .await?;
        let customer: Option<uuid::Uuid> = tx
            .query_opt(&stmt, &[&tenant.as_uuid(), &phone_hash])
            .await?
            .map(|r| r.get(0));
        let stmt = tx
            .prepare_cached(
                "INSERT INTO iam.sign_in_codes (tenant_id, phone_hash, code_hash, expires_at)
                 VALUES ($1, $2, $3, now() + $4::float8 * interval '1 second')
                 ON CONFLICT (tenant_id, phone_hash) DO UPDATE SET
                     code_hash = excluded.code_hash, expires_at = excluded.expires_at,
                     attempts = 0, used_at = NULL, created_at = now()",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &tenant.as_uuid(),
                &phone_hash,
                &self.code_hash(tenant, &phone_hash, &code),
                &CODE_TTL.as_secs_f64(),
            ],
        )
        .await?;
        self.enqueue_tx(
            &tx,
            &Message {
                tenant,
                kind: "sign_in_code",
                subject: customer,
                recipient: phone.as_e164(),
                text: &text,
                not_before: None,
                dedupe_key: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.wake_notifier();
        Ok(())
    }

    /// Consumes a sign-in code and opens a customer session; signs her up first when
    /// the phone is new to the salon and `registration` is given (its phone must be
    /// `phone`).
    pub async fn sign_in_with_code(
        &self,
        tenant_slug: &str,
        phone: &Phone,
        code: &str,
        registration: Option<RegisterCustomer>,
        client: Option<IpAddr>,
    ) -> Result<Session, AppError> {
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        self.rate_limit(&[(GUESSES_PER_ADDRESS, address.as_str())])
            .await?;
        let Some(tenant) = self.tenant_by_slug(tenant_slug).await? else {
            return Err(AppError::BadCode);
        };
        let index_key = self.keys.index_key(tenant).await?;
        let phone_hash = blind_index(&index_key, PHONE_INDEX, phone.as_e164());

        let customer = {
            let mut db = self.pool.get().await.map_err(AppError::from_pool)?;
            let tx = db.transaction().await?;
            let stmt = tx
                .prepare_cached(
                    "SELECT code_hash, expires_at > now() AND used_at IS NULL AND attempts < $3
                     FROM iam.sign_in_codes WHERE tenant_id = $1 AND phone_hash = $2
                     FOR UPDATE",
                )
                .await?;
            let Some(row) = tx
                .query_opt(&stmt, &[&tenant.as_uuid(), &phone_hash, &CODE_GUESSES])
                .await?
            else {
                return Err(AppError::BadCode);
            };
            let (stored, live): (String, bool) = (row.get(0), row.get(1));
            if !live {
                return Err(AppError::BadCode);
            }
            if !constant_time_eq(
                stored.as_bytes(),
                self.code_hash(tenant, &phone_hash, code.trim()).as_bytes(),
            ) {
                let stmt = tx
                    .prepare_cached(
                        "UPDATE iam.sign_in_codes SET attempts = attempts + 1
                         WHERE tenant_id = $1 AND phone_hash = $2",
                    )
                    .await?;
                tx.execute(&stmt, &[&tenant.as_uuid(), &phone_hash]).await?;
                tx.commit().await?;
                return Err(AppError::BadCode);
            }
            let stmt = tx
                .prepare_cached("SELECT customer_id FROM guard.customer_phones WHERE tenant_id = $1 AND phone_hash = $2")
                .await?;
            let customer: Option<CustomerId> = tx
                .query_opt(&stmt, &[&tenant.as_uuid(), &phone_hash])
                .await?
                .map(|r| CustomerId::from_uuid(r.get(0)));
            if customer.is_none() && registration.is_none() {
                // The code stays valid: she may send it again with her details.
                return Err(AppError::Validation(vec![
                    FieldError::new(
                        "name",
                        "is required to sign up: no customer of this salon has this phone yet",
                    ),
                    FieldError::new(
                        "consent",
                        "privacy-policy acceptance is required to sign up",
                    ),
                ]));
            }
            let stmt = tx
                .prepare_cached(
                    "UPDATE iam.sign_in_codes SET used_at = now() WHERE tenant_id = $1 AND phone_hash = $2",
                )
                .await?;
            tx.execute(&stmt, &[&tenant.as_uuid(), &phone_hash]).await?;
            tx.commit().await?;
            customer
        };

        let account = AccountId::new();
        let customer = match (customer, registration) {
            (Some(customer), _) => customer,
            (None, Some(registration)) => {
                if registration.details.phone.as_e164() != phone.as_e164() {
                    return Err(AppError::Validation(vec![FieldError::new(
                        "phone",
                        "must be the phone the code was sent to",
                    )]));
                }
                let ctx = CommandContext {
                    tenant,
                    actor: Actor {
                        account_id: Some(account),
                        role: Role::Customer,
                    },
                    command_id: CommandId::new(),
                    request_hash: String::new(),
                    correlation_id: uuid::Uuid::now_v7(),
                };
                let outcome = self.register_customer(&ctx, registration).await?;
                serde_json::from_value(outcome.body["customer_id"].clone())
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("registration outcome: {e}")))?
            }
            (None, None) => return Err(AppError::BadCode),
        };
        let account = self
            .customer_account(tenant, customer, account, phone)
            .await?;
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        self.issue_session(
            &client,
            tenant,
            (account, Role::Customer, Some(customer)),
            uuid::Uuid::new_v4(),
        )
        .await
    }

    /// Her own account: the existing one, or `new_id` created now. An account switched
    /// off (or a customer erased) signs in no more.
    async fn customer_account(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        new_id: AccountId,
        phone: &Phone,
    ) -> Result<AccountId, AppError> {
        const FIND: &str = "SELECT account_id, active FROM iam.customer_accounts
                            WHERE tenant_id = $1 AND customer_id = $2";
        let mut db = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = db.prepare_cached(FIND).await?;
        if let Some(row) = db
            .query_opt(&stmt, &[&tenant.as_uuid(), &customer.as_uuid()])
            .await?
        {
            let active: bool = row.get(1);
            return if active {
                Ok(AccountId::from_uuid(row.get(0)))
            } else {
                Err(AppError::BadCode)
            };
        }
        let (version, dek) = self
            .keys
            .create_subject_key(tenant, customer.as_uuid())
            .await
            .map_err(|e| match e {
                events_schema::keystore::KeyStoreError::SubjectErased => AppError::Erased,
                e => AppError::from(e),
            })?;
        let login = seal(
            &dek,
            version,
            &SealContext {
                tenant,
                subject: customer.as_uuid(),
                field: LOGIN_FIELD,
            },
            phone.as_e164(),
        );
        let event = AccountEvent::Created(AccountCreated {
            account_id: new_id,
            role: Role::Customer,
            login,
            customer_id: Some(customer),
        })
        .to_new_event()
        .map_err(|e| AppError::Internal(e.into()))?;
        let ctx = CommandContext {
            tenant,
            actor: Actor {
                account_id: Some(new_id),
                role: Role::Customer,
            },
            command_id: CommandId::new(),
            request_hash: String::new(),
            correlation_id: uuid::Uuid::now_v7(),
        };
        let tx = db.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO iam.customer_accounts (tenant_id, customer_id, account_id)
                 VALUES ($1, $2, $3) ON CONFLICT (tenant_id, customer_id) DO NOTHING",
            )
            .await?;
        let inserted = tx
            .execute(
                &stmt,
                &[&tenant.as_uuid(), &customer.as_uuid(), &new_id.as_uuid()],
            )
            .await?;
        if inserted == 0 {
            // A concurrent first sign-in created it.
            drop(tx);
            let stmt = db.prepare_cached(FIND).await?;
            let row = db
                .query_one(&stmt, &[&tenant.as_uuid(), &customer.as_uuid()])
                .await?;
            return Ok(AccountId::from_uuid(row.get(0)));
        }
        let stream = identity::account_stream_id(new_id);
        store::append_tx(
            &tx,
            &StreamAppend {
                tenant_id: tenant,
                stream_id: &stream,
                stream_type: identity::ACCOUNT_STREAM_TYPE,
                expected: ExpectedVersion::NoStream,
                events: std::slice::from_ref(&event),
                metadata: &ctx.metadata(chrono::Utc::now()),
            },
        )
        .await?;
        tx.commit().await?;
        self.relay_wakeup.notify_one();
        Ok(new_id)
    }
}

/// Compares two equal-length secrets without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
