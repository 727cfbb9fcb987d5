//! The stored event envelope: what every event carries besides its payload.
//!
//! Metadata is pseudonymous by construction: ids and a role, never a name or a login.

use crate::ids::{AccountId, CommandId, EventId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A role an account acts in. The permission matrix over these lives in
/// `command-service::auth::permissions` and `query-service::auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Manager,
    FrontDesk,
    Technician,
    Finance,
    Marketing,
    Auditor,
    Customer,
    /// Operator tooling (tenant creation from the CLI, migrations); never issued a token.
    System,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::FrontDesk => "front_desk",
            Role::Technician => "technician",
            Role::Finance => "finance",
            Role::Marketing => "marketing",
            Role::Auditor => "auditor",
            Role::Customer => "customer",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "owner" => Role::Owner,
            "manager" => Role::Manager,
            "front_desk" => Role::FrontDesk,
            "technician" => Role::Technician,
            "finance" => Role::Finance,
            "marketing" => Role::Marketing,
            "auditor" => Role::Auditor,
            "customer" => Role::Customer,
            "system" => Role::System,
            _ => return None,
        })
    }
}

/// Who issued a command: an account id and the role it acted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `None` only for the operator's CLI (role `system`).
    pub account_id: Option<AccountId>,
    pub role: Role,
}

impl Actor {
    pub const fn system() -> Actor {
        Actor {
            account_id: None,
            role: Role::System,
        }
    }
}

/// Metadata recorded with every event; the audit trail comes from here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub command_id: CommandId,
    pub correlation_id: Uuid,
    pub causation_id: Uuid,
    pub actor: Actor,
    pub tenant_id: TenantId,
    pub occurred_at: DateTime<Utc>,
}

/// An event about to be appended.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: &'static str,
    pub schema_version: i32,
    pub payload: serde_json::Value,
}

/// An event as stored in `es.events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub global_position: i64,
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub stream_id: String,
    pub stream_type: String,
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

/// An event at its place in the feed, the one total order every consumer uses.
/// This is the body of every NATS message the relay publishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedEvent {
    pub seq: i64,
    #[serde(flatten)]
    pub event: RecordedEvent,
}

/// Event types of one stream type, with stable names and schema versions.
pub trait DomainEvent: Sized {
    /// The stream type these events belong to (`customer`, `account`, …).
    const STREAM_TYPE: &'static str;

    /// Stable type name and schema version of this event.
    fn event_type(&self) -> &'static str;

    /// Serialises into an appendable event.
    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error>;

    /// Decodes a stored event, upcasting older schema versions.
    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &serde_json::Value,
    ) -> Result<Self, DecodeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("unsupported schema version {version} of {event_type}")]
    UnknownVersion { event_type: String, version: i32 },
    #[error("malformed payload of {event_type}: {source}")]
    Payload {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Helper for `DomainEvent::from_stored` implementations.
pub fn decode_payload<T: serde::de::DeserializeOwned>(
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<T, DecodeError> {
    T::deserialize(payload).map_err(|source| DecodeError::Payload {
        event_type: event_type.to_owned(),
        source,
    })
}

/// Helper for `DomainEvent::to_new_event` implementations.
pub fn new_event<T: Serialize>(
    event_type: &'static str,
    schema_version: i32,
    payload: &T,
) -> Result<NewEvent, serde_json::Error> {
    Ok(NewEvent {
        event_id: EventId::new(),
        event_type,
        schema_version,
        payload: serde_json::to_value(payload)?,
    })
}
