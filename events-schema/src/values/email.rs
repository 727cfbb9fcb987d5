//! Email addresses (CUS-2): a pragmatic subset of RFC 5321 syntax.
//!
//! Accepted: `local@domain`, trimmed, at most 254 characters, exactly one `@`.
//! - local part: 1 to 64 characters of `A-Z a-z 0-9 . ! # $ % & ' * + / = ? ^ _ { | } ~ -`
//!   and backtick, not starting or ending with `.`, no `..`; its case is kept;
//! - domain: lowercased, at least two dot-separated labels of 1 to 63 characters of
//!   `a-z 0-9 -`, not starting or ending with `-`; the last label (TLD) is alphabetic
//!   and at least 2 characters.
//!
//! Not accepted, on purpose, to keep the rules simple: quoted local parts, comments,
//! IP-literal domains, and Unicode (internationalised) domains or local parts. A
//! Unicode domain must be given in its ASCII `xn--` form, which works for every label
//! but the TLD.

use std::fmt;

use super::ValueError;

const EMPTY: &str = "Email address is empty.";
const TOO_LONG: &str = "Email address must be at most 254 characters.";
const ONE_AT: &str = "Email address must contain exactly one @.";
const BAD_LOCAL: &str =
    "Email address part before @ must be 1 to 64 letters, digits or allowed symbols, \
     without leading, trailing or consecutive dots.";
const BAD_DOMAIN: &str =
    "Email address domain must be dot-separated labels of ASCII letters, digits and \
     inner hyphens, each 1 to 63 characters.";
const BAD_TLD: &str = "Email address domain must have at least two labels \
     and end with an alphabetic top-level domain.";

const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;

/// A validated email address. `Debug` prints the masked form only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

fn valid_local(local: &str) -> bool {
    (1..=MAX_LOCAL).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b))
}

fn valid_label(label: &str) -> bool {
    (1..=MAX_LABEL).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Email {
    /// Validates an email address and lowercases its domain.
    pub fn parse(input: &str) -> Result<Email, ValueError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ValueError::Invalid(EMPTY));
        }
        if trimmed.chars().count() > MAX_LEN {
            return Err(ValueError::Invalid(TOO_LONG));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(ValueError::Invalid(ONE_AT));
        };
        if domain.contains('@') {
            return Err(ValueError::Invalid(ONE_AT));
        }
        if !valid_local(local) {
            return Err(ValueError::Invalid(BAD_LOCAL));
        }
        let domain = domain.to_ascii_lowercase();
        if !domain.split('.').all(valid_label) {
            return Err(ValueError::Invalid(BAD_DOMAIN));
        }
        let tld_ok = domain
            .rsplit_once('.')
            .is_some_and(|(_, tld)| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase()));
        if !tld_ok {
            return Err(ValueError::Invalid(BAD_TLD));
        }
        Ok(Email(format!("{local}@{domain}")))
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `z***@example.com`: the first character of the local part, then `***`, then the
    /// domain. The number of stars is fixed so the local part's length is not revealed.
    #[must_use]
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or(("", &self.0));
        let first = local.chars().next().map(String::from).unwrap_or_default();
        format!("{first}***@{domain}")
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("zhang.san@example.com", "zhang.san@example.com"),
            ("  Zhang.San@Example.COM ", "Zhang.San@example.com"),
            ("a@b.cn", "a@b.cn"),
            (
                "user+tag@mail.example.com.cn",
                "user+tag@mail.example.com.cn",
            ),
            ("o'brien@example.ie", "o'brien@example.ie"),
            (
                "!#$%&'*+/=?^_`{|}~-@example.org",
                "!#$%&'*+/=?^_`{|}~-@example.org",
            ),
            ("x@my-shop.xn--fiqs8s.com", "x@my-shop.xn--fiqs8s.com"),
            ("x@163.com", "x@163.com"),
        ];
        for (input, expected) in cases {
            let email = Email::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(email.as_str(), expected);
        }
    }

    #[test]
    fn rejects() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_total = format!("a@{}.com", vec!["c".repeat(60); 5].join("."));
        let cases = [
            ("", EMPTY),
            ("   ", EMPTY),
            ("zhangsan", ONE_AT),
            ("a@b@example.com", ONE_AT),
            ("@example.com", BAD_LOCAL),
            (".a@example.com", BAD_LOCAL),
            ("a.@example.com", BAD_LOCAL),
            ("a..b@example.com", BAD_LOCAL),
            ("a b@example.com", BAD_LOCAL),
            ("\"a\"@example.com", BAD_LOCAL),
            ("张三@example.com", BAD_LOCAL),
            (long_local.as_str(), BAD_LOCAL),
            ("a@", BAD_DOMAIN),
            ("a@.example.com", BAD_DOMAIN),
            ("a@example..com", BAD_DOMAIN),
            ("a@example.com.", BAD_DOMAIN),
            ("a@-example.com", BAD_DOMAIN),
            ("a@example-.com", BAD_DOMAIN),
            ("a@exa_mple.com", BAD_DOMAIN),
            ("a@例子.中国", BAD_DOMAIN),
            ("a@[127.0.0.1]", BAD_DOMAIN),
            (long_label.as_str(), BAD_DOMAIN),
            ("a@localhost", BAD_TLD),
            ("a@example.c", BAD_TLD),
            ("a@example.c0m", BAD_TLD),
            ("a@127.0.0.1", BAD_TLD),
            (long_total.as_str(), TOO_LONG),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Email::parse(input),
                Err(ValueError::Invalid(expected)),
                "{input}"
            );
        }
    }

    #[test]
    fn masking() {
        let email = Email::parse("zhangsan@Example.com").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(email.masked(), "z***@example.com");
        assert_eq!(format!("{email:?}"), "Email(\"z***@example.com\")");
    }

    proptest! {
        #[test]
        fn generated_addresses_round_trip(
            local in "[A-Za-z0-9_+-]{1,20}(\\.[A-Za-z0-9_+-]{1,10}){0,2}",
            labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4),
            tld in "[a-z]{2,6}",
        ) {
            let domain = format!("{}.{tld}", labels.join("."));
            let input = format!("{local}@{}", domain.to_uppercase());
            let email = Email::parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(email.as_str(), format!("{local}@{domain}"));
            prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            let masked = email.masked();
            prop_assert_eq!(&masked, &format!("{}***@{domain}", &local[..1]));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            if let Ok(email) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
        }
    }
}
