//! The shift rota (STF-2): shift templates, repeating weekly patterns, per-day
//! overrides and time off, per person. One stream per person is the consistency
//! boundary: every edit is decided against the person's whole rota and appended with
//! the version it was decided on, so two concurrent edits that would overlap cannot
//! both land — the second is decided again on the first's result and refused (409),
//! while edits that do not clash both go through.
//!
//! Shifts outside the location's opening hours are allowed but flagged: in the
//! command's answer (`warnings`) and in every rota view.

use super::{App, AppError, CommandContext, Outcome, SideWrites};
use chrono::{Datelike, NaiveDate, Weekday};
use events_schema::envelope::DomainEvent;
use events_schema::ids::{LocationId, PatternId, ShiftTemplateId, StaffId, TenantId, TimeOffId};
use events_schema::location::{weekday_name, LocationSettings, WeeklyHours, WEEKDAYS};
use events_schema::rota::{
    self as wire, overlaps, DayOverridden, DayOverrideCleared, LocatedInterval, Pattern, Rota,
    RotaEvent, ShiftTemplate, ShiftTemplateEvent, ShiftTemplateSaved, TimeOff, TimeOffCancelled,
    TimeOffKind, TimeOffRecorded, WeeklyPatternRemoved, WeeklyPatternSet,
};
use events_schema::store::{self, ExpectedVersion};
use serde_json::json;

/// Tries of one rota edit when another edit of the same rota lands first.
const RETRIES: usize = 5;

/// The days of a pattern as sent: intervals per weekday, or a template on weekdays.
#[derive(Clone, Debug)]
pub enum PatternDays {
    Days(WeeklyHours),
    Template {
        template_id: ShiftTemplateId,
        weekdays: Vec<Weekday>,
    },
}

#[derive(Clone, Debug)]
pub enum RotaCommand {
    SetPattern {
        pattern_id: Option<PatternId>,
        location_id: LocationId,
        valid_from: NaiveDate,
        valid_until: Option<NaiveDate>,
        days: PatternDays,
        reason: Option<String>,
    },
    RemovePattern {
        pattern_id: PatternId,
        reason: String,
    },
    OverrideDay {
        date: NaiveDate,
        shifts: Vec<LocatedInterval>,
        reason: String,
    },
    ClearOverride {
        date: NaiveDate,
        reason: String,
    },
    RecordTimeOff {
        from: NaiveDate,
        to: NaiveDate,
        kind: TimeOffKind,
    },
    CancelTimeOff {
        time_off_id: TimeOffId,
        reason: String,
    },
}

/// The weekdays on which two patterns both apply (none when their dates do not meet).
fn shared_weekdays(a: &Pattern, b: &Pattern) -> Vec<Weekday> {
    let from = a.valid_from.max(b.valid_from);
    let until = match (a.valid_until, b.valid_until) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    match until {
        Some(u) if u < from => Vec::new(),
        Some(u) if (u - from).num_days() < 6 => from
            .iter_days()
            .take_while(|d| *d <= u)
            .map(|d| d.weekday())
            .collect(),
        _ => WEEKDAYS.iter().map(|(d, _)| *d).collect(),
    }
}

/// Why `pattern` cannot join `rota`: a shift of it overlaps a shift of another of the
/// person's patterns on a day both apply (at any location).
pub fn pattern_clash(rota: &Rota, pattern: &Pattern) -> Option<String> {
    for other in rota
        .patterns
        .iter()
        .filter(|p| p.pattern_id != pattern.pattern_id)
    {
        for w in shared_weekdays(pattern, other) {
            for a in pattern.days.of(w) {
                for b in other.days.of(w) {
                    if overlaps((a.start, a.end), (b.start, b.end)) {
                        return Some(format!(
                            "the shift {}–{} on {} overlaps the shift {}–{} of the person's pattern {} (from {})",
                            a.start.format("%H:%M"),
                            a.end.format("%H:%M"),
                            weekday_name(w),
                            b.start.format("%H:%M"),
                            b.end.format("%H:%M"),
                            other.pattern_id,
                            other.valid_from,
                        ));
                    }
                }
            }
        }
    }
    None
}

/// Decides one rota command against the person's rota and the locations they work at.
/// Returns the event and the flags of shifts outside opening hours.
pub fn decide(
    staff_id: StaffId,
    rota: &Rota,
    works_at: &[LocationId],
    command: RotaCommand,
    template: Option<&ShiftTemplate>,
) -> Result<RotaEvent, AppError> {
    let not_there = |l: LocationId| {
        AppError::Rule(format!(
            "the staff member does not work at location {l}; add it to their record first"
        ))
    };
    match command {
        RotaCommand::SetPattern {
            pattern_id,
            location_id,
            valid_from,
            valid_until,
            days,
            reason,
        } => {
            if !works_at.contains(&location_id) {
                return Err(not_there(location_id));
            }
            if let Some(id) = pattern_id {
                if !rota.patterns.iter().any(|p| p.pattern_id == id) {
                    return Err(AppError::NotFound("pattern"));
                }
            }
            let (days, template_id) = match days {
                PatternDays::Days(d) => (d, None),
                PatternDays::Template {
                    template_id,
                    weekdays,
                } => {
                    let t = template.ok_or(AppError::NotFound("shift template"))?;
                    let mut d = WeeklyHours::default();
                    for w in weekdays {
                        *d.of_mut(w) = t.intervals.clone();
                    }
                    (d, Some(template_id))
                }
            };
            let pattern = Pattern {
                pattern_id: pattern_id.unwrap_or_default(),
                location_id,
                valid_from,
                valid_until,
                days,
                template_id,
            };
            if let Some(clash) = pattern_clash(rota, &pattern) {
                return Err(AppError::Clash(clash));
            }
            Ok(RotaEvent::PatternSet(WeeklyPatternSet {
                staff_id,
                pattern,
                reason,
            }))
        }
        RotaCommand::RemovePattern { pattern_id, reason } => {
            if !rota.patterns.iter().any(|p| p.pattern_id == pattern_id) {
                return Err(AppError::NotFound("pattern"));
            }
            Ok(RotaEvent::PatternRemoved(WeeklyPatternRemoved {
                staff_id,
                pattern_id,
                reason,
            }))
        }
        RotaCommand::OverrideDay {
            date,
            shifts,
            reason,
        } => {
            if let Some(s) = shifts.iter().find(|s| !works_at.contains(&s.location_id)) {
                return Err(not_there(s.location_id));
            }
            if rota.overrides.get(&date) == Some(&shifts) {
                return Err(AppError::Rule(
                    "that day is already overridden exactly so".into(),
                ));
            }
            Ok(RotaEvent::DayOverridden(DayOverridden {
                staff_id,
                date,
                shifts,
                reason,
            }))
        }
        RotaCommand::ClearOverride { date, reason } => {
            if !rota.overrides.contains_key(&date) {
                return Err(AppError::NotFound("override of that date"));
            }
            Ok(RotaEvent::DayOverrideCleared(DayOverrideCleared {
                staff_id,
                date,
                reason,
            }))
        }
        RotaCommand::RecordTimeOff { from, to, kind } => {
            if let Some(t) = rota.time_off.iter().find(|t| t.from <= to && from <= t.to) {
                return Err(AppError::Clash(format!(
                    "overlaps the time off from {} to {}",
                    t.from, t.to
                )));
            }
            Ok(RotaEvent::TimeOffRecorded(TimeOffRecorded {
                staff_id,
                time_off: TimeOff {
                    time_off_id: TimeOffId::new(),
                    from,
                    to,
                    kind,
                },
            }))
        }
        RotaCommand::CancelTimeOff {
            time_off_id,
            reason,
        } => {
            if !rota.time_off.iter().any(|t| t.time_off_id == time_off_id) {
                return Err(AppError::NotFound("time off"));
            }
            Ok(RotaEvent::TimeOffCancelled(TimeOffCancelled {
                staff_id,
                time_off_id,
                reason,
            }))
        }
    }
}

/// Shifts of the event that fall outside their location's opening hours: per weekday
/// for a pattern (against the weekly hours), per date for an override.
fn outside_opening(
    event: &RotaEvent,
    locations: &[(LocationId, LocationSettings)],
) -> Vec<serde_json::Value> {
    let settings = |l: LocationId| locations.iter().find(|(id, _)| *id == l).map(|(_, s)| s);
    let mut out = Vec::new();
    match event {
        RotaEvent::PatternSet(e) => {
            let Some(s) = settings(e.pattern.location_id) else {
                return out;
            };
            for (w, _) in WEEKDAYS {
                for iv in e.pattern.days.of(w) {
                    let open = s
                        .weekly_hours
                        .of(w)
                        .iter()
                        .any(|o| o.start <= iv.start && iv.end <= o.end);
                    if !open {
                        out.push(json!({
                            "weekday": weekday_name(w),
                            "location_id": e.pattern.location_id,
                            "start": iv.start.format("%H:%M").to_string(),
                            "end": iv.end.format("%H:%M").to_string(),
                            "problem": "outside the location's opening hours",
                        }));
                    }
                }
            }
        }
        RotaEvent::DayOverridden(e) => {
            for sh in &e.shifts {
                if settings(sh.location_id)
                    .is_some_and(|s| !s.is_open_throughout(e.date, sh.start, sh.end))
                {
                    out.push(json!({
                        "date": e.date,
                        "location_id": sh.location_id,
                        "start": sh.start.format("%H:%M").to_string(),
                        "end": sh.end.format("%H:%M").to_string(),
                        "problem": "outside the location's opening hours",
                    }));
                }
            }
        }
        _ => {}
    }
    out
}

const SAVE_ROTA: &str = "\
INSERT INTO rota.current (tenant_id, staff_id, version, rota) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, staff_id) DO UPDATE SET version = EXCLUDED.version, rota = EXCLUDED.rota";

impl App {
    /// One edit of a person's rota, decided on its latest version (retried when
    /// another edit lands first).
    pub async fn edit_rota(
        &self,
        ctx: &CommandContext,
        staff_id: StaffId,
        command: RotaCommand,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let staff = self.load_staff(ctx.tenant, staff_id).await?;
        if !staff.active {
            return Err(AppError::Rule(
                "this staff member is deactivated and has no rota".into(),
            ));
        }
        let works_at = staff.record.work.locations;
        let template = match &command {
            RotaCommand::SetPattern {
                days: PatternDays::Template { template_id, .. },
                ..
            } => Some(self.load_template(ctx.tenant, *template_id).await?.1),
            _ => None,
        };
        let mut locations = Vec::new();
        for l in &works_at {
            if let Some(s) = self.location_settings(ctx.tenant, *l).await? {
                locations.push((*l, s));
            }
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let (version, mut rota) = self.load_rota(ctx.tenant, staff_id).await?;
            let event = decide(
                staff_id,
                &rota,
                &works_at,
                command.clone(),
                template.as_ref(),
            )?;
            let warnings = outside_opening(&event, &locations);
            rota.apply(&event);
            let snapshot = serde_json::to_value(&rota).map_err(|e| AppError::Internal(e.into()))?;
            let (tenant, staff, next) = (ctx.tenant.as_uuid(), staff_id.as_uuid(), version + 1);
            let side = SideWrites {
                statements: vec![(SAVE_ROTA, vec![&tenant, &staff, &next, &snapshot])],
                body: vec![("warnings", json!(warnings))],
                ..Default::default()
            };
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            match self
                .append_one_with(
                    ctx,
                    (&wire::stream_id(staff_id), expected),
                    &event,
                    200,
                    ("staff_id", staff),
                    &side,
                )
                .await
            {
                Err(AppError::Conflict) if tries < RETRIES => continue,
                Ok(outcome) => {
                    self.notifier.plan_wakeup.notify_one();
                    return Ok(outcome);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A person's rota and its stream version (0: no rota yet).
    pub async fn load_rota(
        &self,
        tenant: TenantId,
        staff: StaffId,
    ) -> Result<(i64, Rota), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::stream_id(staff)).await?;
        let mut rota = Rota::default();
        for e in &history {
            let event = RotaEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| AppError::Internal(err.into()))?;
            rota.apply(&event);
        }
        Ok((history.last().map_or(0, |e| e.stream_version), rota))
    }

    /// A location's current settings, if it exists.
    pub async fn location_settings(
        &self,
        tenant: TenantId,
        id: LocationId,
    ) -> Result<Option<LocationSettings>, AppError> {
        match self.load_location(tenant, id).await {
            Ok((_, settings)) => Ok(Some(settings)),
            Err(AppError::Location(super::locations::LocationError::NotFound)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn load_template(
        &self,
        tenant: TenantId,
        id: ShiftTemplateId,
    ) -> Result<(i64, ShiftTemplate), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::template_stream_id(id)).await?;
        let mut current = None;
        for e in &history {
            let ShiftTemplateEvent::Saved(s) =
                ShiftTemplateEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Internal(err.into()))?;
            current = Some((e.stream_version, s.template));
        }
        current.ok_or(AppError::NotFound("shift template"))
    }

    /// Creates (`id` none) or changes a shift template. Patterns made from it earlier
    /// keep their copy of its hours.
    pub async fn save_template(
        &self,
        ctx: &CommandContext,
        id: Option<ShiftTemplateId>,
        template: ShiftTemplate,
        reason: Option<String>,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let (template_id, expected, status) = match id {
            None => (ShiftTemplateId::new(), ExpectedVersion::NoStream, 201),
            Some(id) => {
                let (version, current) = self.load_template(ctx.tenant, id).await?;
                if current == template {
                    return Err(AppError::Rule(
                        "the template is already exactly this".into(),
                    ));
                }
                (id, ExpectedVersion::Exact(version), 200)
            }
        };
        let event = ShiftTemplateEvent::Saved(ShiftTemplateSaved {
            template_id,
            template,
            reason,
        });
        self.append_one(
            ctx,
            (&wire::template_stream_id(template_id), expected),
            &event,
            status,
            ("template_id", template_id.as_uuid()),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use events_schema::location::Interval;

    fn t(h: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default()
    }

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, m, day).unwrap_or_default()
    }

    fn pattern(
        loc: LocationId,
        from: NaiveDate,
        until: Option<NaiveDate>,
        mon: (u32, u32),
    ) -> Pattern {
        Pattern {
            pattern_id: PatternId::new(),
            location_id: loc,
            valid_from: from,
            valid_until: until,
            days: WeeklyHours {
                mon: vec![Interval {
                    start: t(mon.0),
                    end: t(mon.1),
                }],
                ..Default::default()
            },
            template_id: None,
        }
    }

    #[test]
    fn patterns_clash_only_where_their_dates_and_hours_meet() {
        let (a, b) = (LocationId::new(), LocationId::new());
        let mut rota = Rota::default();
        rota.patterns
            .push(pattern(a, d(3, 1), Some(d(3, 31)), (9, 13)));
        // Same weekday, overlapping hours, at another location: a clash.
        assert!(pattern_clash(&rota, &pattern(b, d(3, 15), None, (12, 18))).is_some());
        // Back to back: fine.
        assert!(pattern_clash(&rota, &pattern(b, d(3, 15), None, (13, 18))).is_none());
        // After the first ends: fine.
        assert!(pattern_clash(&rota, &pattern(b, d(4, 1), None, (9, 18))).is_none());
        // Dates meet only on a Tuesday to Sunday (2027-03-30 is a Tuesday): fine.
        assert!(pattern_clash(&rota, &pattern(b, d(3, 30), Some(d(4, 4)), (9, 18))).is_none());
        // …but a week that holds a Monday (2027-03-29): a clash.
        assert!(pattern_clash(&rota, &pattern(b, d(3, 29), Some(d(3, 30)), (9, 18))).is_some());
    }
}
