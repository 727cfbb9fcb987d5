//! Events of the service catalogue (SVC-1): categories, one stream each
//! (`category-<uuid>`). Every tenant starts with the six default categories of SVC-1
//! (created with the tenant); salons add, rename and order them. Services, one stream
//! each (`service-<uuid>`), with their publication, prices and images. Business data
//! only.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::CategoryId;
use serde::{Deserialize, Serialize};

pub const CATEGORY_STREAM_TYPE: &str = "category";

pub fn category_stream_id(id: CategoryId) -> String {
    format!("category-{id}")
}

/// The six categories every new tenant starts with (SVC-1): name and what they hold.
pub const DEFAULT_CATEGORIES: [(&str, &str); 6] = [
    ("基础美容", "面部护理、身体护理、脱毛"),
    ("美发", "造型设计、烫发、染发、头发护理"),
    ("美甲", "修甲、美甲彩绘、手足护理"),
    ("仪器项目", "皮肤检测、导入、提拉紧致、抗衰"),
    ("特色项目", "微整形、纹绣、瘦身塑形"),
    ("其他", "SPA、瑜伽、舞蹈"),
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCreated {
    pub category_id: CategoryId,
    pub name: String,
    pub description: String,
    /// Place in the salon's order (ascending).
    pub position: i32,
}

/// The category as it is after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryChanged {
    pub category_id: CategoryId,
    pub name: String,
    pub description: String,
    pub position: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CategoryEvent {
    Created(CategoryCreated),
    Changed(CategoryChanged),
}

impl DomainEvent for CategoryEvent {
    const STREAM_TYPE: &'static str = CATEGORY_STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            CategoryEvent::Created(_) => "CategoryCreated",
            CategoryEvent::Changed(_) => "CategoryChanged",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            CategoryEvent::Created(e) => new_event(self.event_type(), 1, e),
            CategoryEvent::Changed(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("CategoryCreated", 1) => {
                decode_payload(event_type, payload).map(CategoryEvent::Created)
            }
            ("CategoryChanged", 1) => {
                decode_payload(event_type, payload).map(CategoryEvent::Changed)
            }
            ("CategoryCreated" | "CategoryChanged", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}

pub const SERVICE_STREAM_TYPE: &str = "service";

pub fn service_stream_id(id: crate::ids::ServiceId) -> String {
    format!("service-{id}")
}

/// A service's time, in minutes, by segment (APT-1): the customer is busy for all of
/// them, the technician for all but `processing` (a mask setting, colour developing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segments {
    pub buffer_before: u16,
    pub work: u16,
    pub processing: u16,
    pub finishing: u16,
    pub buffer_after: u16,
}

impl Segments {
    pub fn total(&self) -> u32 {
        u32::from(self.buffer_before)
            + u32::from(self.work)
            + u32::from(self.processing)
            + u32::from(self.finishing)
            + u32::from(self.buffer_after)
    }
}

/// Price and time for technicians of one level (senior, expert…), if they differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelTerms {
    pub level: String,
    /// In the tenant's currency, as a decimal string (`"388.00"`).
    pub price: rust_decimal::Decimal,
    /// Segments for this level, when they differ from the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Segments>,
}

/// Everything a service is (SVC-2), but its price changes over time (SVC-4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDetails {
    pub category_id: CategoryId,
    pub name: String,
    pub description: String,
    pub segments: Segments,
    /// The price as created; later prices come with their own events (SVC-4).
    pub price: rust_decimal::Decimal,
    pub levels: Vec<LevelTerms>,
    pub suitable_groups: Vec<String>,
    pub contraindicated_groups: Vec<String>,
    pub process_steps: Vec<String>,
    pub required_skills: Vec<String>,
    /// A room or equipment kind of the location it needs (`facial_room`, `laser`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_room_kind: Option<String>,
    /// Most bookings of this service at one location at once (APT-3); none: no limit
    /// but the location's, its people and its rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_simultaneous_bookings: Option<u32>,
    /// SVC-3: booked only for a customer with a passed patch test of this service done
    /// at most this many days before the visit's date (and not after it); none: no
    /// patch test needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_patch_test_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCreated {
    pub service_id: crate::ids::ServiceId,
    pub details: ServiceDetails,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceChanged {
    pub service_id: crate::ids::ServiceId,
    pub details: ServiceDetails,
    pub reason: String,
}

/// Shown (or no longer shown) in the public catalogue and bookable online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePublication {
    pub service_id: crate::ids::ServiceId,
}

/// How a new price was set (SVC-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingMethod {
    Cost,
    Market,
    Demand,
    Composite,
}

impl PricingMethod {
    pub fn parse(s: &str) -> Option<PricingMethod> {
        Some(match s {
            "cost" => PricingMethod::Cost,
            "market" => PricingMethod::Market,
            "demand" => PricingMethod::Demand,
            "composite" => PricingMethod::Composite,
            _ => return None,
        })
    }
}

/// A new price from an instant on (SVC-4, SVC-5). Bookings made before keep theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePriceChanged {
    pub service_id: crate::ids::ServiceId,
    pub price: rust_decimal::Decimal,
    /// The price it replaces at that instant.
    pub previous: rust_decimal::Decimal,
    pub effective_at: chrono::DateTime<chrono::Utc>,
    pub method: PricingMethod,
    pub reason: String,
    /// Given when the change goes beyond the salon's bound (SVC-5: gradual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

/// An image shown with the service (issue 4 item 2). Its bytes are stored beside the
/// log (`media.images`, written in the same transaction), named by `image_id` and
/// checked by `sha256`; the event holds what a read model needs to list and serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceImageAdded {
    pub service_id: crate::ids::ServiceId,
    pub image_id: crate::ids::ImageId,
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`, checked against the bytes.
    pub content_type: String,
    /// In bytes.
    pub size: u32,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Text for those who cannot see the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// The image is no longer shown with the service (its bytes stay, named by the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceImageRemoved {
    pub service_id: crate::ids::ServiceId,
    pub image_id: crate::ids::ImageId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    Created(ServiceCreated),
    Changed(ServiceChanged),
    Published(ServicePublication),
    Unpublished(ServicePublication),
    PriceChanged(ServicePriceChanged),
    ImageAdded(ServiceImageAdded),
    ImageRemoved(ServiceImageRemoved),
}

impl DomainEvent for ServiceEvent {
    const STREAM_TYPE: &'static str = SERVICE_STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            ServiceEvent::Created(_) => "ServiceCreated",
            ServiceEvent::Changed(_) => "ServiceChanged",
            ServiceEvent::Published(_) => "ServicePublished",
            ServiceEvent::Unpublished(_) => "ServiceUnpublished",
            ServiceEvent::PriceChanged(_) => "ServicePriceChanged",
            ServiceEvent::ImageAdded(_) => "ServiceImageAdded",
            ServiceEvent::ImageRemoved(_) => "ServiceImageRemoved",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        let t = self.event_type();
        match self {
            ServiceEvent::Created(e) => new_event(t, 1, e),
            ServiceEvent::Changed(e) => new_event(t, 1, e),
            ServiceEvent::Published(e) | ServiceEvent::Unpublished(e) => new_event(t, 1, e),
            ServiceEvent::PriceChanged(e) => new_event(t, 1, e),
            ServiceEvent::ImageAdded(e) => new_event(t, 1, e),
            ServiceEvent::ImageRemoved(e) => new_event(t, 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        let known = [
            "ServiceCreated",
            "ServiceChanged",
            "ServicePublished",
            "ServiceUnpublished",
            "ServicePriceChanged",
            "ServiceImageAdded",
            "ServiceImageRemoved",
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
            "ServiceCreated" => ServiceEvent::Created(decode_payload(event_type, payload)?),
            "ServiceChanged" => ServiceEvent::Changed(decode_payload(event_type, payload)?),
            "ServicePublished" => ServiceEvent::Published(decode_payload(event_type, payload)?),
            "ServicePriceChanged" => {
                ServiceEvent::PriceChanged(decode_payload(event_type, payload)?)
            }
            "ServiceImageAdded" => ServiceEvent::ImageAdded(decode_payload(event_type, payload)?),
            "ServiceImageRemoved" => {
                ServiceEvent::ImageRemoved(decode_payload(event_type, payload)?)
            }
            _ => ServiceEvent::Unpublished(decode_payload(event_type, payload)?),
        })
    }
}

/// One entry of a service's price schedule: `price` from `effective_at` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledPrice {
    pub price: rust_decimal::Decimal,
    pub effective_at: chrono::DateTime<chrono::Utc>,
    /// None for the price the service was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<PricingMethod>,
}

/// The price in force at `at`: the latest entry effective at or before it (entries of
/// equal instants: the one recorded last). None before the service existed.
pub fn price_at(
    schedule: &[ScheduledPrice],
    at: chrono::DateTime<chrono::Utc>,
) -> Option<&ScheduledPrice> {
    schedule
        .iter()
        .enumerate()
        .filter(|(_, p)| p.effective_at <= at)
        .max_by_key(|(i, p)| (p.effective_at, *i))
        .map(|(_, p)| p)
}
