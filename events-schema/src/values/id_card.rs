//! Chinese resident identity numbers (GB 11643-1999), used by CUS-2 and CUS-4.
//!
//! Layout of the 18 characters: 6-digit administrative division code (the first two
//! digits are the province-level region), 8-digit birth date `YYYYMMDD`, 3-digit
//! sequence code (odd for men, even for women), and a check digit computed with
//! ISO 7064 MOD 11-2 (`X` stands for 10).
//!
//! Parsing removes all whitespace (`110105 19491231 002X` is accepted) and
//! normalises a lowercase `x` to `X`. Only the province-level part of the division
//! code is checked: county codes change over time and old numbers stay valid.

use std::fmt;

use chrono::NaiveDate;

use super::{mask_middle, ValueError, EARLIEST_BIRTH_DATE};

const BAD_FORMAT: &str =
    "ID-card number must be 18 characters: 17 digits followed by a digit or X.";
const UNKNOWN_REGION: &str = "ID-card number starts with an unknown region code.";
const BIRTH_DATE_INVALID: &str = "ID-card number contains a birth date that does not exist.";
const BIRTH_DATE_OUT_OF_RANGE: &str =
    "ID-card number contains a birth date in the future or before 1900.";
const CHECK_DIGIT_MISMATCH: &str =
    "ID-card number check digit does not match; the number was probably mistyped.";

/// Province-level region codes (first two digits).
const REGIONS: [u8; 35] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];
/// `91` is used for numbers issued to residents abroad; kept apart for readability.
const EXTRA_REGIONS: [u8; 1] = [91];

/// ISO 7064 MOD 11-2 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by weighted sum modulo 11.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// A validated resident identity number. `Debug` prints the masked form only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdCardNumber {
    /// The 18 characters, check character uppercase.
    number: String,
    /// The birth date encoded in characters 7 to 14, decoded once at parse time.
    birth_date: NaiveDate,
}

/// The check character of 17 ASCII digits, or `None` if `first17` is not that.
fn check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, weight)| u32::from(b - b'0') * weight)
        .sum();
    CHECK_CHARS.get(usize::try_from(sum % 11).ok()?).copied()
}

/// Parses `digits` (ASCII digits only) as a number.
fn number<T: std::str::FromStr>(digits: Option<&str>) -> Option<T> {
    digits?.parse().ok()
}

impl IdCardNumber {
    /// Validates an identity number; `today` bounds the birth date it contains.
    pub fn parse(input: &str, today: NaiveDate) -> Result<IdCardNumber, ValueError> {
        let compact: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(19)
            .collect();
        let Some((body, last)) = compact.split_at_checked(17) else {
            return Err(ValueError::Invalid(BAD_FORMAT));
        };
        let check = match last {
            "X" | "x" => 'X',
            _ => match last.chars().next() {
                Some(c) if last.len() == 1 && c.is_ascii_digit() => c,
                _ => return Err(ValueError::Invalid(BAD_FORMAT)),
            },
        };
        if !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::Invalid(BAD_FORMAT));
        }
        let region: Option<u8> = number(body.get(..2));
        if !region.is_some_and(|r| REGIONS.contains(&r) || EXTRA_REGIONS.contains(&r)) {
            return Err(ValueError::Invalid(UNKNOWN_REGION));
        }
        let birth_date = match (
            number(body.get(6..10)),
            number(body.get(10..12)),
            number(body.get(12..14)),
        ) {
            (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y, m, d),
            _ => None,
        }
        .ok_or(ValueError::Invalid(BIRTH_DATE_INVALID))?;
        if birth_date < EARLIEST_BIRTH_DATE || birth_date > today {
            return Err(ValueError::Invalid(BIRTH_DATE_OUT_OF_RANGE));
        }
        if check_char(body) != Some(check) {
            return Err(ValueError::Invalid(CHECK_DIGIT_MISMATCH));
        }
        Ok(IdCardNumber {
            number: format!("{body}{check}"),
            birth_date,
        })
    }

    /// The 18 characters, with an uppercase `X` if any.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// The birth date encoded in the number.
    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// True when the sequence code (17th digit) is odd, which GB 11643 assigns to men
    /// (ASCII digits have the parity of their value);
    /// useful to cross-check a declared gender or an OCR result (CUS-4).
    #[must_use]
    pub fn sequence_is_odd(&self) -> bool {
        self.number.as_bytes().get(16).is_some_and(|b| b % 2 == 1)
    }

    /// First 3 and last 4 characters kept: `110***********002X` (CUS-7).
    #[must_use]
    pub fn masked(&self) -> String {
        mask_middle(&self.number, 3, 4)
    }

    /// Test/demo helper: builds a valid number from the first 17 digits by appending
    /// the check digit; `None` unless `first17` is exactly 17 ASCII digits.
    /// Region and birth date are not checked here.
    #[must_use]
    pub fn with_check_digit(first17: &str) -> Option<String> {
        check_char(first17).map(|c| format!("{first17}{c}"))
    }
}

impl fmt::Debug for IdCardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdCardNumber").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap_or_default()
    }

    fn valid(first17: &str) -> String {
        IdCardNumber::with_check_digit(first17).unwrap_or_default()
    }

    #[test]
    fn known_check_digits() {
        // The widely published sample number, and one checked independently.
        assert_eq!(
            IdCardNumber::with_check_digit("11010519491231002").as_deref(),
            Some("11010519491231002X")
        );
        assert_eq!(
            IdCardNumber::with_check_digit("44030819900101001").as_deref(),
            Some("440308199001010017")
        );
        assert_eq!(IdCardNumber::with_check_digit("1101051949123100"), None);
        assert_eq!(IdCardNumber::with_check_digit("1101051949123100a"), None);
        assert_eq!(IdCardNumber::with_check_digit("110105194912310020"), None);
    }

    #[test]
    fn accepts() {
        let leap = valid("11010520000229123");
        let today_born = valid("31010120250615001");
        let cases = [
            ("11010519491231002X", "11010519491231002X", (1949, 12, 31)),
            ("11010519491231002x", "11010519491231002X", (1949, 12, 31)),
            (
                " 110105 19491231 002X ",
                "11010519491231002X",
                (1949, 12, 31),
            ),
            ("440308199001010017", "440308199001010017", (1990, 1, 1)),
            (leap.as_str(), leap.as_str(), (2000, 2, 29)),
            (today_born.as_str(), today_born.as_str(), (2025, 6, 15)),
        ];
        for (input, expected, (y, m, d)) in cases {
            let id = IdCardNumber::parse(input, today()).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(id.as_str(), expected);
            assert_eq!(Some(id.birth_date()), NaiveDate::from_ymd_opt(y, m, d));
        }
    }

    #[test]
    fn rejects() {
        let future = valid("11010520250616001");
        let too_old = valid("11010518991231001");
        let feb30 = valid("11010519900230001");
        let feb29_non_leap = valid("11010519000229001");
        let month13 = valid("11010519901301001");
        let region = valid("99010519491231002");
        let region00 = valid("00010519491231002");
        let cases = [
            ("", BAD_FORMAT),
            ("11010519491231002", BAD_FORMAT),
            ("11010519491231002X1", BAD_FORMAT),
            ("11010519491231002Y", BAD_FORMAT),
            ("1101051949123100AX", BAD_FORMAT),
            ("１１０１０５１９４９１２３１００２Ｘ", BAD_FORMAT),
            ("11010519491231002é", BAD_FORMAT),
            (region.as_str(), UNKNOWN_REGION),
            (region00.as_str(), UNKNOWN_REGION),
            (feb30.as_str(), BIRTH_DATE_INVALID),
            (feb29_non_leap.as_str(), BIRTH_DATE_INVALID),
            (month13.as_str(), BIRTH_DATE_INVALID),
            (future.as_str(), BIRTH_DATE_OUT_OF_RANGE),
            (too_old.as_str(), BIRTH_DATE_OUT_OF_RANGE),
            ("110105194912310021", CHECK_DIGIT_MISMATCH),
            ("110105194912310020", CHECK_DIGIT_MISMATCH),
            ("11010519491231003X", CHECK_DIGIT_MISMATCH),
        ];
        for (input, expected) in cases {
            assert_eq!(
                IdCardNumber::parse(input, today()),
                Err(ValueError::Invalid(expected)),
                "{input}"
            );
        }
    }

    #[test]
    fn masking_and_sex() {
        let id =
            IdCardNumber::parse("11010519491231002X", today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.masked(), "110***********002X");
        assert_eq!(format!("{id:?}"), "IdCardNumber(\"110***********002X\")");
        assert!(!id.sequence_is_odd());
        let man =
            IdCardNumber::parse("440308199001010017", today()).unwrap_or_else(|e| panic!("{e}"));
        assert!(man.sequence_is_odd());
    }

    /// The first 17 digits of a plausible number with its birth date.
    fn first17() -> impl Strategy<Value = (String, NaiveDate)> {
        let span = (today() - EARLIEST_BIRTH_DATE).num_days();
        (
            prop::sample::select(REGIONS.to_vec()),
            0u32..10_000,
            0..=span,
            0u32..1_000,
        )
            .prop_map(|(region, county, days, seq)| {
                let date = EARLIEST_BIRTH_DATE + chrono::Days::new(days.unsigned_abs());
                (
                    format!("{region:02}{county:04}{}{seq:03}", date.format("%Y%m%d")),
                    date,
                )
            })
    }

    proptest! {
        #[test]
        fn generated_numbers_round_trip((prefix, date) in first17()) {
            let full = IdCardNumber::with_check_digit(&prefix)
                .ok_or_else(|| TestCaseError::fail("no check digit"))?;
            let id = IdCardNumber::parse(&full, today())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(id.as_str(), full.as_str());
            prop_assert_eq!(id.birth_date(), date);
            prop_assert_eq!(IdCardNumber::parse(&full.to_lowercase(), today()), Ok(id.clone()));
            prop_assert_eq!(IdCardNumber::parse(id.as_str(), today()), Ok(id));
        }

        #[test]
        fn any_other_check_char_fails((prefix, _date) in first17()) {
            let full = IdCardNumber::with_check_digit(&prefix)
                .ok_or_else(|| TestCaseError::fail("no check digit"))?;
            for wrong in CHECK_CHARS.iter().filter(|c| !full.ends_with(**c)) {
                prop_assert_eq!(
                    IdCardNumber::parse(&format!("{prefix}{wrong}"), today()),
                    Err(ValueError::Invalid(CHECK_DIGIT_MISMATCH))
                );
            }
        }

        #[test]
        fn single_digit_typo_is_caught(
            (prefix, _date) in first17(),
            pos in 0usize..17,
            delta in 1u8..10,
        ) {
            let full = IdCardNumber::with_check_digit(&prefix)
                .ok_or_else(|| TestCaseError::fail("no check digit"))?;
            let mut bytes = full.clone().into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let typo = String::from_utf8(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(IdCardNumber::parse(&typo, today()).is_err());
        }

        #[test]
        fn mask_hides_the_middle((prefix, _date) in first17()) {
            let full = IdCardNumber::with_check_digit(&prefix)
                .ok_or_else(|| TestCaseError::fail("no check digit"))?;
            let id = IdCardNumber::parse(&full, today())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let masked = id.masked();
            prop_assert_eq!(masked.chars().count(), 18);
            prop_assert_eq!(&masked[..3], &full[..3]);
            prop_assert_eq!(&masked[14..], &full[14..]);
            prop_assert!(masked[3..14].chars().all(|c| c == '*'));
            let debug = format!("{id:?}");
            prop_assert!(!debug.contains(&full[6..14]));
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = IdCardNumber::parse(&s, today());
        }
    }
}
