//! `GET /locations/{id}/calendar` (a day by technician and room),
//! `GET /customers/{id}/bookings` and a customer's own `GET /me/bookings` (upcoming
//! and past, each with its status).

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::bookings::{self, BookedView};
use crate::read::tenant_tx;
use crate::rota::{expand, Place, ShiftView};
use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use events_schema::ids::{CustomerId, LocationId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const BOOKINGS: Option<&str> = Some("rm.bookings_checkpoint");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarParams {
    date: Option<String>,
    consistency_token: Option<String>,
}

#[derive(Serialize)]
pub struct TechnicianDay {
    staff_id: uuid::Uuid,
    name: String,
    shifts: Vec<ShiftView>,
    bookings: Vec<BookedView>,
}

#[derive(Serialize)]
pub struct RoomDay {
    room_id: uuid::Uuid,
    name: String,
    kind: String,
    capacity: u32,
    bookings: Vec<BookedView>,
}

#[derive(Serialize)]
pub struct Calendar {
    location_id: LocationId,
    date: NaiveDate,
    time_zone: String,
    technicians: Vec<TechnicianDay>,
    rooms: Vec<RoomDay>,
}

/// A location's day: each technician who works there (shifts and bookings) and each
/// room (bookings). Default date: today at the location.
pub async fn calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<CalendarParams>,
) -> Result<Json<Calendar>, ApiError> {
    let location: LocationId = id
        .parse()
        .map_err(|_| ApiError::BadRequest("location id must be a UUID".into()))?;
    let date = p
        .date
        .as_deref()
        .map(|d| {
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| ApiError::param("date", "must be a date as YYYY-MM-DD"))
        })
        .transpose()?;
    wait_for(&state.waits, p.consistency_token.as_deref(), BOOKINGS).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let detail = crate::read::locations::detail(&tx, caller.tenant, location)
        .await
        .map_err(ApiError::Internal)?
        .ok_or(ApiError::NotFound("no such location"))?;
    let tz: chrono_tz::Tz = detail
        .settings
        .time_zone
        .parse()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("a stored zone does not parse")))?;
    let date = date.unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
    let booked = bookings::of_day(&tx, caller.tenant, location, date).await?;
    let people = crate::read::staff::rotas(&tx, caller.tenant, None)
        .await
        .map_err(ApiError::Internal)?;
    let places = HashMap::from([(
        location,
        Place {
            name: detail.settings.name.clone(),
            settings: detail.settings.clone(),
            tz,
        },
    )]);
    let view = expand(&people, &places, Some(location), date, date);
    let mut technicians: Vec<TechnicianDay> = Vec::new();
    for person in &people {
        technicians.push(TechnicianDay {
            staff_id: person.staff_id.as_uuid(),
            name: person.name.clone(),
            shifts: Vec::new(),
            bookings: Vec::new(),
        });
    }
    for shift in view.shifts {
        if let Some(t) = technicians
            .iter_mut()
            .find(|t| t.staff_id == shift.staff_id.as_uuid())
        {
            t.shifts.push(shift);
        }
    }
    let mut rooms: Vec<RoomDay> = detail
        .settings
        .rooms
        .iter()
        .map(|r| RoomDay {
            room_id: r.room_id.as_uuid(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            capacity: r.capacity,
            bookings: Vec::new(),
        })
        .collect();
    for b in booked {
        if let Some(room) = b
            .room_id
            .and_then(|id| rooms.iter_mut().find(|r| r.room_id == id))
        {
            room.bookings.push(b.clone());
        }
        match technicians.iter_mut().find(|t| t.staff_id == b.staff_id) {
            Some(t) => t.bookings.push(b),
            None => technicians.push(TechnicianDay {
                staff_id: b.staff_id,
                name: String::new(),
                shifts: Vec::new(),
                bookings: vec![b],
            }),
        }
    }
    // Only the technicians with a shift or a booking that day.
    technicians.retain(|t| !t.shifts.is_empty() || !t.bookings.is_empty());
    Ok(Json(Calendar {
        location_id: location,
        date,
        time_zone: detail.settings.time_zone,
        technicians,
        rooms,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerParams {
    consistency_token: Option<String>,
}

#[derive(Serialize)]
pub struct CustomerBookings {
    upcoming: Vec<BookedView>,
    past: Vec<BookedView>,
}

/// A customer's bookings: upcoming (soonest first) and past (latest first); the last
/// 200 booked services.
pub async fn of_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<CustomerParams>,
) -> Result<Json<CustomerBookings>, ApiError> {
    let customer: CustomerId = id
        .parse()
        .map_err(|_| ApiError::BadRequest("customer id must be a UUID".into()))?;
    wait_for(&state.waits, p.consistency_token.as_deref(), BOOKINGS).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    if crate::read::customers::detail(&tx, caller.tenant, customer)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("no such customer"));
    }
    visits(&tx, caller.tenant, customer).await
}

/// Upcoming (soonest first) and past (latest first) bookings of a customer.
async fn visits(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: events_schema::ids::TenantId,
    customer: CustomerId,
) -> Result<Json<CustomerBookings>, ApiError> {
    let now = chrono::Utc::now();
    let all = bookings::of_customer(tx, tenant, customer, 200).await?;
    let (mut upcoming, past): (Vec<_>, Vec<_>) = all.into_iter().partition(|b| b.starts_at >= now);
    upcoming.reverse();
    Ok(Json(CustomerBookings { upcoming, past }))
}

/// `GET /me/bookings`: the signed-in customer's own bookings (APT-9).
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<CustomerParams>,
) -> Result<Json<CustomerBookings>, ApiError> {
    let customer = caller
        .customer
        .ok_or(ApiError::NotFound("this account has no customer record"))?;
    wait_for(&state.waits, p.consistency_token.as_deref(), BOOKINGS).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    visits(&tx, caller.tenant, customer).await
}
