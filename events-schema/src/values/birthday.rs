//! Birthdays (CUS-2): a real calendar date, not in the future, not before 1900.
//!
//! Input is strictly `YYYY-MM-DD` (zero-padded, surrounding whitespace ignored), so
//! that `03/04/1990`-style dates, whose meaning depends on the locale, are refused
//! rather than guessed. Importers that read other formats convert them first and use
//! [`Birthday::from_date`].

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::{ValueError, EARLIEST_BIRTH_DATE};

const BAD_FORMAT: &str = "Birthday must be a date written YYYY-MM-DD.";
const NOT_A_DATE: &str = "Birthday is not a real calendar date.";
const IN_FUTURE: &str = "Birthday must not be in the future.";
const TOO_EARLY: &str = "Birthday must not be before 1900-01-01.";

/// A validated birthday. `Debug` prints the masked form (month and day only).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Birthday(NaiveDate);

/// Parses exactly `N` ASCII digits.
fn digits<const N: usize>(s: Option<&str>) -> Option<u32> {
    let s = s?;
    if s.len() == N && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

impl Birthday {
    /// Parses `YYYY-MM-DD`; `today` is the latest date accepted.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Birthday, ValueError> {
        let s = input.trim();
        let mut parts = s.split('-');
        let (Some(y), Some(m), Some(d), None) = (
            digits::<4>(parts.next()),
            digits::<2>(parts.next()),
            digits::<2>(parts.next()),
            parts.next(),
        ) else {
            return Err(ValueError::Invalid(BAD_FORMAT));
        };
        let year = i32::try_from(y).map_err(|_| ValueError::Invalid(BAD_FORMAT))?;
        let date = NaiveDate::from_ymd_opt(year, m, d).ok_or(ValueError::Invalid(NOT_A_DATE))?;
        Birthday::from_date(date, today)
    }

    /// Accepts an already decoded date (e.g. from an ID-card number or a spreadsheet
    /// cell) under the same bounds as [`Birthday::parse`].
    pub fn from_date(date: NaiveDate, today: NaiveDate) -> Result<Birthday, ValueError> {
        if date > today {
            Err(ValueError::Invalid(IN_FUTURE))
        } else if date < EARLIEST_BIRTH_DATE {
            Err(ValueError::Invalid(TOO_EARLY))
        } else {
            Ok(Birthday(date))
        }
    }

    /// The date.
    #[must_use]
    pub fn date(&self) -> NaiveDate {
        self.0
    }

    /// `YYYY-MM-DD`.
    #[must_use]
    pub fn as_string(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }

    /// `****-MM-DD`: the year (hence the age) is hidden, month and day stay visible
    /// for birthday greetings.
    #[must_use]
    pub fn masked(&self) -> String {
        format!("****-{:02}-{:02}", self.0.month(), self.0.day())
    }
}

impl fmt::Debug for Birthday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Birthday").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap_or_default()
    }

    #[test]
    fn accepts() {
        let cases = [
            ("1990-01-31", "1990-01-31"),
            (" 2000-02-29 ", "2000-02-29"),
            ("1900-01-01", "1900-01-01"),
            ("2025-06-15", "2025-06-15"),
        ];
        for (input, expected) in cases {
            let birthday =
                Birthday::parse(input, today()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(birthday.as_string(), expected);
        }
    }

    #[test]
    fn rejects() {
        let cases = [
            ("", BAD_FORMAT),
            ("1990-1-5", BAD_FORMAT),
            ("1990/01/05", BAD_FORMAT),
            ("19900105", BAD_FORMAT),
            ("05-01-1990", BAD_FORMAT),
            ("1990-01-05T00:00", BAD_FORMAT),
            ("1990-01-05-01", BAD_FORMAT),
            ("+1990-01-05", BAD_FORMAT),
            ("１９９０-01-05", BAD_FORMAT),
            ("1990-02-30", NOT_A_DATE),
            ("1900-02-29", NOT_A_DATE),
            ("1990-13-01", NOT_A_DATE),
            ("1990-00-10", NOT_A_DATE),
            ("2025-06-16", IN_FUTURE),
            ("2999-01-01", IN_FUTURE),
            ("1899-12-31", TOO_EARLY),
            ("0000-01-01", TOO_EARLY),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Birthday::parse(input, today()),
                Err(ValueError::Invalid(expected)),
                "{input}"
            );
        }
    }

    #[test]
    fn masking() {
        let birthday = Birthday::parse("1988-03-07", today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(birthday.masked(), "****-03-07");
        assert_eq!(format!("{birthday:?}"), "Birthday(\"****-03-07\")");
        assert_eq!(
            birthday.date(),
            NaiveDate::from_ymd_opt(1988, 3, 7).unwrap_or_default()
        );
    }

    proptest! {
        #[test]
        fn dates_in_range_round_trip(days in 0..=(today() - EARLIEST_BIRTH_DATE).num_days()) {
            let date = EARLIEST_BIRTH_DATE + chrono::Days::new(days.unsigned_abs());
            let birthday = Birthday::parse(&date.format("%Y-%m-%d").to_string(), today())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(birthday.date(), date);
            prop_assert_eq!(Birthday::parse(&birthday.as_string(), today()), Ok(birthday));
            prop_assert!(!birthday.masked().contains(&date.format("%Y").to_string()));
        }

        #[test]
        fn future_dates_fail(days in 1u64..100_000) {
            let date = today() + chrono::Days::new(days);
            prop_assert_eq!(
                Birthday::parse(&date.format("%Y-%m-%d").to_string(), today()),
                Err(ValueError::Invalid(IN_FUTURE))
            );
        }

        #[test]
        fn never_panics(s in "\\PC{0,16}") {
            let _ = Birthday::parse(&s, today());
        }
    }
}
