//! `switchyard`: the operator CLI, built on the same core as the workers.
//!
//! ```text
//! cargo run --bin switchyard -- validate demo/config.json
//! cargo run --bin switchyard -- explain --route fraud --unit alice demo/config.json
//! cargo run --bin switchyard -- diff old.json new.json [--units 100000]
//! cargo run --bin switchyard -- get | put <config> | history | revert <version>
//! cargo run --bin switchyard -- schema
//! cargo run --bin switchyard -- ope <route> --policy a=0.9,b=0.1
//! ```
//!
//! Exit codes: 0 done; 1 the config is invalid or the server refused; 2 usage, file or
//! network error.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod args;
mod diff;
mod explain;
mod ope;
mod remote;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use args::{flag, valued, Args, Opt};

/// What a command produced: its output (stdout) and how the process ends.
pub enum Outcome {
    Ok(String),
    /// Invalid config or a refused request: exit 1, output on stdout.
    Failed(String),
    /// Bad usage, unreadable file, unreachable server: exit 2, message on stderr.
    Usage(String),
}

const USAGE: &str = "\
switchyard — operate Switchyard configs (docs/cli.md)

USAGE (from the repository root):
  cargo run --bin switchyard -- <command> [options]

OFFLINE (the workers' own validator and decision code):
  validate <config>...                    every problem with its JSON path (exit 1 if any);
                                          --json: one JSON object per file, one per line
  explain --route R --unit U <config>     hash, bucket, per-arm scores, decision and reason
      [--header name:value]... [--country CC] [--method M]
      [--state state.json] [--weights weights.json]   (KV documents state:<route>, weights:<route>)
  diff <old> <new> [--units N]            share of units changing arm, from/to matrix,
      [--header name:value]... [--quiet]  new shares, per route (default 100000 units)
      [--layouts canonical|adopt|none]    A/B layouts: old canonical, new rebalanced (default);
                                          old by rendezvous, new through the control plane;
                                          or none (both written straight to KV)
  schema                                  the JSON Schema of config v1 (docs/config.schema.json;
                                          JSON with or without --json)

ONLINE (a running Switchyard; --url, default http://127.0.0.1:8787 or $SWITCHYARD_URL;
        --token, default $SWITCHYARD_TOKEN):
  get                                     print the config in force (its version on stderr)
  put <config> [--if-match V] [--message M]   validate locally, then write (412 if V is stale)
  history                                 versions, newest first
  revert <version> [--message M]          restore a version exactly
  ope <route> --policy a=0.9,b=0.1        off-policy estimate (IPS, self-normalised IPS, 95%
                                          intervals) of that allocation over the logged decisions

Every command takes --json for machine-readable output. `-` reads a config from stdin.
";

const JSON: Opt = flag("--json");
const URL: Opt = valued("--url");
const TOKEN: Opt = valued("--token");

fn client(a: &Args) -> Result<remote::Client, String> {
    let url = a
        .value("--url")
        .map(str::to_string)
        .or_else(|| {
            std::env::var("SWITCHYARD_URL")
                .ok()
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| remote::DEFAULT_URL.to_string());
    let token = a
        .value("--token")
        .map(str::to_string)
        .or_else(|| std::env::var("SWITCHYARD_TOKEN").ok());
    remote::Client::new(&url, token)
}

fn run(argv: &[String]) -> Outcome {
    let Some((cmd, rest)) = argv.split_first() else {
        return Outcome::Usage(USAGE.to_string());
    };
    let parsed = |opts: &[Opt]| Args::parse(rest, opts);
    let result: Result<Outcome, String> = (|| {
        Ok(match cmd.as_str() {
            "-h" | "--help" | "help" => Outcome::Ok(USAGE.trim_end().to_string()),
            "-V" | "--version" => Outcome::Ok(format!("switchyard {}", env!("CARGO_PKG_VERSION"))),
            "validate" => {
                let a = parsed(&[JSON])?;
                if a.positionals.is_empty() {
                    return Err("expected at least one argument: <config>...".into());
                }
                validate::run_all(&a.positionals, a.flag("--json"))
            }
            "explain" => {
                let a = parsed(&[
                    JSON,
                    valued("--route"),
                    valued("--unit"),
                    valued("--header"),
                    valued("--country"),
                    valued("--method"),
                    valued("--state"),
                    valued("--weights"),
                ])?;
                let p = a.positionals(&["<config>"])?;
                let req = explain::Synthetic::new(
                    a.values("--header"),
                    a.value("--country"),
                    a.value("--method"),
                )?;
                let kv = explain::KvInputs::load(a.value("--state"), a.value("--weights"))?;
                explain::run(
                    &p[0],
                    a.required("--route")?,
                    a.required("--unit")?,
                    &req,
                    &kv,
                    a.flag("--json"),
                )
            }
            "diff" => {
                let a = parsed(&[
                    JSON,
                    valued("--units"),
                    valued("--header"),
                    flag("--quiet"),
                    valued("--layouts"),
                ])?;
                let layouts = match a.value("--layouts").unwrap_or("canonical") {
                    "canonical" => diff::LayoutMode::Canonical,
                    "adopt" => diff::LayoutMode::Adopt,
                    "none" => diff::LayoutMode::None,
                    other => {
                        return Err(format!(
                            "--layouts {other:?}: expected canonical, adopt or none"
                        ))
                    }
                };
                let p = a.positionals(&["<old>", "<new>"])?;
                let units = match a.value("--units") {
                    None => diff::DEFAULT_UNITS,
                    Some(n) => match n.replace('_', "").parse::<u64>() {
                        Ok(n) if (1..=diff::MAX_UNITS).contains(&n) => n,
                        _ => {
                            return Err(format!(
                                "--units {n:?}: expected 1 to {}",
                                diff::MAX_UNITS
                            ))
                        }
                    },
                };
                let req = explain::Synthetic::new(a.values("--header"), None, None)?;
                diff::run(
                    &p[0],
                    &p[1],
                    units,
                    &req,
                    layouts,
                    a.flag("--json"),
                    a.flag("--quiet"),
                )
            }
            "schema" => {
                // The schema is JSON either way; --json is accepted like every command's.
                let a = parsed(&[JSON])?;
                a.positionals(&[])?;
                Outcome::Ok(switchyard_core::config::config_schema_text())
            }
            "get" => {
                let a = parsed(&[JSON, URL, TOKEN])?;
                a.positionals(&[])?;
                remote::get(&client(&a)?, a.flag("--json"))
            }
            "put" => {
                let a = parsed(&[JSON, URL, TOKEN, valued("--if-match"), valued("--message")])?;
                let p = a.positionals(&["<config>"])?;
                remote::put(
                    &client(&a)?,
                    &p[0],
                    a.value("--if-match"),
                    a.value("--message"),
                    a.flag("--json"),
                )
            }
            "history" => {
                let a = parsed(&[JSON, URL, TOKEN])?;
                a.positionals(&[])?;
                remote::history(&client(&a)?, a.flag("--json"))
            }
            "revert" => {
                let a = parsed(&[JSON, URL, TOKEN, valued("--message")])?;
                let p = a.positionals(&["<version>"])?;
                remote::revert(&client(&a)?, &p[0], a.value("--message"), a.flag("--json"))
            }
            "ope" => {
                let a = parsed(&[JSON, URL, TOKEN, valued("--policy")])?;
                let p = a.positionals(&["<route>"])?;
                let policy = ope::parse_policy(a.required("--policy")?)?;
                ope::run(&client(&a)?, &p[0], &policy, a.flag("--json"))
            }
            other => {
                return Err(format!(
                    "unknown command {other:?} (validate, explain, diff, schema, get, put, history, revert, ope; --help)"
                ))
            }
        })
    })();
    match result {
        Ok(o) => o,
        Err(msg) => Outcome::Usage(format!("{cmd}: {msg}")),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (text, code, to_stderr) = match run(&argv) {
        Outcome::Ok(t) => (t, 0, false),
        Outcome::Failed(t) => (t, 1, false),
        Outcome::Usage(t) => (format!("switchyard: {}", t.trim_end()), 2, true),
    };
    // A closed pipe (`switchyard diff … | head`) is not an error worth a panic.
    let _ = if to_stderr {
        writeln!(std::io::stderr(), "{text}")
    } else {
        writeln!(std::io::stdout(), "{text}")
    };
    ExitCode::from(code)
}
