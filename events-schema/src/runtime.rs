//! Process conventions shared by the three service binaries, so they read
//! configuration, log and stop the same way: `BELLE_…` variables (with an unprefixed
//! fallback and `…_FILE` for secrets), tracing filtered by `BELLE_LOG`, and graceful
//! shutdown on SIGTERM or Ctrl-C.

use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("set {0} or {0}_FILE")]
    Missing(String),
    #[error("cannot read {name}_FILE: {source}")]
    File {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} is not valid: {reason}")]
    Invalid { name: String, reason: String },
}

/// A non-empty variable, falling back to an unprefixed name (`DATABASE_URL`).
pub fn var(name: &str, fallback: Option<&str>) -> Option<String> {
    std::env::var(name)
        .ok()
        .or_else(|| fallback.and_then(|f| std::env::var(f).ok()))
        .filter(|v| !v.trim().is_empty())
}

/// A secret given inline (`NAME`) or in a file (`NAME_FILE`), trimmed.
pub fn secret(name: &str) -> Result<String, ConfigError> {
    if let Some(v) = var(name, None) {
        return Ok(v);
    }
    let path =
        var(&format!("{name}_FILE"), None).ok_or_else(|| ConfigError::Missing(name.to_owned()))?;
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_owned())
        .map_err(|source| ConfigError::File {
            name: name.to_owned(),
            source,
        })
}

/// The previous key-encryption key during a KEK rotation (`BELLE_KEK_PREVIOUS` or
/// `BELLE_KEK_PREVIOUS_FILE`), if given: keys it wrapped stay readable until
/// `command-service rotate-kek` has re-wrapped them with `BELLE_KEK`.
pub fn previous_kek() -> Result<Option<crate::sealing::Kek>, ConfigError> {
    const NAME: &str = "BELLE_KEK_PREVIOUS";
    if var(NAME, None).is_none() && var(&format!("{NAME}_FILE"), None).is_none() {
        return Ok(None);
    }
    crate::sealing::Kek::parse(&secret(NAME)?)
        .map(Some)
        .map_err(|e| ConfigError::Invalid {
            name: NAME.to_owned(),
            reason: e.to_string(),
        })
}

/// A parsed variable with a default. The error names the variable, not its value.
pub fn parse_var<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: Display,
{
    match var(name, None) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name: name.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Structured logs to stderr, filtered by `BELLE_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BELLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
