//! Application errors; `http::error` maps each to a status.

use crate::domain::customer::CustomerError;
use events_schema::store::StoreError;

/// A field-level validation failure. The message never repeats the rejected value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: one entry per bad field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 422 / 409 / 404 depending on the rule.
    #[error(transparent)]
    Customer(#[from] CustomerError),
    /// 404 / 409 / 403 / 422 depending on the rule.
    #[error(transparent)]
    Account(#[from] super::accounts::AccountError),
    /// 404 / 422
    #[error(transparent)]
    Category(#[from] super::catalogue::CategoryError),
    /// 404 / 422
    #[error(transparent)]
    Location(#[from] super::locations::LocationError),
    /// 403 / 404
    #[error(transparent)]
    Reveal(#[from] super::disclosures::RevealError),
    /// 404: the named thing (`staff member`, `shift template`…) does not exist here.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// 422: a business rule refuses the command; the message says which, and never
    /// holds personal data.
    #[error("{0}")]
    Rule(String),
    /// 409: the command would clash with what is there (an overlapping shift…); the
    /// message names the clash, never personal data.
    #[error("{0}")]
    Clash(String),
    /// 409: the time asked for cannot be booked (taken, closed, off shift, full); the
    /// answer offers alternatives.
    #[error("{why}")]
    Unavailable409 {
        why: String,
        alternatives: serde_json::Value,
    },
    /// 409: another writer changed the stream first (after bounded retries).
    #[error("the record was changed concurrently; reload and retry")]
    Conflict,
    /// 409: the phone number belongs to another customer of this tenant.
    #[error("another customer of this salon already has this phone number")]
    DuplicatePhone,
    /// 409
    #[error("a tenant with this slug already exists")]
    DuplicateTenant,
    /// 422: the same `Idempotency-Key` was sent with a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// Internal signal: a concurrent request recorded this command first.
    #[error("command already recorded")]
    Idempotent,
    /// 401
    #[error("login failed")]
    BadCredentials,
    /// 429: too many login attempts for this account or from this address.
    #[error("too many login attempts")]
    TooManyAttempts { retry_after: u64 },
    /// 429: a rate limit other than login's; `what` says which ("sign-in codes for
    /// this phone", "exports for this salon"…), never whose.
    #[error("too many {what}")]
    RateLimited {
        what: &'static str,
        retry_after: u64,
    },
    /// 401: a sign-in code that is wrong, expired, used or guessed at too often.
    #[error("the code is wrong or no longer valid")]
    BadCode,
    /// 410: the subject's personal data was erased.
    #[error("this record was erased")]
    Erased,
    /// 503: the database is unreachable.
    #[error("a dependency is unavailable")]
    Unavailable,
    /// 500: no internals reach the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn from_pool(e: deadpool_postgres::PoolError) -> AppError {
        tracing::warn!(error = %e, "database pool unavailable");
        AppError::Unavailable
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => AppError::Conflict,
            StoreError::Constraint { constraint } if constraint == "customer_phones_pkey" => {
                AppError::DuplicatePhone
            }
            StoreError::Constraint { constraint } if constraint == "staff_accounts_pkey" => {
                AppError::Clash("this account already belongs to another staff member".into())
            }
            StoreError::Constraint { constraint } if constraint == "reservations_no_overlap" => {
                // Another booking holds the resource: decided again, as for a conflict.
                AppError::Conflict
            }
            StoreError::Constraint { constraint }
                if constraint == "offers_one_holder_per_slot"
                    || constraint == "offers_one_per_entry" =>
            {
                // Someone holds the slot's offer (or hers) already: decided again.
                AppError::Conflict
            }
            StoreError::Constraint { constraint } if constraint == "erasures_pkey" => {
                AppError::Erased
            }
            StoreError::Constraint { constraint } if constraint == "outbox_dedupe" => {
                AppError::Clash("this message is already queued".into())
            }
            StoreError::Constraint { constraint } if constraint == "tenants_slug_key" => {
                AppError::DuplicateTenant
            }
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::Unavailable
            }
            e => AppError::Internal(e.into()),
        }
    }
}

impl From<tokio_postgres::Error> for AppError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::from_db(e).into()
    }
}

impl From<events_schema::keystore::KeyStoreError> for AppError {
    fn from(e: events_schema::keystore::KeyStoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "key store unavailable");
            return AppError::Unavailable;
        }
        AppError::Internal(e.into())
    }
}
