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

impl Metadata {
    /// Metadata of an event the system records on its own (no caller's command), caused
    /// by and correlated with `cause` (what it reacts to); a fresh command id, now.
    pub fn system(tenant_id: TenantId, cause: Uuid) -> Metadata {
        Metadata {
            command_id: CommandId::new(),
            correlation_id: cause,
            causation_id: cause,
            actor: Actor::system(),
            tenant_id,
            occurred_at: Utc::now(),
        }
    }
}

/// An event about to be appended.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: &'static str,
    pub schema_version: i32,
    /// The payload as JSON text, serialised once from the event's struct (no JSON tree
    /// is built on the way to the store).
    pub payload: Box<serde_json::value::RawValue>,
}

/// A stored event's payload, kept as the JSON text read from the store: decoded only by
/// the consumer that knows its type ([`DomainEvent::from_stored`]), and written into a
/// NATS message as it is, so relaying an event never builds a JSON tree.
#[derive(Clone, Debug)]
pub struct Payload(Box<serde_json::value::RawValue>);

impl Payload {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// Parses the payload into a JSON tree (for generic handling such as masking).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// A payload from JSON text already checked (as read from the store).
    pub fn from_raw(raw: Box<serde_json::value::RawValue>) -> Payload {
        Payload(raw)
    }

    /// A payload from a JSON tree.
    pub fn from_value(value: &serde_json::Value) -> Payload {
        // A Value always serialises to valid JSON text.
        Payload(
            serde_json::value::to_raw_value(value)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
        )
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(d).map(Payload)
    }
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
    pub payload: Payload,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

/// An event at its place in the feed, the one total order every consumer uses.
/// This is the body of every NATS message the relay publishes: one flat JSON object,
/// `seq` beside the event's fields (written out by hand below rather than with
/// `#[serde(flatten)]`, which cannot carry a raw payload).
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEvent {
    pub seq: i64,
    pub event: RecordedEvent,
}

#[derive(Serialize)]
struct FeedWireRef<'a> {
    seq: i64,
    global_position: i64,
    event_id: EventId,
    tenant_id: TenantId,
    stream_id: &'a str,
    stream_type: &'a str,
    stream_version: i64,
    event_type: &'a str,
    schema_version: i32,
    payload: &'a Payload,
    metadata: &'a Metadata,
    recorded_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct FeedWire {
    seq: i64,
    global_position: i64,
    event_id: EventId,
    tenant_id: TenantId,
    stream_id: String,
    stream_type: String,
    stream_version: i64,
    event_type: String,
    schema_version: i32,
    payload: Payload,
    metadata: Metadata,
    recorded_at: DateTime<Utc>,
}

impl Serialize for FeedEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = &self.event;
        FeedWireRef {
            seq: self.seq,
            global_position: e.global_position,
            event_id: e.event_id,
            tenant_id: e.tenant_id,
            stream_id: &e.stream_id,
            stream_type: &e.stream_type,
            stream_version: e.stream_version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            payload: &e.payload,
            metadata: &e.metadata,
            recorded_at: e.recorded_at,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for FeedEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = FeedWire::deserialize(d)?;
        Ok(FeedEvent {
            seq: w.seq,
            event: RecordedEvent {
                global_position: w.global_position,
                event_id: w.event_id,
                tenant_id: w.tenant_id,
                stream_id: w.stream_id,
                stream_type: w.stream_type,
                stream_version: w.stream_version,
                event_type: w.event_type,
                schema_version: w.schema_version,
                payload: w.payload,
                metadata: w.metadata,
                recorded_at: w.recorded_at,
            },
        })
    }
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
        payload: &Payload,
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
    payload: &Payload,
) -> Result<T, DecodeError> {
    serde_json::from_str(payload.get()).map_err(|source| DecodeError::Payload {
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
        payload: serde_json::value::to_raw_value(payload)?,
    })
}
