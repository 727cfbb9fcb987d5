//! Phone numbers (CUS-2): mainland Chinese mobile numbers and E.164 numbers.
//!
//! A [`Phone`] always holds the normalised E.164 form (`+8613812341234`). Accepted input:
//! - a bare mainland mobile number, `1[3-9]` followed by 9 digits (`13812341234`);
//! - any number with an international prefix, `+` or `00`, then a country code not
//!   starting with 0, 7 to 15 digits in total (`+44 7911 123456`, `0044…`);
//!   a `+86` number must be a mainland mobile number.
//!
//! Spaces, dashes, dots and parentheses are ignored as separators. Bare digits that are
//! not a mainland mobile number are refused rather than guessed (`86 13812341234` could
//! be a typo or a foreign number): the client must add `+` or `00`.

use std::fmt;

use super::{mask_middle, ValueError};

const EMPTY: &str = "Phone number is empty.";
const BAD_CHARACTERS: &str = "Phone number may only contain digits, a leading + and separators \
     (spaces, dashes, dots, parentheses).";
const NOT_MAINLAND_MOBILE: &str =
    "Phone number is not a mainland mobile number (1[3-9] followed by 9 digits); \
     other numbers must start with + or 00 and the country code.";
const BAD_E164: &str = "International phone number must have a country code not starting with 0 \
     and 7 to 15 digits in total.";
const BAD_CHINA_NUMBER: &str =
    "A +86 phone number must be a mainland mobile number (1[3-9] followed by 9 digits).";

/// Longest digit run worth looking at; anything longer is refused without more work.
const MAX_DIGITS: usize = 17;

/// A validated phone number in E.164 form. `Debug` prints the masked form only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// True for `1[3-9]` followed by 9 digits.
fn is_mainland_mobile_digits(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    bytes.len() == 11
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes.first() == Some(&b'1')
        && bytes.get(1).is_some_and(|b| (b'3'..=b'9').contains(b))
}

impl Phone {
    /// Validates and normalises a phone number; see the module documentation.
    pub fn parse(input: &str) -> Result<Phone, ValueError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ValueError::Invalid(EMPTY));
        }
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(MAX_DIGITS);
        for c in rest.chars() {
            if c.is_ascii_digit() {
                if digits.len() >= MAX_DIGITS {
                    let international = plus || digits.starts_with("00");
                    return Err(ValueError::Invalid(if international {
                        BAD_E164
                    } else {
                        NOT_MAINLAND_MOBILE
                    }));
                }
                digits.push(c);
            } else if !(c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')) {
                return Err(ValueError::Invalid(BAD_CHARACTERS));
            }
        }
        let international = if plus {
            Some(digits.as_str())
        } else {
            digits.strip_prefix("00")
        };
        match international {
            None if is_mainland_mobile_digits(&digits) => Ok(Phone(format!("+86{digits}"))),
            None if digits.is_empty() => Err(ValueError::Invalid(EMPTY)),
            None => Err(ValueError::Invalid(NOT_MAINLAND_MOBILE)),
            Some(e164) => {
                if !(7..=15).contains(&e164.len()) || e164.starts_with('0') {
                    Err(ValueError::Invalid(BAD_E164))
                } else if let Some(national) = e164.strip_prefix("86") {
                    if is_mainland_mobile_digits(national) {
                        Ok(Phone(format!("+{e164}")))
                    } else {
                        Err(ValueError::Invalid(BAD_CHINA_NUMBER))
                    }
                } else {
                    Ok(Phone(format!("+{e164}")))
                }
            }
        }
    }

    /// The normalised E.164 form, e.g. `+8613812341234`.
    #[must_use]
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// True for a `+86` number (which is always a mainland mobile number).
    #[must_use]
    pub fn is_mainland_mobile(&self) -> bool {
        self.0.starts_with("+86")
    }

    /// `13812341234` for a mainland number, else the E.164 form without `+`.
    #[must_use]
    pub fn national(&self) -> &str {
        self.0
            .strip_prefix("+86")
            .or_else(|| self.0.strip_prefix('+'))
            .unwrap_or(&self.0)
    }

    /// The last 4 digits, as front desks use them for lookup (CUS-5).
    #[must_use]
    pub fn tail4(&self) -> &str {
        self.0
            .get(self.0.len().saturating_sub(4)..)
            .unwrap_or_default()
    }

    /// `138****1234` for a mainland number; `+44******3456` (first 3 characters of the
    /// E.164 form and the last 4 digits kept) for others (CUS-7).
    #[must_use]
    pub fn masked(&self) -> String {
        if self.is_mainland_mobile() {
            mask_middle(self.national(), 3, 4)
        } else {
            mask_middle(&self.0, 3, 4)
        }
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Phone").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("13812341234", "+8613812341234"),
            ("138-1234-1234", "+8613812341234"),
            ("138 1234 1234", "+8613812341234"),
            ("  13812341234\t", "+8613812341234"),
            ("+86 138 1234 1234", "+8613812341234"),
            ("+8613812341234", "+8613812341234"),
            ("008613812341234", "+8613812341234"),
            ("0086-138-1234-1234", "+8613812341234"),
            ("19912345678", "+8619912345678"),
            ("+44 7911 123456", "+447911123456"),
            ("+1 (415) 555-2671", "+14155552671"),
            ("001.415.555.2671", "+14155552671"),
            ("+1234567", "+1234567"),
            ("+123456789012345", "+123456789012345"),
            ("+852 9123 4567", "+85291234567"),
        ];
        for (input, expected) in cases {
            let phone = Phone::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(phone.as_e164(), expected, "{input}");
        }
    }

    #[test]
    fn rejects() {
        let cases = [
            ("", EMPTY),
            ("   ", EMPTY),
            ("--", EMPTY),
            ("86 13812341234", NOT_MAINLAND_MOBILE),
            ("8613812341234", NOT_MAINLAND_MOBILE),
            ("12812341234", NOT_MAINLAND_MOBILE),
            ("1381234123", NOT_MAINLAND_MOBILE),
            ("138123412345", NOT_MAINLAND_MOBILE),
            ("010-12345678", NOT_MAINLAND_MOBILE),
            ("23812341234", NOT_MAINLAND_MOBILE),
            ("1381234123x", BAD_CHARACTERS),
            ("+86+13812341234", BAD_CHARACTERS),
            ("１３８１２３４１２３４", BAD_CHARACTERS),
            ("tel:13812341234", BAD_CHARACTERS),
            ("+123456", BAD_E164),
            ("+1234567890123456", BAD_E164),
            ("+0441234567", BAD_E164),
            ("000441234567", BAD_E164),
            ("+", BAD_E164),
            ("+86 10 1234 5678", BAD_CHINA_NUMBER),
            ("+86 128 1234 1234", BAD_CHINA_NUMBER),
            ("0086 1381234123", BAD_CHINA_NUMBER),
            ("99999999999999999999999999", NOT_MAINLAND_MOBILE),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Phone::parse(input),
                Err(ValueError::Invalid(expected)),
                "{input}"
            );
        }
    }

    #[test]
    fn accessors_and_masking() {
        let cn = Phone::parse("138 1234 5678").unwrap_or_else(|e| panic!("{e}"));
        assert!(cn.is_mainland_mobile());
        assert_eq!(cn.national(), "13812345678");
        assert_eq!(cn.tail4(), "5678");
        assert_eq!(cn.masked(), "138****5678");
        assert_eq!(format!("{cn:?}"), "Phone(\"138****5678\")");

        let uk = Phone::parse("+44 7911 123456").unwrap_or_else(|e| panic!("{e}"));
        assert!(!uk.is_mainland_mobile());
        assert_eq!(uk.national(), "447911123456");
        assert_eq!(uk.tail4(), "3456");
        assert_eq!(uk.masked(), "+44******3456");
        assert!(!format!("{uk:?}").contains("7911123456"));
    }

    proptest! {
        #[test]
        fn mainland_variants_normalise_alike(n in "1[3-9][0-9]{9}") {
            let (a, b, c) = (&n[..3], &n[3..7], &n[7..]);
            let expected = format!("+86{n}");
            for variant in [
                n.clone(),
                format!("{a}-{b}-{c}"),
                format!("{a} {b} {c}"),
                format!("+86{n}"),
                format!("+86 {a} {b} {c}"),
                format!("0086{n}"),
                format!("00 86 {a}-{b}-{c}"),
                format!("  {n}  "),
            ] {
                let phone = Phone::parse(&variant);
                prop_assert_eq!(
                    phone.as_ref().map(Phone::as_e164),
                    Ok(expected.as_str()),
                    "{}",
                    variant
                );
            }
        }

        #[test]
        fn mainland_mask_hides_middle(n in "1[3-9][0-9]{9}") {
            let phone = Phone::parse(&n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let masked = phone.masked();
            prop_assert_eq!(&masked, &format!("{}****{}", &n[..3], &n[7..]));
            prop_assert_eq!(phone.tail4(), &n[7..]);
            let debug = format!("{phone:?}");
            prop_assert!(!debug.contains(&n));
        }

        #[test]
        fn international_round_trips(cc in "[1-79][0-9]{0,2}", rest in "[0-9]{6,12}") {
            let digits = format!("{cc}{rest}");
            prop_assume!(digits.len() <= 15);
            let phone = Phone::parse(&format!("+{digits}"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(phone.as_e164(), format!("+{digits}"));
            prop_assert_eq!(Phone::parse(&format!("00{digits}")), Ok(phone.clone()));
            let masked = phone.masked();
            prop_assert_eq!(masked.chars().filter(|c| *c == '*').count(), digits.len() - 6);
            prop_assert!(masked.ends_with(phone.tail4()));
        }

        #[test]
        fn never_panics_and_parse_is_idempotent(s in "\\PC{0,30}") {
            if let Ok(phone) = Phone::parse(&s) {
                prop_assert_eq!(Phone::parse(phone.as_e164()), Ok(phone.clone()));
                prop_assert_eq!(phone.tail4().len(), 4);
            }
        }
    }
}
