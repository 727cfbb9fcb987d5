//! Local wall-clock times to instants in an IANA zone (APT-15, DESIGN §7), the one rule
//! for opening hours and shifts alike.
//!
//! A wall-clock time that does not exist (the spring-forward gap) becomes the first
//! instant after the gap; one that exists twice (fall-back) starts at its earlier
//! instant and ends at its later one, so an interval covers the whole wall-clock span
//! it states.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Which end of an interval a time is (decides the fall-back hour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Start,
    End,
}

/// The instant of a local wall-clock time; `None` only for times no zone reaches.
pub fn instant(tz: Tz, local: NaiveDateTime, side: Side) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, late) => {
            Some(if side == Side::Start { early } else { late }.with_timezone(&Utc))
        }
        LocalResult::None => {
            // In a gap: the first wall-clock minute after it (gaps are at most a few hours).
            (1..=24 * 60).find_map(|m| {
                match tz.from_local_datetime(&(local + Duration::minutes(m))) {
                    LocalResult::None => None,
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        Some(t.with_timezone(&Utc))
                    }
                }
            })
        }
    }
}

/// The instants of a local interval `[start, end)` on `date`; `None` when it has no
/// length left (it lies wholly inside a gap).
pub fn interval(
    tz: Tz,
    date: chrono::NaiveDate,
    start: chrono::NaiveTime,
    end: chrono::NaiveTime,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let s = instant(tz, date.and_time(start), Side::Start)?;
    let e = instant(tz, date.and_time(end), Side::End)?;
    (e > s).then_some((s, e))
}
