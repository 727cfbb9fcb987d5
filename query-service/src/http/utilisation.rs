//! `GET /utilisation?location_id=&from=&to=` (issue 5 item 9): per technician and
//! local date at one location, the booked service time (the technician's own minutes
//! in live bookings, processing excluded), the shift time and their ratio.
//!
//! The split: booked minutes are a read model (`rm.booked_time`, the `utilisation`
//! projection, one row per live booking and technician); shift minutes are computed
//! here from the rota read model for the asked dates only, with the expansion `/rota`
//! uses ([`crate::rota::expand`]: each shift's instants in the location's zone, so a
//! shift across a daylight-saving change has its real length). Storing shift time
//! instead would mean expanding open-ended weekly patterns for every future date.
//! Shift minutes count the people the rota shows (active staff); a technician with
//! bookings but no shift that day (an override outside the shift, a deactivated
//! record) has `shift_minutes` 0 and `utilisation` null. Utilisation may exceed 1 when
//! bookings were placed outside the shift with an override.

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::tenant_tx;
use crate::rota::{expand, Place};
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use events_schema::ids::{LocationId, StaffId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

const UTILISATION: Option<&str> = Some("rm.utilisation_checkpoint");
const ROTA: Option<&str> = Some("rm.rota_checkpoint");
/// Longest range of one request, in days.
pub const MAX_DAYS: i64 = 31;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtilisationParams {
    location_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    consistency_token: Option<String>,
}

/// One technician's day.
#[derive(Debug, Serialize)]
pub struct TechnicianDay {
    date: NaiveDate,
    staff_id: StaffId,
    /// The staff record's name (empty when the record is gone from the read model).
    name: String,
    booked_minutes: i64,
    shift_minutes: i64,
    /// `booked_minutes / shift_minutes`; null without a shift that day.
    utilisation: Option<f64>,
}

#[derive(Serialize)]
pub struct Utilisation {
    location_id: LocationId,
    from: NaiveDate,
    to: NaiveDate,
    time_zone: String,
    /// By date, then name, then staff id: every technician with a shift or a booking
    /// at the location that date.
    days: Vec<TechnicianDay>,
}

fn date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::param(field, "must be a date as YYYY-MM-DD"))
}

/// Booked and shift minutes per (date, technician), joined: a technician appears on a
/// date with either.
fn combine(
    booked: &BTreeMap<(NaiveDate, StaffId), i64>,
    shifts: &BTreeMap<(NaiveDate, StaffId), i64>,
    names: &HashMap<StaffId, String>,
) -> Vec<TechnicianDay> {
    let mut keys: Vec<(NaiveDate, StaffId)> = booked.keys().chain(shifts.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    let mut days: Vec<TechnicianDay> = keys
        .into_iter()
        .map(|(date, staff_id)| {
            let booked_minutes = booked.get(&(date, staff_id)).copied().unwrap_or(0);
            let shift_minutes = shifts.get(&(date, staff_id)).copied().unwrap_or(0);
            let utilisation =
                (shift_minutes > 0).then(|| booked_minutes as f64 / shift_minutes as f64);
            TechnicianDay {
                date,
                staff_id,
                name: names.get(&staff_id).cloned().unwrap_or_default(),
                booked_minutes,
                shift_minutes,
                utilisation,
            }
        })
        .collect();
    days.sort_by(|a, b| (a.date, &a.name, a.staff_id).cmp(&(b.date, &b.name, b.staff_id)));
    days
}

pub async fn utilisation(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<UtilisationParams>,
) -> Result<Json<Utilisation>, ApiError> {
    let location: LocationId = match p.location_id.as_deref() {
        None => return Err(ApiError::param("location_id", "is required")),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| ApiError::param("location_id", "must be a UUID"))?,
    };
    let from = p.from.as_deref().map(|d| date("from", d)).transpose()?;
    let to = p.to.as_deref().map(|d| date("to", d)).transpose()?;
    wait_for(&state.waits, p.consistency_token.as_deref(), UTILISATION).await?;
    wait_for(&state.waits, p.consistency_token.as_deref(), ROTA).await?;
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
    // Defaults: from today at the location, to a week on.
    let from = from.unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
    let to = to.unwrap_or(from + chrono::Duration::days(6));
    if to < from {
        return Err(ApiError::param("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::param(
            "to",
            format!("the range may span at most {MAX_DAYS} days"),
        ));
    }

    let mut booked: BTreeMap<(NaiveDate, StaffId), i64> = BTreeMap::new();
    for r in tx
        .query(
            "SELECT date, staff_id, sum(minutes)::bigint FROM rm.booked_time
             WHERE tenant_id = $1 AND location_id = $2 AND date BETWEEN $3 AND $4
             GROUP BY date, staff_id",
            &[&caller.tenant.as_uuid(), &location.as_uuid(), &from, &to],
        )
        .await?
    {
        booked.insert((r.get(0), StaffId::from_uuid(r.get(1))), r.get(2));
    }

    let people = crate::read::staff::rotas(&tx, caller.tenant, None)
        .await
        .map_err(ApiError::Internal)?;
    let mut names: HashMap<StaffId, String> = people
        .iter()
        .map(|p| (p.staff_id, p.name.clone()))
        .collect();
    let places = HashMap::from([(
        location,
        Place {
            name: detail.settings.name.clone(),
            settings: detail.settings.clone(),
            tz,
        },
    )]);
    let mut shifts: BTreeMap<(NaiveDate, StaffId), i64> = BTreeMap::new();
    for s in expand(&people, &places, Some(location), from, to).shifts {
        *shifts.entry((s.date, s.staff_id)).or_default() += s.minutes;
    }

    // Names of technicians with bookings but no rota shown (e.g. deactivated).
    let missing: Vec<uuid::Uuid> = booked
        .keys()
        .map(|(_, s)| *s)
        .filter(|s| !names.contains_key(s))
        .map(|s| s.as_uuid())
        .collect();
    if !missing.is_empty() {
        for r in tx
            .query(
                "SELECT staff_id, name FROM rm.staff WHERE tenant_id = $1 AND staff_id = ANY($2)",
                &[&caller.tenant.as_uuid(), &missing],
            )
            .await?
        {
            names.insert(StaffId::from_uuid(r.get(0)), r.get(1));
        }
    }
    tx.commit().await?;
    Ok(Json(Utilisation {
        location_id: location,
        from,
        to,
        time_zone: detail.settings.time_zone,
        days: combine(&booked, &shifts, &names),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_technician_with_a_shift_or_a_booking_gets_a_row_and_no_shift_means_no_ratio() {
        let d = |day| NaiveDate::from_ymd_opt(2027, 3, day).unwrap_or_default();
        let (a, b) = (StaffId::new(), StaffId::new());
        let booked = BTreeMap::from([((d(1), a), 120), ((d(2), b), 30)]);
        let shifts = BTreeMap::from([((d(1), a), 480), ((d(1), b), 240)]);
        let names = HashMap::from([(a, "A".to_owned()), (b, "B".to_owned())]);
        let days = combine(&booked, &shifts, &names);
        let got: Vec<_> = days
            .iter()
            .map(|t| {
                (
                    t.date,
                    t.staff_id,
                    t.booked_minutes,
                    t.shift_minutes,
                    t.utilisation,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (d(1), a, 120, 480, Some(0.25)),
                (d(1), b, 0, 240, Some(0.0)),
                (d(2), b, 30, 0, None),
            ]
        );
    }
}
