//! Events of the identity streams: `tenant-<uuid>` (a business using Belle) and
//! `account-<uuid>` (a login). Login names are sealed with the account's own key;
//! password hashes never enter the log (they live in the command side's credential
//! table, written in the same transaction as the account's events).

use crate::envelope::{
    decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload, Role,
};
use crate::ids::{AccountId, TenantId};
use crate::sealing::SealedValue;
use serde::{Deserialize, Serialize};

pub const TENANT_STREAM_TYPE: &str = "tenant";
pub const ACCOUNT_STREAM_TYPE: &str = "account";

pub fn tenant_stream_id(id: TenantId) -> String {
    format!("tenant-{id}")
}

pub fn account_stream_id(id: AccountId) -> String {
    format!("account-{id}")
}

/// Sealing label of an account's login name.
pub const LOGIN_FIELD: &str = "login";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCreated {
    pub tenant_id: TenantId,
    /// URL-safe short name used at login (`demo-salon`); a business name, not personal data.
    pub slug: String,
    pub name: String,
    /// ISO 4217 currency of the tenant's prices and ledgers.
    pub currency: String,
    /// Default IANA time zone for new locations.
    pub time_zone: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantEvent {
    Created(TenantCreated),
}

impl DomainEvent for TenantEvent {
    const STREAM_TYPE: &'static str = TENANT_STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            TenantEvent::Created(_) => "TenantCreated",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            TenantEvent::Created(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("TenantCreated", 1) => decode_payload(event_type, payload).map(TenantEvent::Created),
            ("TenantCreated", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCreated {
    pub account_id: AccountId,
    pub role: Role,
    pub login: SealedValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountEvent {
    Created(AccountCreated),
}

impl DomainEvent for AccountEvent {
    const STREAM_TYPE: &'static str = ACCOUNT_STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Created(_) => "AccountCreated",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            AccountEvent::Created(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("AccountCreated", 1) => decode_payload(event_type, payload).map(AccountEvent::Created),
            ("AccountCreated", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}
