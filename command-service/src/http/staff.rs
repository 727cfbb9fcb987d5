//! Staff records, the shift rota and the salon's settings (STF-1..3, SVC-5):
//! `POST /staff`, `PUT /staff/{id}`, `POST /staff/{id}/deactivate`,
//! `POST /staff/{id}/rota`, `POST /shift-templates`, `PUT /shift-templates/{id}`,
//! `PUT /settings`. Every field is checked and every problem named before anything is
//! written; personal data never appears in an error message.

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::locations::{date, intervals, text, time, IntervalDto};
use super::{command_context, outcome_response, AppState};
use crate::app::error::FieldError;
use crate::app::rota::{PatternDays, RotaCommand};
use crate::app::staff::{ChangeStaff, Profile, StaffRecord};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDate;
use events_schema::ids::{
    AccountId, LocationId, PatternId, ServiceId, ShiftTemplateId, StaffId, TimeOffId,
};
use events_schema::location::{weekday_named, WeeklyHours};
use events_schema::rota::{LocatedInterval, ShiftTemplate, TimeOffKind};
use events_schema::settings::SalonSettings;
use events_schema::staff::WorkTerms;
use events_schema::values::{birthday::Birthday, email::Email, name::PersonName, phone::Phone};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffDto {
    pub name: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub native_place: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub position: Option<String>,
    pub level: Option<String>,
    pub hire_date: Option<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    pub account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeStaffDto {
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
    pub record: StaffDto,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonDto {
    pub reason: Option<String>,
}

const GENDERS: [&str; 4] = ["female", "male", "other", "undisclosed"];

fn uuids<T: std::str::FromStr + PartialEq>(
    field: &str,
    raw: &[String],
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Vec<T> {
    if raw.len() > max {
        errors.push(FieldError::new(field, format!("at most {max}")));
        return Vec::new();
    }
    let mut out: Vec<T> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        match s.trim().parse::<T>() {
            Ok(id) if out.contains(&id) => {
                errors.push(FieldError::new(format!("{field}[{i}]"), "appears twice"));
            }
            Ok(id) => out.push(id),
            Err(_) => errors.push(FieldError::new(format!("{field}[{i}]"), "must be a UUID")),
        }
    }
    out
}

/// A reason: required, 1 to 500 characters.
fn reason(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    match raw.map(|r| text(r, 500)) {
        None => {
            errors.push(FieldError::new("reason", "a reason is required"));
            None
        }
        Some(Err(m)) => {
            errors.push(FieldError::new("reason", m));
            None
        }
        Some(Ok(r)) => Some(r),
    }
}

impl StaffDto {
    fn parse(self, today: NaiveDate) -> Result<StaffRecord, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut profile = Profile::new();
        match self.name.as_deref().map(PersonName::parse) {
            None => errors.push(FieldError::new("name", "is required")),
            Some(Err(e)) => errors.push(FieldError::new("name", e.message())),
            Some(Ok(n)) => {
                profile.insert("name", n.as_str().to_owned());
            }
        }
        if let Some(g) = self.gender.as_deref().map(str::trim) {
            if GENDERS.contains(&g) {
                profile.insert("gender", g.to_owned());
            } else {
                errors.push(FieldError::new(
                    "gender",
                    "must be one of female, male, other, undisclosed",
                ));
            }
        }
        if let Some(b) = self.birth_date.as_deref() {
            match Birthday::parse(b, today) {
                Ok(b) => {
                    profile.insert("birth_date", b.as_string());
                }
                Err(e) => errors.push(FieldError::new("birth_date", e.message())),
            }
        }
        if let Some(p) = self.native_place.as_deref() {
            match text(p, 64) {
                Ok(p) => {
                    profile.insert("native_place", p);
                }
                Err(m) => errors.push(FieldError::new("native_place", m)),
            }
        }
        if let Some(p) = self.phone.as_deref() {
            match Phone::parse(p) {
                Ok(p) => {
                    profile.insert("phone", p.as_e164().to_owned());
                }
                Err(e) => errors.push(FieldError::new("phone", e.message())),
            }
        }
        if let Some(e) = self.email.as_deref() {
            match Email::parse(e) {
                Ok(e) => {
                    profile.insert("email", e.as_str().to_owned());
                }
                Err(err) => errors.push(FieldError::new("email", err.message())),
            }
        }
        let mut required_text = |field: &str, raw: Option<&str>, max: usize| match raw {
            None => {
                errors.push(FieldError::new(field, "is required"));
                None
            }
            Some(r) => text(r, max)
                .map_err(|m| errors.push(FieldError::new(field, m)))
                .ok(),
        };
        let position = required_text("position", self.position.as_deref(), 32);
        let level = required_text("level", self.level.as_deref(), 32);
        let hire_date = match self.hire_date.as_deref().map(date) {
            None => {
                errors.push(FieldError::new("hire_date", "is required"));
                None
            }
            Some(Err(m)) => {
                errors.push(FieldError::new("hire_date", m));
                None
            }
            Some(Ok(d)) if d > today + chrono::Duration::days(366) => {
                errors.push(FieldError::new(
                    "hire_date",
                    "must be at most a year from today",
                ));
                None
            }
            Some(Ok(d)) => Some(d),
        };
        let skills = uuids::<ServiceId>("skills", &self.skills, 200, &mut errors);
        let locations = uuids::<LocationId>("locations", &self.locations, 50, &mut errors);
        let account_id = match self.account_id.as_deref().map(str::parse::<AccountId>) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                errors.push(FieldError::new("account_id", "must be a UUID"));
                None
            }
        };
        match (position, level, hire_date) {
            (Some(position), Some(level), Some(hire_date)) if errors.is_empty() => {
                Ok(StaffRecord {
                    profile,
                    work: WorkTerms {
                        position,
                        level,
                        hire_date,
                        skills,
                        locations,
                        account_id,
                    },
                })
            }
            _ => Err(errors),
        }
    }
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} id must be a UUID")))
}

pub async fn hire(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<StaffDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "hire_staff", "", &body.value)?;
    let record = body.dto.parse(today()).map_err(ApiError::Validation)?;
    Ok(outcome_response(state.app.hire_staff(&ctx, record).await?))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ChangeStaffDto>,
) -> Result<Response, ApiError> {
    let staff_id: StaffId = id(&raw, "staff")?;
    let ctx = command_context(&caller, &headers, "change_staff", &raw, &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let why = reason(dto.reason.as_deref(), &mut errors);
    let record = dto.record.parse(today()).map_err(|more| {
        errors.extend(more.into_iter().map(|mut e| {
            e.field = format!("record.{}", e.field);
            e
        }));
    });
    let (Some(reason), Ok(record), true) = (why, record, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let outcome = state
        .app
        .change_staff(
            &ctx,
            ChangeStaff {
                staff_id,
                expected_version: dto.expected_version,
                record,
                reason,
            },
        )
        .await?;
    Ok(outcome_response(outcome))
}

pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ReasonDto>,
) -> Result<Response, ApiError> {
    let staff_id: StaffId = id(&raw, "staff")?;
    let ctx = command_context(&caller, &headers, "deactivate_staff", &raw, &body.value)?;
    let mut errors = Vec::new();
    let Some(reason) = reason(body.dto.reason.as_deref(), &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    Ok(outcome_response(
        state.app.deactivate_staff(&ctx, staff_id, reason).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseDto {
    pub reference: Option<String>,
}

/// Erases a person's personal data (owners): `{reference}` names the request.
pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EraseDto>,
) -> Result<Response, ApiError> {
    let staff_id: StaffId = id(&raw, "staff")?;
    let ctx = command_context(&caller, &headers, "erase_staff", &raw, &body.value)?;
    let mut errors = Vec::new();
    let reference = required(
        "reference",
        body.dto.reference.as_deref(),
        |r| text(r, 100),
        &mut errors,
    );
    let Some(reference) = reference else {
        return Err(ApiError::Validation(errors));
    };
    Ok(outcome_response(
        state.app.erase_staff(&ctx, staff_id, reference).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDto {
    pub name: Option<String>,
    #[serde(default)]
    pub intervals: Vec<IntervalDto>,
    pub reason: Option<String>,
}

impl TemplateDto {
    fn parse(&self) -> Result<ShiftTemplate, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = match self.name.as_deref().map(|n| text(n, 64)) {
            None => {
                errors.push(FieldError::new("name", "is required"));
                None
            }
            Some(Err(m)) => {
                errors.push(FieldError::new("name", m));
                None
            }
            Some(Ok(n)) => Some(n),
        };
        let ivs = intervals("intervals", &self.intervals, &mut errors);
        if self.intervals.is_empty() {
            errors.push(FieldError::new(
                "intervals",
                "at least one working interval",
            ));
        }
        match name {
            Some(name) if errors.is_empty() => Ok(ShiftTemplate {
                name,
                intervals: ivs,
            }),
            _ => Err(errors),
        }
    }
}

pub async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<TemplateDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "create_shift_template", "", &body.value)?;
    let template = body.dto.parse().map_err(ApiError::Validation)?;
    Ok(outcome_response(
        state.app.save_template(&ctx, None, template, None).await?,
    ))
}

pub async fn change_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<TemplateDto>,
) -> Result<Response, ApiError> {
    let template_id: ShiftTemplateId = id(&raw, "shift template")?;
    let ctx = command_context(
        &caller,
        &headers,
        "change_shift_template",
        &raw,
        &body.value,
    )?;
    let parsed = body.dto.parse();
    let mut errors = Vec::new();
    let why = reason(body.dto.reason.as_deref(), &mut errors);
    let template = parsed.map_err(|more| errors.extend(more));
    let (Some(reason), Ok(template), true) = (why, template, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    Ok(outcome_response(
        state
            .app
            .save_template(&ctx, Some(template_id), template, Some(reason))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocatedIntervalDto {
    pub location_id: String,
    pub start: String,
    pub end: String,
}

/// One rota edit; `action` says which.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum RotaDto {
    SetPattern {
        pattern_id: Option<String>,
        location_id: Option<String>,
        valid_from: Option<String>,
        valid_until: Option<String>,
        /// Weekday (`mon` … `sun`) → intervals; or `template_id` with `weekdays`.
        #[serde(default)]
        days: Option<BTreeMap<String, Vec<IntervalDto>>>,
        template_id: Option<String>,
        #[serde(default)]
        weekdays: Vec<String>,
        reason: Option<String>,
    },
    RemovePattern {
        pattern_id: Option<String>,
        reason: Option<String>,
    },
    OverrideDay {
        date: Option<String>,
        #[serde(default)]
        shifts: Vec<LocatedIntervalDto>,
        reason: Option<String>,
    },
    ClearOverride {
        date: Option<String>,
        reason: Option<String>,
    },
    RecordTimeOff {
        from: Option<String>,
        to: Option<String>,
        kind: Option<String>,
    },
    CancelTimeOff {
        time_off_id: Option<String>,
        reason: Option<String>,
    },
}

fn required<T, E: Into<String>>(
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match raw.map(parse) {
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(Err(m)) => {
            errors.push(FieldError::new(field, m));
            None
        }
        Some(Ok(v)) => Some(v),
    }
}

fn uuid_of<T: std::str::FromStr>(raw: &str) -> Result<T, &'static str> {
    raw.trim().parse().map_err(|_| "must be a UUID")
}

/// Dates of a rota edit: within two years either side of today.
fn rota_date(raw: &str) -> Result<NaiveDate, &'static str> {
    let d = date(raw)?;
    let today = today();
    if (d - today).num_days().abs() > 730 {
        return Err("must be within two years of today");
    }
    Ok(d)
}

impl RotaDto {
    fn parse(self) -> Result<RotaCommand, Vec<FieldError>> {
        let mut e = Vec::new();
        let command = match self {
            RotaDto::SetPattern {
                pattern_id,
                location_id,
                valid_from,
                valid_until,
                days,
                template_id,
                weekdays,
                reason,
            } => {
                let pattern_id = pattern_id
                    .as_deref()
                    .map(uuid_of::<PatternId>)
                    .transpose()
                    .map_err(|m| e.push(FieldError::new("pattern_id", m)))
                    .ok()
                    .flatten();
                let location_id = required(
                    "location_id",
                    location_id.as_deref(),
                    uuid_of::<LocationId>,
                    &mut e,
                );
                let valid_from = required("valid_from", valid_from.as_deref(), rota_date, &mut e);
                let valid_until = valid_until
                    .as_deref()
                    .map(rota_date)
                    .transpose()
                    .map_err(|m| e.push(FieldError::new("valid_until", m)))
                    .ok()
                    .flatten();
                if let (Some(f), Some(u)) = (valid_from, valid_until) {
                    if u < f {
                        e.push(FieldError::new(
                            "valid_until",
                            "must not be before valid_from",
                        ));
                    }
                }
                let reason = reason
                    .as_deref()
                    .map(|r| text(r, 500))
                    .transpose()
                    .map_err(|m| e.push(FieldError::new("reason", m)))
                    .ok()
                    .flatten();
                let days = match (days, template_id) {
                    (Some(days), None) => {
                        let mut weekly = WeeklyHours::default();
                        for (day, raw) in &days {
                            let field = format!("days.{day}");
                            let parsed = intervals(&field, raw, &mut e);
                            match weekday_named(day) {
                                Some(w) => *weekly.of_mut(w) = parsed,
                                None => e.push(FieldError::new(
                                    &field,
                                    "is not a weekday (mon, tue, wed, thu, fri, sat, sun)",
                                )),
                            }
                        }
                        if days.values().all(Vec::is_empty) {
                            e.push(FieldError::new("days", "at least one shift"));
                        }
                        Some(PatternDays::Days(weekly))
                    }
                    (None, Some(t)) => {
                        let template_id = uuid_of::<ShiftTemplateId>(&t)
                            .map_err(|m| e.push(FieldError::new("template_id", m)))
                            .ok();
                        let mut ws = Vec::new();
                        for (i, w) in weekdays.iter().enumerate() {
                            match weekday_named(w) {
                                Some(w) if !ws.contains(&w) => ws.push(w),
                                Some(_) => e.push(FieldError::new(
                                    format!("weekdays[{i}]"),
                                    "appears twice",
                                )),
                                None => e.push(FieldError::new(
                                    format!("weekdays[{i}]"),
                                    "is not a weekday (mon, tue, wed, thu, fri, sat, sun)",
                                )),
                            }
                        }
                        if weekdays.is_empty() {
                            e.push(FieldError::new("weekdays", "at least one weekday"));
                        }
                        template_id.map(|template_id| PatternDays::Template {
                            template_id,
                            weekdays: ws,
                        })
                    }
                    _ => {
                        e.push(FieldError::new(
                            "days",
                            "give either days (intervals per weekday) or template_id with weekdays",
                        ));
                        None
                    }
                };
                match (location_id, valid_from, days) {
                    (Some(location_id), Some(valid_from), Some(days)) => {
                        Some(RotaCommand::SetPattern {
                            pattern_id,
                            location_id,
                            valid_from,
                            valid_until,
                            days,
                            reason,
                        })
                    }
                    _ => None,
                }
            }
            RotaDto::RemovePattern { pattern_id, reason } => {
                let pattern_id = required(
                    "pattern_id",
                    pattern_id.as_deref(),
                    uuid_of::<PatternId>,
                    &mut e,
                );
                let reason = required("reason", reason.as_deref(), |r| text(r, 500), &mut e);
                pattern_id
                    .zip(reason)
                    .map(|(pattern_id, reason)| RotaCommand::RemovePattern { pattern_id, reason })
            }
            RotaDto::OverrideDay {
                date,
                shifts,
                reason,
            } => {
                let date = required("date", date.as_deref(), rota_date, &mut e);
                let reason = required("reason", reason.as_deref(), |r| text(r, 500), &mut e);
                if shifts.len() > 10 {
                    e.push(FieldError::new("shifts", "at most 10"));
                }
                let mut parsed: Vec<LocatedInterval> = Vec::new();
                for (i, s) in shifts.iter().enumerate() {
                    let at = format!("shifts[{i}]");
                    let loc = uuid_of::<LocationId>(&s.location_id)
                        .map_err(|m| e.push(FieldError::new(format!("{at}.location_id"), m)));
                    let start = time(&s.start)
                        .map_err(|m| e.push(FieldError::new(format!("{at}.start"), m)));
                    let end =
                        time(&s.end).map_err(|m| e.push(FieldError::new(format!("{at}.end"), m)));
                    if let (Ok(location_id), Ok(start), Ok(end)) = (loc, start, end) {
                        if start >= end {
                            e.push(FieldError::new(
                                &at,
                                "start must be before end (a shift of zero or negative length)",
                            ));
                        } else {
                            parsed.push(LocatedInterval {
                                location_id,
                                start,
                                end,
                            });
                        }
                    }
                }
                parsed.sort_by_key(|s| (s.start, s.end));
                if parsed.windows(2).any(|w| w[1].start < w[0].end) {
                    e.push(FieldError::new(
                        "shifts",
                        "shifts of one day must not overlap",
                    ));
                }
                date.zip(reason)
                    .map(|(date, reason)| RotaCommand::OverrideDay {
                        date,
                        shifts: parsed,
                        reason,
                    })
            }
            RotaDto::ClearOverride { date, reason } => {
                let date = required("date", date.as_deref(), rota_date, &mut e);
                let reason = required("reason", reason.as_deref(), |r| text(r, 500), &mut e);
                date.zip(reason)
                    .map(|(date, reason)| RotaCommand::ClearOverride { date, reason })
            }
            RotaDto::RecordTimeOff { from, to, kind } => {
                let from = required("from", from.as_deref(), rota_date, &mut e);
                let to = required("to", to.as_deref(), rota_date, &mut e);
                let kind = required(
                    "kind",
                    kind.as_deref(),
                    |k| {
                        TimeOffKind::parse(k.trim())
                            .ok_or("must be one of leave, sick, training, other")
                    },
                    &mut e,
                );
                if let (Some(f), Some(t)) = (from, to) {
                    if t < f {
                        e.push(FieldError::new("to", "must not be before from"));
                    } else if (t - f).num_days() > 366 {
                        e.push(FieldError::new("to", "time off spans at most a year"));
                    }
                }
                match (from, to, kind) {
                    (Some(from), Some(to), Some(kind)) => {
                        Some(RotaCommand::RecordTimeOff { from, to, kind })
                    }
                    _ => None,
                }
            }
            RotaDto::CancelTimeOff {
                time_off_id,
                reason,
            } => {
                let time_off_id = required(
                    "time_off_id",
                    time_off_id.as_deref(),
                    uuid_of::<TimeOffId>,
                    &mut e,
                );
                let reason = required("reason", reason.as_deref(), |r| text(r, 500), &mut e);
                time_off_id
                    .zip(reason)
                    .map(|(time_off_id, reason)| RotaCommand::CancelTimeOff {
                        time_off_id,
                        reason,
                    })
            }
        };
        match command {
            Some(c) if e.is_empty() => Ok(c),
            _ => Err(e),
        }
    }
}

pub async fn edit_rota(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<RotaDto>,
) -> Result<Response, ApiError> {
    let staff_id: StaffId = id(&raw, "staff")?;
    let ctx = command_context(&caller, &headers, "edit_rota", &raw, &body.value)?;
    let command = body.dto.parse().map_err(ApiError::Validation)?;
    Ok(outcome_response(
        state.app.edit_rota(&ctx, staff_id, command).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsDto {
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
    pub price_change_bound_percent: Option<i64>,
    pub shift_reminder_leads_minutes: Option<Vec<i64>>,
}

pub async fn change_settings(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<SettingsDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "change_settings", "", &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let why = reason(dto.reason.as_deref(), &mut errors);
    let bound = match dto.price_change_bound_percent {
        None => {
            errors.push(FieldError::new("price_change_bound_percent", "is required"));
            None
        }
        Some(b) => u32::try_from(b)
            .ok()
            .filter(|b| (1..=100).contains(b))
            .or_else(|| {
                errors.push(FieldError::new(
                    "price_change_bound_percent",
                    "must be a whole percentage from 1 to 100",
                ));
                None
            }),
    };
    let mut leads = Vec::new();
    let raw_leads = dto.shift_reminder_leads_minutes.unwrap_or_default();
    if raw_leads.len() > 5 {
        errors.push(FieldError::new("shift_reminder_leads_minutes", "at most 5"));
    }
    for (i, l) in raw_leads.iter().enumerate() {
        match u32::try_from(*l)
            .ok()
            .filter(|l| (1..=7 * 24 * 60).contains(l))
        {
            Some(l) if !leads.contains(&l) => leads.push(l),
            Some(_) => errors.push(FieldError::new(
                format!("shift_reminder_leads_minutes[{i}]"),
                "appears twice",
            )),
            None => errors.push(FieldError::new(
                format!("shift_reminder_leads_minutes[{i}]"),
                "must be 1 to 10080 minutes (a week)",
            )),
        }
    }
    leads.sort_unstable();
    let (Some(reason), Some(bound), true) = (why, bound, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let settings = SalonSettings {
        price_change_bound_percent: bound,
        shift_reminder_leads_minutes: leads,
    };
    Ok(outcome_response(
        state
            .app
            .change_settings(&ctx, dto.expected_version, settings, reason)
            .await?,
    ))
}
