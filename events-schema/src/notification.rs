//! Events of notification streams (`notification-<uuid>`, DESIGN §9): one message to one
//! person — a sign-in code now; reminders, offers and campaign messages later — recorded
//! once when it was handed to its channel, or once when it was given up. The recipient
//! and the text never enter the log: they wait in the command side's outbox, sealed with
//! the notification's own key, which is destroyed once the message is sent or given up.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const STREAM_TYPE: &str = "notification";

/// The stream of one notification.
pub fn stream_id(notification: Uuid) -> String {
    format!("notification-{notification}")
}

/// The channel took the message (a gateway answered 2xx, or the log channel wrote it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSent {
    pub notification_id: Uuid,
    /// What it was (`sign_in_code`, …); says nothing about whom it went to.
    pub kind: String,
    /// `log` or `webhook`.
    pub channel: String,
    /// The person it concerns when known (a customer id), for her export and erasure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<Uuid>,
    /// Tries it took, this one included.
    pub attempts: i32,
}

/// Every try failed, or the gateway refused the message for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFailed {
    pub notification_id: Uuid,
    pub kind: String,
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<Uuid>,
    pub attempts: i32,
    /// The last error, as the channel classified it (never the message or recipient).
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotificationEvent {
    Sent(NotificationSent),
    Failed(NotificationFailed),
}

impl DomainEvent for NotificationEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            NotificationEvent::Sent(_) => "NotificationSent",
            NotificationEvent::Failed(_) => "NotificationFailed",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            NotificationEvent::Sent(e) => new_event(self.event_type(), 1, e),
            NotificationEvent::Failed(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("NotificationSent", 1) => {
                decode_payload(event_type, payload).map(NotificationEvent::Sent)
            }
            ("NotificationFailed", 1) => {
                decode_payload(event_type, payload).map(NotificationEvent::Failed)
            }
            ("NotificationSent" | "NotificationFailed", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}
