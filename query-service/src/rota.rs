//! Rota views (STF-2): each person's rules expanded per date, in the zone of each
//! shift's location, so a shift's instants and length are right on daylight-saving days
//! (a 09:00–17:00 shift on the day clocks go forward is still 09:00–17:00 on the wall,
//! and eight hours long; one across the gap is an hour shorter). Shifts outside their
//! location's opening hours that date are flagged.

use crate::read::staff::PersonRota;
use chrono::{DateTime, NaiveDate, Utc};
use events_schema::ids::{LocationId, StaffId, TimeOffId};
use events_schema::localtime;
use events_schema::location::LocationSettings;
use events_schema::rota::{ShiftSource, TimeOffKind};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Serialize)]
pub struct ShiftView {
    pub staff_id: StaffId,
    pub staff_name: String,
    pub location_id: LocationId,
    pub location_name: String,
    pub date: NaiveDate,
    /// Local wall-clock times as set.
    pub start: String,
    pub end: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Minutes actually worked (other than the wall-clock span on a DST day).
    pub minutes: i64,
    pub source: ShiftSource,
    pub outside_opening_hours: bool,
}

#[derive(Debug, Serialize)]
pub struct TimeOffView {
    pub staff_id: StaffId,
    pub staff_name: String,
    pub time_off_id: TimeOffId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub kind: TimeOffKind,
}

#[derive(Debug, Serialize)]
pub struct RotaView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub shifts: Vec<ShiftView>,
    pub time_off: Vec<TimeOffView>,
}

/// A location as the view needs it.
pub struct Place {
    pub name: String,
    pub settings: LocationSettings,
    pub tz: chrono_tz::Tz,
}

/// The shifts and time off of `people` from `from` to `to` inclusive, at `only` when
/// given, sorted by start instant then person.
pub fn expand(
    people: &[PersonRota],
    places: &HashMap<LocationId, Place>,
    only: Option<LocationId>,
    from: NaiveDate,
    to: NaiveDate,
) -> RotaView {
    let mut shifts = Vec::new();
    let mut time_off = Vec::new();
    for person in people {
        for t in &person.rota.time_off {
            if t.from <= to && from <= t.to {
                time_off.push(TimeOffView {
                    staff_id: person.staff_id,
                    staff_name: person.name.clone(),
                    time_off_id: t.time_off_id,
                    from: t.from,
                    to: t.to,
                    kind: t.kind,
                });
            }
        }
        for date in from.iter_days().take_while(|d| *d <= to) {
            for s in person.rota.shifts_on(date) {
                if only.is_some_and(|l| l != s.location_id) {
                    continue;
                }
                let Some(place) = places.get(&s.location_id) else {
                    continue;
                };
                let Some((starts_at, ends_at)) =
                    localtime::interval(place.tz, date, s.start, s.end)
                else {
                    continue;
                };
                shifts.push(ShiftView {
                    staff_id: person.staff_id,
                    staff_name: person.name.clone(),
                    location_id: s.location_id,
                    location_name: place.name.clone(),
                    date,
                    start: s.start.format("%H:%M").to_string(),
                    end: s.end.format("%H:%M").to_string(),
                    starts_at,
                    ends_at,
                    minutes: (ends_at - starts_at).num_minutes(),
                    source: s.source,
                    outside_opening_hours: !place.settings.is_open_throughout(date, s.start, s.end),
                });
            }
        }
    }
    shifts.sort_by(|a, b| {
        (a.starts_at, &a.staff_name, a.staff_id).cmp(&(b.starts_at, &b.staff_name, b.staff_id))
    });
    RotaView {
        from,
        to,
        shifts,
        time_off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use events_schema::ids::PatternId;
    use events_schema::location::{Interval, WeeklyHours};
    use events_schema::rota::{Pattern, Rota};

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    fn every_day(ivs: &[(NaiveTime, NaiveTime)]) -> WeeklyHours {
        let day: Vec<Interval> = ivs
            .iter()
            .map(|(start, end)| Interval {
                start: *start,
                end: *end,
            })
            .collect();
        WeeklyHours {
            mon: day.clone(),
            tue: day.clone(),
            wed: day.clone(),
            thu: day.clone(),
            fri: day.clone(),
            sat: day.clone(),
            sun: day,
        }
    }

    fn setup(zone: &str) -> (Vec<PersonRota>, HashMap<LocationId, Place>, LocationId) {
        let loc = LocationId::new();
        let settings = LocationSettings {
            name: "Salon".into(),
            time_zone: zone.into(),
            weekly_hours: every_day(&[(t(9, 0), t(18, 0))]),
            closures: vec![],
            exceptions: vec![],
            rooms: vec![],
            max_simultaneous_bookings: None,
            reminder_leads_minutes: vec![],
            booking_rules: Default::default(),
            waitlist_reply_minutes: 30,
            waitlist_offers_per_day: 3,
        };
        let rota = Rota {
            patterns: vec![Pattern {
                pattern_id: PatternId::new(),
                location_id: loc,
                valid_from: d(2027, 1, 1),
                valid_until: None,
                days: every_day(&[
                    (t(0, 30), t(3, 0)),
                    (t(9, 0), t(17, 0)),
                    (t(17, 0), t(19, 0)),
                ]),
                template_id: None,
            }],
            ..Default::default()
        };
        let person = PersonRota {
            staff_id: StaffId::new(),
            name: "王芳".into(),
            rota,
        };
        let place = Place {
            name: "Salon".into(),
            tz: zone.parse().unwrap_or(chrono_tz::UTC),
            settings,
        };
        (vec![person], HashMap::from([(loc, place)]), loc)
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn london_shifts_keep_their_wall_clock_across_both_transitions() {
        let (people, places, _) = setup("Europe/London");
        // 2027-03-28: clocks go forward at 01:00 GMT; 2027-10-31: back at 02:00 BST.
        let view = expand(&people, &places, None, d(2027, 3, 27), d(2027, 3, 28));
        let on = |date| view.shifts.iter().filter(move |s| s.date == date);
        let before: Vec<_> = on(d(2027, 3, 27)).collect();
        assert_eq!(before[0].starts_at, at("2027-03-27T00:30:00Z"));
        assert_eq!(before[0].minutes, 150);
        assert_eq!(before[1].starts_at, at("2027-03-27T09:00:00Z"));
        let day: Vec<_> = on(d(2027, 3, 28)).collect();
        // 00:30–03:00 local spans the gap (01:00–02:00 does not exist): 90 minutes.
        assert_eq!(day[0].starts_at, at("2027-03-28T00:30:00Z"));
        assert_eq!(day[0].ends_at, at("2027-03-28T02:00:00Z"));
        assert_eq!(day[0].minutes, 90);
        // 09:00 BST is 08:00 UTC, eight hours.
        assert_eq!(day[1].starts_at, at("2027-03-28T08:00:00Z"));
        assert_eq!(day[1].minutes, 480);
        assert!(day[0].outside_opening_hours && !day[1].outside_opening_hours);
        assert!(
            day[2].outside_opening_hours,
            "17:00–19:00 runs past closing at 18:00"
        );

        let view = expand(&people, &places, None, d(2027, 10, 31), d(2027, 10, 31));
        // 00:30–03:00 local with 01:00–02:00 twice: 210 minutes.
        assert_eq!(view.shifts[0].starts_at, at("2027-10-30T23:30:00Z"));
        assert_eq!(view.shifts[0].minutes, 210);
        assert_eq!(view.shifts[1].starts_at, at("2027-10-31T09:00:00Z"));
    }

    #[test]
    fn shanghai_is_utc_plus_eight_all_year() {
        let (people, places, loc) = setup("Asia/Shanghai");
        for date in [d(2027, 3, 28), d(2027, 7, 1), d(2027, 10, 31)] {
            let view = expand(&people, &places, Some(loc), date, date);
            assert_eq!(view.shifts.len(), 3);
            assert_eq!(
                view.shifts[1].starts_at,
                date.and_time(t(1, 0)).and_utc(),
                "09:00 in Shanghai is 01:00 UTC"
            );
            assert_eq!(view.shifts[0].minutes, 150);
        }
        let elsewhere = expand(
            &people,
            &places,
            Some(LocationId::new()),
            d(2027, 7, 1),
            d(2027, 7, 1),
        );
        assert!(elsewhere.shifts.is_empty());
    }
}
