//! Every service log line written during a test is scanned for personal data (issue 3:
//! "no log line contains a phone, ID number or card number at all"). The harness
//! installs a tracing subscriber that formats every event of Belle's crates down to
//! `debug` and checks each line before (optionally) printing it; `TestApp::cleanup`
//! fails the test if any line held something that looks like a mainland mobile number,
//! an E.164 number, a resident ID number or a bank-card number.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LEAKS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<()> = OnceLock::new();

/// What in `line` looks like personal data, if anything.
pub fn personal_data_in(line: &str) -> Option<&'static str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &bytes[start..i];
        let plus = start > 0 && bytes[start - 1] == b'+';
        let x_after = i < bytes.len() && matches!(bytes[i], b'X' | b'x');
        if plus && (8..=15).contains(&run.len()) {
            return Some("an E.164 phone number");
        }
        if run.len() == 11 && run[0] == b'1' && (b'3'..=b'9').contains(&run[1]) {
            return Some("a mainland mobile number");
        }
        if run.len() == 18 || (run.len() == 17 && x_after) {
            return Some("a resident ID number");
        }
        if (16..=19).contains(&run.len()) {
            return Some("a bank-card number");
        }
    }
    None
}

/// Takes the offending lines found so far (digits blanked out).
pub fn take_leaks() -> Vec<String> {
    std::mem::take(
        &mut *LEAKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

struct Scanner {
    echo: bool,
    buf: Vec<u8>,
}

impl Write for Scanner {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        for line in text.lines() {
            if let Some(what) = personal_data_in(line) {
                let blanked: String = line
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect();
                LEAKS
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(format!("{what}: {blanked}"));
            }
        }
        if self.echo {
            let _ = std::io::stderr().write_all(&self.buf);
        }
    }
}

/// Installs the scanning subscriber once per process. `BELLE_TEST_LOG` (a tracing
/// filter) widens what is formatted and prints it too.
pub fn install() {
    INSTALLED.get_or_init(|| {
        let echo = std::env::var("BELLE_TEST_LOG").ok();
        let filter = echo.clone().unwrap_or_else(|| {
            "warn,command_service=debug,query_service=debug,projections=debug,events_schema=debug,tests=debug".into()
        });
        let echoing = echo.is_some();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || Scanner {
                echo: echoing,
                buf: Vec::new(),
            })
            .try_init();
    });
}

#[cfg(test)]
mod tests {
    use super::personal_data_in;

    #[test]
    fn finds_phones_id_numbers_and_card_numbers_and_not_ordinary_numbers() {
        assert!(personal_data_in("customer phone=13812345678 registered").is_some());
        assert!(personal_data_in("to +8613812345678").is_some());
        assert!(personal_data_in("id 11010519491231002X").is_some());
        assert!(personal_data_in("id 110105194912310021").is_some());
        assert!(personal_data_in("card 6222021234567890123").is_some());
        for fine in [
            "2026-11-29T16:36:06.099123Z INFO relay moved 500 events to seq 12345",
            "customer 0195a1c2-7d3e-7000-8000-000000000001 version 3",
            "phone 138****5678",
            "took 1234567 ns",
        ] {
            assert_eq!(personal_data_in(fine), None, "{fine}");
        }
    }
}
