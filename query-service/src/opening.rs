//! A location's opening calendar (APT-2, APT-15): the open intervals of each date in a
//! range — from its weekly hours, less its closures, with its one-off exceptions taking
//! precedence — as local wall-clock times and as exact instants in its time zone.
//!
//! Daylight saving: a wall-clock time that does not exist (the spring-forward gap)
//! becomes the first instant after the gap; one that exists twice (fall-back) opens at
//! its earlier instant and closes at its later one, so the salon is open for the whole
//! wall-clock span it stated.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use events_schema::localtime;
use events_schema::location::LocationSettings;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenInterval {
    pub date: NaiveDate,
    /// Local wall-clock times as set (`09:00`).
    pub local_start: String,
    pub local_end: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Minutes actually open (shorter or longer than the wall-clock span on a DST day).
    pub minutes: i64,
}

/// The open intervals of every date from `from` to `to` inclusive.
pub fn calendar(
    settings: &LocationSettings,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<OpenInterval> {
    let mut out = Vec::new();
    let mut date = from;
    while date <= to {
        for iv in settings.hours_on(date) {
            if let Some((start, end)) = localtime::interval(tz, date, iv.start, iv.end) {
                out.push(OpenInterval {
                    date,
                    local_start: iv.start.format("%H:%M").to_string(),
                    local_end: iv.end.format("%H:%M").to_string(),
                    start,
                    end,
                    minutes: (end - start).num_minutes(),
                });
            }
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use events_schema::location::{Closure, Exception, Interval, WeeklyHours};

    fn t(h: u32, m: u32) -> chrono::NaiveTime {
        chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    fn settings(zone: &str) -> LocationSettings {
        let day = vec![
            Interval {
                start: t(9, 0),
                end: t(12, 0),
            },
            Interval {
                start: t(13, 0),
                end: t(18, 0),
            },
        ];
        LocationSettings {
            name: "Test".into(),
            time_zone: zone.into(),
            weekly_hours: WeeklyHours {
                mon: day.clone(),
                tue: day.clone(),
                wed: day.clone(),
                thu: day.clone(),
                fri: day.clone(),
                sat: day,
                sun: vec![Interval {
                    start: t(0, 30),
                    end: t(3, 0),
                }],
            },
            closures: vec![Closure {
                from: d(2027, 1, 1),
                to: d(2027, 1, 2),
                reason: "New Year".into(),
            }],
            exceptions: vec![Exception {
                date: d(2027, 1, 4),
                hours: vec![Interval {
                    start: t(10, 0),
                    end: t(14, 0),
                }],
                reason: "stocktaking".into(),
            }],
            rooms: vec![],
            max_simultaneous_bookings: None,
            reminder_leads_minutes: vec![],
            booking_rules: Default::default(),
            waitlist_reply_minutes: 30,
            waitlist_offers_per_day: 3,
        }
    }

    #[test]
    fn breaks_closures_and_exceptions_in_shanghai() {
        let s = settings("Asia/Shanghai");
        let days = calendar(
            &s,
            chrono_tz::Asia::Shanghai,
            d(2026, 12, 31),
            d(2027, 1, 4),
        );
        let dates: Vec<NaiveDate> = days.iter().map(|i| i.date).collect();
        // Thu 31 Dec: two intervals; 1-2 Jan closed; Sun 3 Jan: night hours; Mon 4 Jan: exception.
        assert_eq!(
            dates,
            [
                d(2026, 12, 31),
                d(2026, 12, 31),
                d(2027, 1, 3),
                d(2027, 1, 4)
            ]
        );
        assert_eq!(days[0].start, utc("2026-12-31T01:00:00Z"));
        assert_eq!(days[1].end, utc("2026-12-31T10:00:00Z"));
        assert_eq!(days[3].local_start, "10:00");
        assert_eq!(days[3].minutes, 240);
    }

    #[test]
    fn spring_forward_and_fall_back_in_london() {
        let s = settings("Europe/London");
        let tz = chrono_tz::Europe::London;
        // Sunday 28 March 2027: clocks go from 01:00 GMT to 02:00 BST. Open 00:30–03:00
        // local: 00:30 GMT to 03:00 BST = 1.5 hours.
        let spring = calendar(&s, tz, d(2027, 3, 28), d(2027, 3, 29));
        assert_eq!(spring[0].start, utc("2027-03-28T00:30:00Z"));
        assert_eq!(spring[0].end, utc("2027-03-28T02:00:00Z"));
        assert_eq!(spring[0].minutes, 90);
        // Monday after: summer time, 09:00 BST = 08:00Z.
        assert_eq!(spring[1].start, utc("2027-03-29T08:00:00Z"));
        // Sunday 31 October 2027: 02:00 BST back to 01:00 GMT. 00:30 BST to 03:00 GMT = 3.5 hours.
        let fall = calendar(&s, tz, d(2027, 10, 31), d(2027, 10, 31));
        assert_eq!(fall[0].start, utc("2027-10-30T23:30:00Z"));
        assert_eq!(fall[0].end, utc("2027-10-31T03:00:00Z"));
        assert_eq!(fall[0].minutes, 210);
    }

    #[test]
    fn a_start_inside_the_gap_opens_when_the_gap_ends() {
        let mut s = settings("Europe/London");
        s.weekly_hours.sun = vec![Interval {
            start: t(1, 30),
            end: t(4, 0),
        }];
        let days = calendar(
            &s,
            chrono_tz::Europe::London,
            d(2027, 3, 28),
            d(2027, 3, 28),
        );
        // 01:30 does not exist that night; the first instant after the gap is 02:00 BST.
        assert_eq!(days[0].start, utc("2027-03-28T01:00:00Z"));
        assert_eq!(days[0].end, utc("2027-03-28T03:00:00Z"));
    }
}
