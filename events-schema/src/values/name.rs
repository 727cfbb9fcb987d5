//! Person names (CUS-1) and their pinyin forms for search (CUS-5).
//!
//! A [`PersonName`] is trimmed, has every whitespace run (including tabs and line
//! breaks) collapsed to one space, holds 1 to 64 characters, contains no control or
//! bidirectional-override characters, and contains at least one letter of any script.
//!
//! Pinyin forms are lowercase ASCII letters only, for substring matching:
//! - Chinese characters give their default reading from the `pinyin` crate, without
//!   tones, `ü` written `v` as on pinyin keyboards (`吕` → `lv`);
//! - Latin letters are lowercased with common diacritics folded (`Zoé` → `zoe`);
//! - everything else (digits, punctuation, other scripts) is dropped.
//!
//! [`normalise_pinyin_query`] applies the same rules to search input, so a query typed
//! in pinyin, in characters or mixed (`张san`) matches [`PersonName::pinyin_full`].

use std::fmt;

use pinyin::ToPinyin;

use super::{mask_middle, ValueError};

const EMPTY: &str = "Name is empty.";
const TOO_LONG: &str = "Name must be at most 64 characters.";
const CONTROL: &str = "Name must not contain control characters.";
const NO_LETTER: &str = "Name must contain at least one letter.";

const MAX_CHARS: usize = 64;

/// A validated person name. `Debug` prints the masked form (first character only).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

/// Control characters, plus the bidirectional embedding, override and isolate marks
/// that can make a name display differently from what it is.
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Appends the ASCII form of a toneless pinyin syllable (`ü` → `v`, `ê` → `e`).
fn push_pinyin(out: &mut String, plain: &str) {
    for c in plain.chars() {
        match c {
            'a'..='z' => out.push(c),
            'ü' => out.push('v'),
            'ê' => out.push('e'),
            _ => {}
        }
    }
}

/// Appends the folded lowercase ASCII form of a non-Chinese character, if it has one.
fn push_folded(out: &mut String, c: char) {
    for lower in c.to_lowercase() {
        let folded = match lower {
            'a'..='z' => {
                out.push(lower);
                continue;
            }
            'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
            'ð' | 'ď' | 'đ' => "d",
            'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
            'ĥ' | 'ħ' => "h",
            'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
            'ĵ' => "j",
            'ķ' => "k",
            'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
            'ñ' | 'ń' | 'ņ' | 'ň' => "n",
            'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ŗ' | 'ř' => "r",
            'ś' | 'ŝ' | 'ş' | 'š' => "s",
            'ß' => "ss",
            'ţ' | 'ť' | 'ŧ' => "t",
            'þ' => "th",
            'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
            'ŵ' => "w",
            'ý' | 'ÿ' | 'ŷ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(folded);
    }
}

/// Normalises free-text search input for pinyin matching: lowercase ascii letters only.
///
/// Chinese characters are converted to pinyin and Latin letters folded exactly as in
/// [`PersonName::pinyin_full`]; everything else is dropped.
#[must_use]
pub fn normalise_pinyin_query(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        match c.to_pinyin() {
            Some(py) => push_pinyin(&mut out, py.plain()),
            None => push_folded(&mut out, c),
        }
    }
    out
}

impl PersonName {
    /// Validates and normalises a name; see the module documentation.
    pub fn parse(input: &str) -> Result<PersonName, ValueError> {
        let mut name = String::with_capacity(input.len().min(4 * MAX_CHARS));
        let mut count = 0usize;
        for word in input.split_whitespace() {
            if count > 0 {
                name.push(' ');
                count += 1;
            }
            for c in word.chars() {
                if is_forbidden(c) {
                    return Err(ValueError::Invalid(CONTROL));
                }
                count += 1;
                if count > MAX_CHARS {
                    return Err(ValueError::Invalid(TOO_LONG));
                }
                name.push(c);
            }
        }
        if name.is_empty() {
            return Err(ValueError::Invalid(EMPTY));
        }
        if !name.chars().any(char::is_alphabetic) {
            return Err(ValueError::Invalid(NO_LETTER));
        }
        Ok(PersonName(name))
    }

    /// The normalised name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Full pinyin, lowercase ASCII, no spaces or tones: `张三 Anna` → `zhangsananna`.
    #[must_use]
    pub fn pinyin_full(&self) -> String {
        normalise_pinyin_query(&self.0)
    }

    /// Initials: one letter per Chinese character and per Latin word:
    /// `张三` → `zs`, `Anna Li` → `al`, `张Anna` → `za`. Apostrophes do not split a word
    /// (`O'Brien` → `o`); other non-letters do (`Mary-Jane` → `mj`).
    #[must_use]
    pub fn pinyin_initials(&self) -> String {
        let mut out = String::new();
        let mut in_word = false;
        let mut pending = false;
        let mut folded = String::new();
        for c in self.0.chars() {
            if let Some(py) = c.to_pinyin() {
                folded.clear();
                push_pinyin(&mut folded, py.plain());
                out.extend(folded.chars().next());
                in_word = false;
            } else if c.is_alphabetic() || (in_word && matches!(c, '\'' | '’')) {
                if !in_word {
                    in_word = true;
                    pending = true;
                }
                if pending {
                    folded.clear();
                    push_folded(&mut folded, c);
                    if let Some(first) = folded.chars().next() {
                        out.push(first);
                        pending = false;
                    }
                }
            } else {
                in_word = false;
            }
        }
        out
    }

    /// First character kept, one `*` per other character: `张*`, `张**`, `A***`;
    /// a one-character name is shown as `*` (CUS-7).
    #[must_use]
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 1, 0)
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PersonName").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(input: &str) -> PersonName {
        PersonName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("张三", "张三"),
            ("  张 \t 三  ", "张 三"),
            ("Anna\n  Li", "Anna Li"),
            ("阿依古丽·买买提", "阿依古丽·买买提"),
            ("O'Brien", "O'Brien"),
            ("Анна", "Анна"),
            ("李4", "李4"),
            ("x", "x"),
        ];
        for (input, expected) in cases {
            assert_eq!(name(input).as_str(), expected, "{input}");
        }
        assert_eq!(name(&"长".repeat(64)).as_str().chars().count(), 64);
    }

    #[test]
    fn rejects() {
        let too_long = "长".repeat(65);
        let too_long_spaced = format!("{} {}", "a".repeat(32), "b".repeat(32));
        let cases = [
            ("", EMPTY),
            (" \t\n ", EMPTY),
            ("123", NO_LETTER),
            ("-- ·", NO_LETTER),
            ("张\u{0}三", CONTROL),
            ("张\u{7f}三", CONTROL),
            ("Anna\u{202E}il", CONTROL),
            (too_long.as_str(), TOO_LONG),
            (too_long_spaced.as_str(), TOO_LONG),
        ];
        for (input, expected) in cases {
            assert_eq!(
                PersonName::parse(input),
                Err(ValueError::Invalid(expected)),
                "{input:?}"
            );
        }
    }

    #[test]
    fn pinyin_forms() {
        let cases = [
            ("张三", "zhangsan", "zs"),
            ("张三 Anna", "zhangsananna", "zsa"),
            ("Anna Li", "annali", "al"),
            ("张Anna", "zhanganna", "za"),
            ("李小龙", "lixiaolong", "lxl"),
            ("吕布", "lvbu", "lb"),
            ("欧阳 娜娜", "ouyangnana", "oynn"),
            ("Zoé Müller", "zoemuller", "zm"),
            ("Mary-Jane O'Brien", "maryjaneobrien", "mjo"),
            ("李4", "li", "l"),
            ("Анна", "", ""),
        ];
        for (input, full, initials) in cases {
            let n = name(input);
            assert_eq!(n.pinyin_full(), full, "{input}");
            assert_eq!(n.pinyin_initials(), initials, "{input}");
        }
    }

    #[test]
    fn query_normalisation() {
        let cases = [
            ("ZhangSan", "zhangsan"),
            (" zhang san ", "zhangsan"),
            ("张san", "zhangsan"),
            ("z.s", "zs"),
            ("1234", ""),
            ("Zoé", "zoe"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise_pinyin_query(input), expected, "{input}");
        }
    }

    #[test]
    fn masking() {
        assert_eq!(name("张三").masked(), "张*");
        assert_eq!(name("张三丰").masked(), "张**");
        assert_eq!(name("Anna").masked(), "A***");
        assert_eq!(name("张").masked(), "*");
        assert_eq!(format!("{:?}", name("张三丰")), "PersonName(\"张**\")");
    }

    proptest! {
        #[test]
        fn parse_is_idempotent_and_pinyin_is_ascii(s in "\\PC{0,80}") {
            if let Ok(n) = PersonName::parse(&s) {
                prop_assert_eq!(PersonName::parse(n.as_str()), Ok(n.clone()));
                prop_assert!(n.as_str().chars().count() <= MAX_CHARS);
                prop_assert!(!n.as_str().contains("  "));
                prop_assert!(n.pinyin_full().bytes().all(|b| b.is_ascii_lowercase()));
                prop_assert!(n.pinyin_initials().bytes().all(|b| b.is_ascii_lowercase()));
                prop_assert!(n.pinyin_initials().len() <= n.pinyin_full().len());
                prop_assert_eq!(normalise_pinyin_query(n.as_str()), n.pinyin_full());
            }
        }

        #[test]
        fn han_names_have_one_initial_per_character(s in "[\u{4e00}-\u{9fa5}]{1,4}") {
            prop_assume!(s.chars().all(|c| c.to_pinyin().is_some()));
            let n = PersonName::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n.pinyin_initials().len(), s.chars().count());
            let masked = n.masked();
            prop_assert_eq!(masked.chars().count(), s.chars().count());
            prop_assert!(masked.chars().skip(1).all(|c| c == '*'));
        }
    }
}
