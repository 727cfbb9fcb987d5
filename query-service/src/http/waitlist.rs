//! `GET /waitlist?location_id=&date=` (APT-13, APT-14): a location's waitlist as the
//! salon sees it — every entry in the order they joined, with where it stands, and
//! every offer made from it (when, for which time, until when, and how it ended).
//! Another tenant's location, or one without a waitlist, shows nothing.

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::tenant_tx;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use events_schema::ids::LocationId;
use serde::{Deserialize, Serialize};

const WAITLIST: Option<&str> = Some("rm.waitlist_checkpoint");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistParams {
    location_id: Option<String>,
    date: Option<String>,
    consistency_token: Option<String>,
}

#[derive(Serialize)]
pub struct OfferView {
    offer_id: uuid::Uuid,
    slot_id: uuid::Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    services: serde_json::Value,
    made_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// `open`, `accepted`, `declined`, `expired` or `withdrawn`.
    status: String,
    answered_at: Option<DateTime<Utc>>,
    booking_id: Option<uuid::Uuid>,
    reason: Option<String>,
}

#[derive(Serialize)]
pub struct EntryView {
    entry_id: uuid::Uuid,
    date: NaiveDate,
    customer_id: uuid::Uuid,
    /// The customer's name (none once she is erased).
    customer_name: Option<String>,
    services: serde_json::Value,
    window_from: DateTime<Utc>,
    window_to: DateTime<Utc>,
    joined_at: DateTime<Utc>,
    /// `waiting`, `left` or `booked`.
    status: String,
    ended_at: Option<DateTime<Utc>>,
    booking_id: Option<uuid::Uuid>,
    offers: Vec<OfferView>,
}

#[derive(Serialize)]
pub struct Waitlist {
    location_id: LocationId,
    date: Option<NaiveDate>,
    entries: Vec<EntryView>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<WaitlistParams>,
) -> Result<Json<Waitlist>, ApiError> {
    let location: LocationId = match p.location_id.as_deref() {
        None => return Err(ApiError::param("location_id", "is required")),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| ApiError::param("location_id", "must be a UUID"))?,
    };
    let date = p
        .date
        .as_deref()
        .map(|d| {
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| ApiError::param("date", "must be a date as YYYY-MM-DD"))
        })
        .transpose()?;
    wait_for(&state.waits, p.consistency_token.as_deref(), WAITLIST).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let (tenant, loc) = (caller.tenant.as_uuid(), location.as_uuid());
    let rows = tx
        .query(
            "SELECT e.entry_id, e.date, e.customer_id, c.name, e.services::text, e.window_from,
                    e.window_to, e.joined_at, e.status, e.ended_at, e.booking_id
             FROM rm.waitlist_entries e
             LEFT JOIN rm.customers c ON c.tenant_id = e.tenant_id AND c.customer_id = e.customer_id
             WHERE e.tenant_id = $1 AND e.location_id = $2
               AND ($3::date IS NULL OR e.date = $3)
             ORDER BY e.date, e.joined_at, e.entry_id
             LIMIT 1000",
            &[&tenant, &loc, &date],
        )
        .await?;
    let json = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    let mut entries: Vec<EntryView> = rows
        .iter()
        .map(|r| EntryView {
            entry_id: r.get(0),
            date: r.get(1),
            customer_id: r.get(2),
            customer_name: r.get(3),
            services: json(r.get(4)),
            window_from: r.get(5),
            window_to: r.get(6),
            joined_at: r.get(7),
            status: r.get(8),
            ended_at: r.get(9),
            booking_id: r.get(10),
            offers: Vec::new(),
        })
        .collect();
    let offers = tx
        .query(
            "SELECT entry_id, offer_id, slot_id, starts_at, ends_at, services::text, made_at,
                    expires_at, status, answered_at, booking_id, reason
             FROM rm.waitlist_offers
             WHERE tenant_id = $1 AND location_id = $2 AND ($3::date IS NULL OR date = $3)
             ORDER BY made_at, offer_id
             LIMIT 5000",
            &[&tenant, &loc, &date],
        )
        .await?;
    for r in &offers {
        let entry: uuid::Uuid = r.get(0);
        if let Some(e) = entries.iter_mut().find(|e| e.entry_id == entry) {
            e.offers.push(OfferView {
                offer_id: r.get(1),
                slot_id: r.get(2),
                starts_at: r.get(3),
                ends_at: r.get(4),
                services: json(r.get(5)),
                made_at: r.get(6),
                expires_at: r.get(7),
                status: r.get(8),
                answered_at: r.get(9),
                booking_id: r.get(10),
                reason: r.get(11),
            });
        }
    }
    tx.commit().await?;
    Ok(Json(Waitlist {
        location_id: location,
        date,
        entries,
    }))
}
