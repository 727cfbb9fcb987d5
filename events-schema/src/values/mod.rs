//! Validated value objects of customer data (spec CUS-1, CUS-2, CUS-5, CUS-7).
//!
//! Every type here is pure: it can only be built through a `parse` function that
//! validates and normalises its input, so holding a value proves it is well formed.
//! Personal data never leaks through formatting: every `Debug` implementation prints
//! the masked form, and every [`ValueError`] message is a fixed sentence that never
//! echoes the rejected input.
//!
//! - [`Phone`]: mainland mobile or E.164 number, stored as E.164 (`+8613812341234`);
//! - [`IdCardNumber`]: Chinese resident identity number (GB 11643-1999);
//! - [`Email`]: pragmatic email syntax (ASCII only);
//! - [`Birthday`]: a calendar date, not in the future, not before 1900;
//! - [`PersonName`]: a display name in any script, with pinyin forms for search
//!   ([`normalise_pinyin_query`] prepares search input the same way).
//!
//! Functions that depend on the current date take `today` as a parameter, so the
//! module stays deterministic and testable.

pub mod birthday;
pub mod email;
pub mod id_card;
pub mod name;
pub mod phone;

pub use birthday::Birthday;
pub use email::Email;
pub use id_card::IdCardNumber;
pub use name::{normalise_pinyin_query, PersonName};
pub use phone::Phone;

/// Why a value was refused; the Display text is a short English sentence for the API
/// client that never echoes the rejected input (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The input is not acceptable; the message says why, without quoting the input.
    #[error("{0}")]
    Invalid(&'static str),
}

impl ValueError {
    /// The fixed, client-facing message.
    #[must_use]
    pub fn message(&self) -> &'static str {
        match self {
            ValueError::Invalid(message) => message,
        }
    }
}

/// Masks the middle of `s`: keeps the first `keep_front` and the last `keep_back`
/// characters (Unicode scalar values, not bytes) and replaces every other character
/// by one `*`.
///
/// If the string is too short to hide at least one character while keeping both
/// ends, every character is hidden: masking must never reveal the whole value.
#[must_use]
pub fn mask_middle(s: &str, keep_front: usize, keep_back: usize) -> String {
    let len = s.chars().count();
    if keep_front.saturating_add(keep_back) >= len {
        return "*".repeat(len);
    }
    let back_start = len - keep_back;
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_front || i >= back_start {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The earliest date accepted as a birth date (birthday or inside an ID-card number).
pub(crate) const EARLIEST_BIRTH_DATE: chrono::NaiveDate =
    match chrono::NaiveDate::from_ymd_opt(1900, 1, 1) {
        Some(date) => date,
        None => chrono::NaiveDate::MIN,
    };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_middle_table() {
        let cases = [
            ("13812341234", 3, 4, "138****1234"),
            ("张三丰", 1, 0, "张**"),
            ("张三", 1, 0, "张*"),
            ("abc", 1, 1, "a*c"),
            ("ab", 1, 1, "**"),
            ("a", 1, 0, "*"),
            ("", 1, 1, ""),
            ("abcdef", 0, 0, "******"),
            ("abcdef", 0, 2, "****ef"),
        ];
        for (input, front, back, expected) in cases {
            assert_eq!(mask_middle(input, front, back), expected, "{input}");
        }
    }

    #[test]
    fn error_display_is_the_message() {
        let err = ValueError::Invalid("Something is wrong.");
        assert_eq!(err.to_string(), "Something is wrong.");
        assert_eq!(err.message(), "Something is wrong.");
    }

    #[test]
    fn earliest_birth_date_is_1900() {
        assert_eq!(EARLIEST_BIRTH_DATE.to_string(), "1900-01-01");
    }
}

/// Removes quoted values (`"…"` and `` `…` ``) from a deserializer's message, so an error
/// never echoes input that may be personal data. Messages about unknown or missing
/// fields are kept whole: they name fields, not values.
pub fn redact_echoed_values(msg: &str) -> String {
    if msg.contains("unknown field") || msg.contains("missing field") {
        return msg.to_owned();
    }
    let mut out = String::with_capacity(msg.len());
    let mut quoted = false;
    for c in msg.chars() {
        if c == '"' || c == '`' {
            quoted = !quoted;
            if !quoted {
                out.push_str("(value)");
            }
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_echoed_values;

    #[test]
    fn deserializer_messages_lose_quoted_values() {
        assert_eq!(
            redact_echoed_values("invalid type: string \"13812341234\", expected u32"),
            "invalid type: string (value), expected u32"
        );
        assert_eq!(
            redact_echoed_values("unknown variant `robot`, expected `female`"),
            "unknown variant (value), expected (value)"
        );
        assert_eq!(
            redact_echoed_values("unknown field `tenant_id`, expected one of `name`"),
            "unknown field `tenant_id`, expected one of `name`"
        );
    }
}
