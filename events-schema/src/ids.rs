//! Identifier newtypes. Every id is a random or time-ordered UUID and carries no
//! personal data, so ids may appear in stream ids, NATS subjects and logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh time-ordered id (UUIDv7), so inserts stay index-friendly.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(
    /// A business (salon or chain) using Belle.
    TenantId
);
uuid_id!(
    /// A customer record.
    CustomerId
);
uuid_id!(
    /// A login account (staff or customer).
    AccountId
);
uuid_id!(
    /// One stored event.
    EventId
);
uuid_id!(
    /// One command; the `Idempotency-Key` header maps onto it.
    CommandId
);
uuid_id!(
    /// A location (one salon of a tenant).
    LocationId
);
uuid_id!(
    /// A room or piece of equipment of a location.
    RoomId
);
uuid_id!(
    /// A category of the service catalogue.
    CategoryId
);
uuid_id!(
    /// A service of the catalogue.
    ServiceId
);
uuid_id!(
    /// A member of staff (STF-1); a record of its own, apart from any login account.
    StaffId
);
uuid_id!(
    /// A named shift template (STF-2): the hours of a working day, reused by patterns.
    ShiftTemplateId
);
uuid_id!(
    /// A repeating weekly pattern of one person's rota.
    PatternId
);
uuid_id!(
    /// A stretch of time off of one person.
    TimeOffId
);
uuid_id!(
    /// An uploaded image (of a service). Never reused: its bytes never change.
    ImageId
);
uuid_id!(
    /// A booking (one visit: one or more services).
    BookingId
);
uuid_id!(
    /// A customer's place on a location's waitlist for a wanted window (APT-13).
    WaitlistEntryId
);
uuid_id!(
    /// An offer of a freed slot to one waiting customer (APT-13).
    OfferId
);
uuid_id!(
    /// A freed slot offered to the waitlist (APT-13): the time a booking gave up. Never
    /// a booking itself: a cancellation's slot carries its booking's id
    /// ([`SlotId::cancelled`]), a move's is derived from the booking and the revision it
    /// left ([`SlotId::moved_from`]).
    SlotId
);

/// Namespace of the slot ids derived from moves ([`SlotId::moved_from`]).
const MOVED_FROM: Uuid = Uuid::from_u128(0x9b63_8763_fca6_4b72_b519_9503_0a84_6bac);

impl SlotId {
    /// The time a cancelled booking held: one per booking, so the booking's own id.
    pub const fn cancelled(booking: BookingId) -> Self {
        Self(booking.as_uuid())
    }

    /// The time a booking held at `revision` (0 as placed, n after its n-th move), freed
    /// by the move from it: a name-based UUID (v5) of the two. The same however often it
    /// is derived (a retry records and offers it once), different for every revision,
    /// and never a booking's or a cancellation's (those are v7).
    pub fn moved_from(booking: BookingId, revision: i32) -> Self {
        let mut name = [0u8; 20];
        name[..16].copy_from_slice(booking.as_uuid().as_bytes());
        name[16..].copy_from_slice(&revision.to_be_bytes());
        Self(Uuid::new_v5(&MOVED_FROM, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moves_slot_is_stable_distinct_per_revision_and_never_the_cancellations() {
        let booking = BookingId::new();
        let first = SlotId::moved_from(booking, 0);
        assert_eq!(first, SlotId::moved_from(booking, 0));
        assert_ne!(first, SlotId::moved_from(booking, 1));
        assert_ne!(first, SlotId::moved_from(BookingId::new(), 0));
        assert_ne!(first, SlotId::cancelled(booking));
        assert_eq!(first.as_uuid().get_version_num(), 5);
        assert_eq!(SlotId::cancelled(booking).as_uuid(), booking.as_uuid());
    }
}
