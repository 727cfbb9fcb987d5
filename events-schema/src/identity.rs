//! Events of the identity streams: `tenant-<uuid>` (a business using Belle) and
//! `account-<uuid>` (a login). Login names are sealed with the account's own key;
//! password hashes never enter the log (they live in the command side's credential
//! table, written in the same transaction as the account's events).

use crate::envelope::{
    decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload, Role,
};
use crate::ids::{AccountId, CustomerId, TenantId};
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
    /// Sealed with the account's own key — or, for a customer's account, with hers
    /// (subject = `customer_id`), so that erasing her erases her login too.
    pub login: SealedValue,
    /// A customer's own account: whose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
}

/// Sealing label of the reason given for an account change.
pub const ACCOUNT_REASON_FIELD: &str = "reason";

/// An administrator gave the account another role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRoleChanged {
    pub account_id: AccountId,
    pub role: Role,
    pub previous: Role,
    /// Why (free text, sealed with the account's key).
    pub reason: SealedValue,
}

/// An administrator switched the account off: it can no longer log in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDeactivated {
    pub account_id: AccountId,
    pub reason: SealedValue,
}

/// The account's holder set a new password (the hash never enters the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChanged {
    pub account_id: AccountId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountEvent {
    Created(AccountCreated),
    RoleChanged(AccountRoleChanged),
    Deactivated(AccountDeactivated),
    PasswordChanged(PasswordChanged),
}

impl DomainEvent for AccountEvent {
    const STREAM_TYPE: &'static str = ACCOUNT_STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Created(_) => "AccountCreated",
            AccountEvent::RoleChanged(_) => "AccountRoleChanged",
            AccountEvent::Deactivated(_) => "AccountDeactivated",
            AccountEvent::PasswordChanged(_) => "PasswordChanged",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        let t = self.event_type();
        match self {
            AccountEvent::Created(e) => new_event(t, 1, e),
            AccountEvent::RoleChanged(e) => new_event(t, 1, e),
            AccountEvent::Deactivated(e) => new_event(t, 1, e),
            AccountEvent::PasswordChanged(e) => new_event(t, 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        let known = [
            "AccountCreated",
            "AccountRoleChanged",
            "AccountDeactivated",
            "PasswordChanged",
        ];
        if !known.contains(&event_type) {
            return Err(DecodeError::UnknownType(event_type.to_owned()));
        }
        if schema_version != 1 {
            return Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: schema_version,
            });
        }
        Ok(match event_type {
            "AccountCreated" => AccountEvent::Created(decode_payload(event_type, payload)?),
            "AccountRoleChanged" => AccountEvent::RoleChanged(decode_payload(event_type, payload)?),
            "AccountDeactivated" => AccountEvent::Deactivated(decode_payload(event_type, payload)?),
            _ => AccountEvent::PasswordChanged(decode_payload(event_type, payload)?),
        })
    }
}
