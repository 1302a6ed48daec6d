//! `switchyard validate <config>`: every problem with its JSON path, from the same validator
//! the workers run.

use serde_json::json;
use switchyard_core::config::{self, Config, ConfigError};

use crate::Outcome;

/// Reads a config file (`-` is standard input).
pub fn read_text(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Reads and validates a config, or says everything that is wrong with it.
pub fn load(path: &str) -> Result<Config, LoadError> {
    let text = read_text(path).map_err(LoadError::Io)?;
    config::parse(&text).map_err(|errors| LoadError::Invalid {
        path: path.to_string(),
        errors,
    })
}

pub enum LoadError {
    Io(String),
    Invalid {
        path: String,
        errors: Vec<ConfigError>,
    },
}

impl LoadError {
    /// Exit 2 for unreadable input, 1 (with every problem listed) for an invalid config.
    pub fn report(self, json_out: bool) -> Outcome {
        match self {
            LoadError::Io(msg) => Outcome::Usage(msg),
            LoadError::Invalid { path, errors } => {
                Outcome::Failed(invalid_output(&path, &errors, json_out))
            }
        }
    }
}

pub fn errors_json(errors: &[ConfigError]) -> serde_json::Value {
    errors
        .iter()
        .map(|e| json!({ "path": e.path, "reason": e.reason }))
        .collect()
}

fn invalid_output(file: &str, errors: &[ConfigError], json_out: bool) -> String {
    if json_out {
        return json!({ "file": file, "valid": false, "errors": errors_json(errors) }).to_string();
    }
    let mut out = String::new();
    for e in errors {
        out.push_str(&format!("{file}: {}: {}\n", e.path, e.reason));
    }
    out.push_str(&format!(
        "{file}: invalid: {} problem(s); a worker would keep serving its last valid config",
        errors.len()
    ));
    out
}

/// Validates every file: each one's result in order (with `--json`, one JSON object per line);
/// exit 1 when any is invalid, 2 (and nothing else) when one cannot be read.
pub fn run_all(files: &[String], json_out: bool) -> Outcome {
    let mut out = Vec::with_capacity(files.len());
    let mut invalid = false;
    for f in files {
        match run(f, json_out) {
            Outcome::Ok(t) => out.push(t),
            Outcome::Failed(t) => {
                invalid = true;
                out.push(t);
            }
            usage @ Outcome::Usage(_) => return usage,
        }
    }
    let text = out.join("\n");
    if invalid {
        Outcome::Failed(text)
    } else {
        Outcome::Ok(text)
    }
}

pub fn run(file: &str, json_out: bool) -> Outcome {
    let cfg = match load(file) {
        Ok(c) => c,
        Err(e) => return e.report(json_out),
    };
    if json_out {
        let routes: Vec<_> = cfg
            .routes
            .iter()
            .map(|r| json!({ "name": r.name, "strategy": r.strategy.kind(), "fingerprint": r.fingerprint }))
            .collect();
        return Outcome::Ok(
            json!({ "file": file, "valid": true, "id": cfg.id, "origins": cfg.origins.len(), "routes": routes })
                .to_string(),
        );
    }
    let mut out = format!(
        "{file}: valid: config {} with {} origin(s) and {} route(s)",
        cfg.id,
        cfg.origins.len(),
        cfg.routes.len()
    );
    for r in &cfg.routes {
        out.push_str(&format!(
            "\n  route {} ({}), fingerprint {}",
            r.name,
            r.strategy.kind(),
            r.fingerprint
        ));
    }
    Outcome::Ok(out)
}
