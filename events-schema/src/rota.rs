//! Events of the shift rota (STF-2): one stream per person (`rota-<staff uuid>`), and
//! one per shift template (`shift-template-<uuid>`).
//!
//! A person's rota is a set of rules in local wall-clock time, expanded per date
//! (DESIGN §7): repeating weekly patterns (each at one location, valid over a range of
//! dates), per-day overrides (that day's shifts instead of the patterns': an
//! adjustment, an extra shift, a day off), and time off (whole days, no shifts). The
//! instants of a shift come from its location's zone on that date, so a rota is right
//! across daylight-saving changes. Reasons are business text (never personal data); a
//! time off carries only its kind.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::{LocationId, PatternId, ShiftTemplateId, StaffId, TimeOffId};
use crate::location::{Interval, WeeklyHours};
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STREAM_TYPE: &str = "rota";
pub const TEMPLATE_STREAM_TYPE: &str = "shift_template";

pub fn stream_id(staff: StaffId) -> String {
    format!("rota-{staff}")
}

pub fn template_stream_id(id: ShiftTemplateId) -> String {
    format!("shift-template-{id}")
}

/// A shift template: a name and the working intervals of a day (breaks between them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftTemplate {
    pub name: String,
    pub intervals: Vec<Interval>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftTemplateSaved {
    pub template_id: ShiftTemplateId,
    pub template: ShiftTemplate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShiftTemplateEvent {
    Saved(ShiftTemplateSaved),
}

impl DomainEvent for ShiftTemplateEvent {
    const STREAM_TYPE: &'static str = TEMPLATE_STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        "ShiftTemplateSaved"
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        let ShiftTemplateEvent::Saved(e) = self;
        new_event(self.event_type(), 1, e)
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("ShiftTemplateSaved", 1) => {
                decode_payload(event_type, payload).map(ShiftTemplateEvent::Saved)
            }
            ("ShiftTemplateSaved", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}

/// A local interval at a location (a shift of an override).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatedInterval {
    pub location_id: LocationId,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// A repeating weekly pattern at one location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    pub pattern_id: PatternId,
    pub location_id: LocationId,
    pub valid_from: NaiveDate,
    /// Last date it applies (inclusive); none: open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
    pub days: WeeklyHours,
    /// The template its days were taken from, if any (a copy: changing the template
    /// later does not change the pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<ShiftTemplateId>,
}

impl Pattern {
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_until.is_none_or(|u| date <= u)
    }
}

/// Why someone is away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeOffKind {
    Leave,
    Sick,
    Training,
    Other,
}

impl TimeOffKind {
    pub const ALL: [TimeOffKind; 4] = [
        TimeOffKind::Leave,
        TimeOffKind::Sick,
        TimeOffKind::Training,
        TimeOffKind::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TimeOffKind::Leave => "leave",
            TimeOffKind::Sick => "sick",
            TimeOffKind::Training => "training",
            TimeOffKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<TimeOffKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOff {
    pub time_off_id: TimeOffId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub kind: TimeOffKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyPatternSet {
    pub staff_id: StaffId,
    pub pattern: Pattern,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyPatternRemoved {
    pub staff_id: StaffId,
    pub pattern_id: PatternId,
    pub reason: String,
}

/// The day's shifts instead of the patterns' (none: a day off).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayOverridden {
    pub staff_id: StaffId,
    pub date: NaiveDate,
    pub shifts: Vec<LocatedInterval>,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayOverrideCleared {
    pub staff_id: StaffId,
    pub date: NaiveDate,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOffRecorded {
    pub staff_id: StaffId,
    pub time_off: TimeOff,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOffCancelled {
    pub staff_id: StaffId,
    pub time_off_id: TimeOffId,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotaEvent {
    PatternSet(WeeklyPatternSet),
    PatternRemoved(WeeklyPatternRemoved),
    DayOverridden(DayOverridden),
    DayOverrideCleared(DayOverrideCleared),
    TimeOffRecorded(TimeOffRecorded),
    TimeOffCancelled(TimeOffCancelled),
}

impl RotaEvent {
    pub fn staff_id(&self) -> StaffId {
        match self {
            RotaEvent::PatternSet(e) => e.staff_id,
            RotaEvent::PatternRemoved(e) => e.staff_id,
            RotaEvent::DayOverridden(e) => e.staff_id,
            RotaEvent::DayOverrideCleared(e) => e.staff_id,
            RotaEvent::TimeOffRecorded(e) => e.staff_id,
            RotaEvent::TimeOffCancelled(e) => e.staff_id,
        }
    }
}

const ROTA_EVENT_TYPES: [&str; 6] = [
    "WeeklyPatternSet",
    "WeeklyPatternRemoved",
    "DayOverridden",
    "DayOverrideCleared",
    "TimeOffRecorded",
    "TimeOffCancelled",
];

impl DomainEvent for RotaEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            RotaEvent::PatternSet(_) => ROTA_EVENT_TYPES[0],
            RotaEvent::PatternRemoved(_) => ROTA_EVENT_TYPES[1],
            RotaEvent::DayOverridden(_) => ROTA_EVENT_TYPES[2],
            RotaEvent::DayOverrideCleared(_) => ROTA_EVENT_TYPES[3],
            RotaEvent::TimeOffRecorded(_) => ROTA_EVENT_TYPES[4],
            RotaEvent::TimeOffCancelled(_) => ROTA_EVENT_TYPES[5],
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        let t = self.event_type();
        match self {
            RotaEvent::PatternSet(e) => new_event(t, 1, e),
            RotaEvent::PatternRemoved(e) => new_event(t, 1, e),
            RotaEvent::DayOverridden(e) => new_event(t, 1, e),
            RotaEvent::DayOverrideCleared(e) => new_event(t, 1, e),
            RotaEvent::TimeOffRecorded(e) => new_event(t, 1, e),
            RotaEvent::TimeOffCancelled(e) => new_event(t, 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        if !ROTA_EVENT_TYPES.contains(&event_type) {
            return Err(DecodeError::UnknownType(event_type.to_owned()));
        }
        if schema_version != 1 {
            return Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: schema_version,
            });
        }
        let p = payload;
        Ok(match event_type {
            "WeeklyPatternSet" => RotaEvent::PatternSet(decode_payload(event_type, p)?),
            "WeeklyPatternRemoved" => RotaEvent::PatternRemoved(decode_payload(event_type, p)?),
            "DayOverridden" => RotaEvent::DayOverridden(decode_payload(event_type, p)?),
            "DayOverrideCleared" => RotaEvent::DayOverrideCleared(decode_payload(event_type, p)?),
            "TimeOffRecorded" => RotaEvent::TimeOffRecorded(decode_payload(event_type, p)?),
            _ => RotaEvent::TimeOffCancelled(decode_payload(event_type, p)?),
        })
    }
}

/// Where a shift of a date comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShiftSource {
    Pattern { pattern_id: PatternId },
    Override,
}

/// One shift of one date, in local wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DayShift {
    pub location_id: LocationId,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub source: ShiftSource,
}

/// A person's rota: the fold of its stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rota {
    pub patterns: Vec<Pattern>,
    pub overrides: BTreeMap<NaiveDate, Vec<LocatedInterval>>,
    pub time_off: Vec<TimeOff>,
}

impl Rota {
    pub fn apply(&mut self, event: &RotaEvent) {
        match event {
            RotaEvent::PatternSet(e) => {
                self.patterns
                    .retain(|p| p.pattern_id != e.pattern.pattern_id);
                self.patterns.push(e.pattern.clone());
                self.patterns.sort_by_key(|p| (p.valid_from, p.pattern_id));
            }
            RotaEvent::PatternRemoved(e) => self.patterns.retain(|p| p.pattern_id != e.pattern_id),
            RotaEvent::DayOverridden(e) => {
                self.overrides.insert(e.date, e.shifts.clone());
            }
            RotaEvent::DayOverrideCleared(e) => {
                self.overrides.remove(&e.date);
            }
            RotaEvent::TimeOffRecorded(e) => {
                self.time_off
                    .retain(|t| t.time_off_id != e.time_off.time_off_id);
                self.time_off.push(e.time_off.clone());
                self.time_off.sort_by_key(|t| (t.from, t.time_off_id));
            }
            RotaEvent::TimeOffCancelled(e) => {
                self.time_off.retain(|t| t.time_off_id != e.time_off_id)
            }
        }
    }

    /// The time off covering a date, if any.
    pub fn time_off_on(&self, date: NaiveDate) -> Option<&TimeOff> {
        self.time_off
            .iter()
            .find(|t| t.from <= date && date <= t.to)
    }

    /// The shifts of a date, sorted by start: none on time off; an override's where
    /// there is one; else every covering pattern's intervals of that weekday.
    pub fn shifts_on(&self, date: NaiveDate) -> Vec<DayShift> {
        if self.time_off_on(date).is_some() {
            return Vec::new();
        }
        let mut out: Vec<DayShift> = match self.overrides.get(&date) {
            Some(shifts) => shifts
                .iter()
                .map(|s| DayShift {
                    location_id: s.location_id,
                    start: s.start,
                    end: s.end,
                    source: ShiftSource::Override,
                })
                .collect(),
            None => self
                .patterns
                .iter()
                .filter(|p| p.covers(date))
                .flat_map(|p| {
                    p.days
                        .of(chrono::Datelike::weekday(&date))
                        .iter()
                        .map(|iv| DayShift {
                            location_id: p.location_id,
                            start: iv.start,
                            end: iv.end,
                            source: ShiftSource::Pattern {
                                pattern_id: p.pattern_id,
                            },
                        })
                })
                .collect(),
        };
        out.sort_by_key(|s| (s.start, s.end));
        out
    }
}

/// Whether two local intervals of one day overlap (touching does not).
pub fn overlaps(a: (NaiveTime, NaiveTime), b: (NaiveTime, NaiveTime)) -> bool {
    a.0 < b.1 && b.0 < a.1
}
