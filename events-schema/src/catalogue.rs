//! Events of the service catalogue (SVC-1): categories, one stream each
//! (`category-<uuid>`). Every tenant starts with the six default categories of SVC-1
//! (created with the tenant); salons add, rename and order them. Business data only.

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
