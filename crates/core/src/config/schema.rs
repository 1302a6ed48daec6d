//! JSON Schema (draft 2020-12) of config schema v1, for editors, the dashboard and other
//! tools. Written next to the validator ([`crate::config`]) and held to it by tests:
//! every object's properties equal the keys the validator accepts (found by asking the
//! validator itself), and every fixture in `tests/fixtures/config_cases.json` is accepted or
//! rejected as the validator does, except the semantic checks JSON Schema cannot express
//! (origin references that must exist, unique names, routes shadowed by earlier ones,
//! non-decreasing canary steps, `canary != stable`, `completed <= batches`,
//! `min_share * arms <= 1`, duplicate keys in the text), which only the validator catches.
//! `tests/contracts/differential.test.mjs` holds both to that over thousands of generated
//! documents (its `VALIDATOR_ONLY` lists those checks by their messages). Optional fields
//! admit `null`, which the validator reads as absent (its one rule for optional fields).
//!
//! Patterns use `[\s\S]` where any character is meant (`.` stops at a line break in
//! JavaScript), and `percent` is a `multipleOf` 0.0001: a validator that divides in binary
//! floating point needs a tolerance there (ajv: `multipleOfPrecision`).
//!
//! `switchyard schema` prints [`config_schema_text`]; `docs/config.schema.json` is that output,
//! checked by `crates/cli/tests/cli.rs`.

use serde_json::{json, Value};

use crate::base::{NameChars, MAX_NAME_LEN};

/// `$id` of the published schema.
pub const SCHEMA_ID: &str = "https://switchyard.dev/schema/config-v1.json";

/// Whitespace as Rust's `str::trim` sees it (Unicode `White_Space`), which JavaScript's `\s`
/// does not quite match.
const WS: &str =
    "[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const MAX_HOLD_S: u64 = 30 * 86_400;

/// The name rule ([`crate::base::valid_name`] with [`NameChars::Config`]) as a pattern:
/// `^[A-Za-z0-9._-]{1,64}$`.
fn name_pattern() -> String {
    format!("^[{}]{{1,{MAX_NAME_LEN}}}$", NameChars::Config.class())
}

/// Route names ([`NameChars::Route`]): no `.` (they appear in URL paths, where `.` and `..`
/// segments are normalised away).
fn route_name_pattern() -> String {
    format!("^[{}]{{1,{MAX_NAME_LEN}}}$", NameChars::Route.class())
}

fn name(what: &str) -> Value {
    json!({ "type": "string", "pattern": name_pattern(), "description": what })
}

fn origin_ref(what: &str) -> Value {
    json!({ "$ref": "#/$defs/origin_ref", "description": what })
}

fn uint(max: u64, what: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": max, "description": what })
}

/// An optional field: `null` means absent (the validator's one rule for optional fields).
fn opt(mut v: Value) -> Value {
    if let Some(t) = v.get("type").cloned() {
        v["type"] = json!([t, "null"]);
    } else if let Some(Value::Array(e)) = v.get_mut("enum") {
        e.push(Value::Null);
    } else {
        v = json!({ "anyOf": [v, { "type": "null" }] });
    }
    v
}

fn unit_float(default: f64, what: &str) -> Value {
    json!({ "type": ["number", "null"], "minimum": 0, "maximum": 1, "default": default, "description": what })
}

fn rate(max: f64, what: &str) -> Value {
    json!({ "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": max, "description": what })
}

/// A closed object: exactly these properties, some required.
fn object(description: &str, required: &[&str], properties: Value) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

fn strategy(kind: &str, description: &str, required: &[&str], mut properties: Value) -> Value {
    properties["kind"] = json!({ "const": kind });
    let mut req = vec!["kind"];
    req.extend_from_slice(required);
    object(description, &req, properties)
}

fn salt() -> Value {
    json!({ "type": ["string", "null"], "description": "Appended to the split salt `<route>:split`: a new salt reshuffles every unit." })
}

fn compare(kind: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    let mut p = properties;
    p["kind"] = json!({ "const": kind });
    let mut req = vec!["kind"];
    req.extend_from_slice(required);
    object(description, &req, p)
}

/// The schema as a JSON value.
pub fn config_schema() -> Value {
    let strategies = [
        (
            "ab",
            strategy(
                "ab",
                "Weighted A/B split: weighted rendezvous hashing over the arms; sticky per unit.",
                &["arms"],
                json!({
                    "arms": {
                        "type": "array", "minItems": 1,
                        "items": { "$ref": "#/$defs/weighted_arm" },
                        "contains": { "type": "object", "required": ["weight"], "properties": { "weight": { "type": "number", "exclusiveMinimum": 0 } } },
                        "description": "At least one arm with a positive weight; arm names are unique (validator)."
                    },
                    "guard": opt(json!({ "$ref": "#/$defs/ab_guard" })),
                    "salt": salt(),
                }),
            ),
        ),
        (
            "canary",
            strategy(
                "canary",
                "Canary: `percent` of units go to `canary`, the rest to `stable`; optional automatic steps, guard and release gates.",
                &["stable", "canary", "percent"],
                json!({
                    "stable": origin_ref("Origin serving everyone outside the canary."),
                    "canary": origin_ref("Origin of the canary; must differ from `stable` (validator)."),
                    "percent": { "$ref": "#/$defs/percent" },
                    "steps": {
                        "type": ["array", "null"],
                        "items": object("One controller step.", &["percent", "hold_s"], json!({
                            "percent": { "$ref": "#/$defs/percent" },
                            "hold_s": uint(MAX_HOLD_S, "Seconds to hold this step while the guard holds."),
                        })),
                        "description": "Controller steps; percents must not decrease (validator)."
                    },
                    "guard": opt(json!({ "$ref": "#/$defs/guard" })),
                    "gates": opt(json!({ "$ref": "#/$defs/gates" })),
                    "salt": salt(),
                }),
            ),
        ),
        (
            "flag",
            strategy(
                "flag",
                "Feature flags choosing an origin: the first flag that is on for the unit wins, else `default`.",
                &["default", "flags"],
                json!({
                    "default": origin_ref("Origin when no flag is on."),
                    "flags": { "type": "array", "items": { "$ref": "#/$defs/origin_flag" }, "description": "Flag names are unique (validator)." },
                }),
            ),
        ),
        (
            "blue_green",
            strategy(
                "blue_green",
                "Blue-green: everyone on the active side; `preview_header` sends a request to the other side.",
                &["blue", "green", "active"],
                json!({
                    "blue": origin_ref("Blue origin."),
                    "green": origin_ref("Green origin."),
                    "active": { "enum": ["blue", "green"] },
                    "failover": { "type": ["boolean", "null"], "default": false, "description": "Retry once on the other side on a connection error or 5xx." },
                    "preview_header": opt(json!({ "type": "string", "description": "A request carrying this header goes to the inactive side." })),
                }),
            ),
        ),
        (
            "rolling",
            strategy(
                "rolling",
                "Rolling: units move from `from` to `to` in `batches` equal slices; `completed` slices have moved.",
                &["from", "to", "batches"],
                json!({
                    "from": origin_ref("Origin being replaced."),
                    "to": origin_ref("Origin replacing it."),
                    "batches": { "type": "integer", "minimum": 1, "maximum": 10_000 },
                    "completed": opt(uint(10_000, "Batches already moved; at most `batches` (validator).")),
                    "interval_s": opt(uint(MAX_HOLD_S, "The controller completes one more batch every interval while the guard holds.")),
                    "guard": opt(json!({ "$ref": "#/$defs/guard" })),
                    "salt": salt(),
                }),
            ),
        ),
        (
            "recreate",
            strategy(
                "recreate",
                "Recreate: every request to one origin.",
                &["origin"],
                json!({
                    "origin": origin_ref("The origin."),
                    "health_path": opt(json!({ "type": "string", "pattern": "^/", "description": "Health check path on the origin." })),
                }),
            ),
        ),
        (
            "bandit",
            strategy(
                "bandit",
                "Multi-armed bandit: weights learned from rewards (feedback), sticky per unit by default.",
                &["arms"],
                json!({
                    "arms": { "type": "array", "minItems": 1, "items": { "$ref": "#/$defs/arm" }, "description": "Arm names are unique (validator)." },
                    "algorithm": { "enum": ["thompson", "ucb1", "epsilon_greedy", null], "default": "thompson" },
                    "epsilon": unit_float(0.1, "Exploration share for epsilon_greedy."),
                    "min_share": unit_float(0.01, "Floor of every arm's weight; times the number of arms at most 1 (validator)."),
                    "min_samples": opt(uint(1_000_000_000, "Rewards per arm before weights move from equal.")),
                    "feedback": { "enum": ["auto", "conversion", "explicit", null], "default": "auto", "description": "How rewards are read: `conversion` (clients report successes only; a routed request without feedback is a 0), `explicit` (every reward is reported; missing feedback is missing, not 0), `auto` (conversion while every reward so far was 0 or 1, explicit once one was not)." },
                    "sticky": { "type": ["boolean", "null"], "default": true, "description": "Keep a unit on its arm (rendezvous on the weights) instead of sampling per request." },
                    "trainer": { "enum": ["learner", "external", null], "default": "learner", "description": "Who writes `weights:<route>`: the route's learner, or a trainer outside Switchyard (`PUT /_switchyard/weights/<route>`); the learner then never writes them, and the edge still applies `min_share` and health drains." },
                    "max_weight_age_s": { "type": ["integer", "null"], "minimum": 1, "maximum": super::MAX_WEIGHT_AGE_S, "default": super::DEFAULT_MAX_WEIGHT_AGE_S, "description": "External trainer: weights whose `updated_ms` is older than this are not followed (equal shares and a `weights_stale` alert instead)." },
                    "salt": salt(),
                }),
            ),
        ),
    ];
    let kinds: Vec<&str> = strategies.iter().map(|(k, _)| *k).collect();
    let mut defs = serde_json::Map::new();
    let mut dispatch = Vec::new();
    for (kind, schema) in strategies {
        let def = format!("strategy_{kind}");
        dispatch.push(json!({
            "if": { "type": "object", "properties": { "kind": { "const": kind } }, "required": ["kind"] },
            "then": { "$ref": format!("#/$defs/{def}") }
        }));
        defs.insert(def, schema);
    }
    let tolerance = json!({ "type": ["number", "null"], "minimum": 0, "default": crate::observe::DEFAULT_TOLERANCE, "description": "Absolute tolerance for numbers." });
    let semver = format!("^{WS}*[vV]*[0-9]{{1,19}}(\\.[0-9]{{1,19}}){{0,2}}([-+][\\s\\S]*)?{WS}*$");
    // The route's offline-learning fields, built apart (one `json!` of every route field
    // would pass the macro's recursion limit).
    let route_reward = json!({ "anyOf": [{ "$ref": "#/$defs/reward_range" }, { "type": "null" }] });
    let route_feedback_auth = json!({ "enum": ["receipt", "token", null], "default": "receipt", "description": "Who may send feedback: anyone holding the receipt, or (`token`) only a caller with an operator token of role `feedback` or higher." });
    let route_log = json!({ "anyOf": [{ "$ref": "#/$defs/decision_log" }, { "type": "null" }] });
    let route_def = object(
        "A route: which requests, how units are identified, which strategy.",
        &["name", "match", "strategy"],
        json!({
            "name": { "type": "string", "pattern": route_name_pattern(), "description": "Route name, 1-64 characters of [A-Za-z0-9_-] (no `.`: it names URL paths); unique (validator)." },
            "match": { "$ref": "#/$defs/match" },
            "unit": { "type": ["array", "null"], "items": { "$ref": "#/$defs/unit_source" }, "description": "Where the unit id comes from, in order; default header x-user-id, then cookie sy_uid." },
            "strategy": { "$ref": "#/$defs/strategy" },
            "shadow": { "type": ["array", "null"], "maxItems": 32, "items": { "$ref": "#/$defs/shadow" } },
            "flags": { "type": ["array", "null"], "maxItems": 64, "items": { "$ref": "#/$defs/flag" } },
            "strip_prefix": opt(json!({ "type": "string", "pattern": "^/[\\s\\S]*[^/]$", "description": "Removed from the path before forwarding." })),
            "credentials": { "type": ["array", "null"], "minItems": 1, "maxItems": 32, "items": { "type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$" }, "description": "Header names the route's callers authenticate with (besides Authorization, Cookie, Proxy-Authorization): never sent to a shadow without forward_credentials." },
            "feedback_shards": { "type": ["integer", "null"], "minimum": 1, "maximum": 64, "default": 1, "description": "Receipt ledger shards feedback is spread over (by receipt id); the route's object merges them on its tick." },
            "reward": route_reward,
            "feedback_auth": route_feedback_auth,
            "log": route_log,
            "experiment": opt(json!({ "$ref": "#/$defs/experiment" })),
            "description": { "type": ["string", "null"] },
        }),
    );
    let more = json!({
        "name": name("1-64 characters of [A-Za-z0-9._-]."),
        "origin_ref": { "type": "string", "description": "Name of an origin in `origins` (that it exists is checked by the validator: any other string is an unknown origin)." },
        "percent": { "type": "number", "minimum": 0, "maximum": 100, "multipleOf": 0.0001, "description": "Percent, 0-100, at most 4 decimals." },
        "methods": { "type": "array", "minItems": 1, "items": { "type": "string", "pattern": "^[A-Za-z]+$" }, "description": "HTTP methods (case-insensitive)." },
        "shadow_methods": { "type": "array", "minItems": 1, "items": { "type": "string", "pattern": "^([Gg][Ee][Tt]|[Hh][Ee][Aa][Dd]|[Pp][Oo][Ss][Tt]|[Pp][Uu][Tt]|[Pp][Aa][Tt][Cc][Hh]|[Dd][Ee][Ll][Ee][Tt][Ee]|[Oo][Pp][Tt][Ii][Oo][Nn][Ss])$" }, "description": "Methods mirrored (case-insensitive): GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS; never CONNECT, TRACE or WebDAV verbs. Default: the route's match methods among these, else GET and POST." },
        "origin": object("A model server.", &["url"], json!({
            "url": { "type": "string", "pattern": "^https?://[^/?#\\\\@ ]+[^?#\\\\@ ]*$", "description": "http(s)://host[:port][/base-path]; no query, fragment, credentials or spaces." },
            "timeout_ms": { "type": ["integer", "null"], "minimum": 1, "maximum": 300_000, "default": 10_000 },
            "description": { "type": ["string", "null"] },
        })),
        "match": object("Which requests the route takes: the first route that matches wins.", &[], json!({
            "host": opt(json!({ "type": "string", "pattern": "^[^/ :]+$", "description": "Host without port; any host when absent." })),
            "path_prefix": { "type": ["string", "null"], "pattern": "^/", "default": "/", "description": "Matches on a segment boundary." },
            "methods": { "anyOf": [{ "$ref": "#/$defs/methods" }, { "type": "null" }] },
        })),
        "unit_source": {
            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": false,
            "description": "Exactly one of header, cookie, query.",
            "properties": {
                "header": { "type": "string", "minLength": 1, "maxLength": 256 },
                "cookie": { "type": "string", "minLength": 1, "maxLength": 256 },
                "query": { "type": "string", "minLength": 1, "maxLength": 256 },
            }
        },
        "weighted_arm": object("An A/B arm.", &["name", "origin", "weight"], json!({
            "name": name("Arm name, reported in x-switchyard-arm."),
            "origin": origin_ref("Origin serving the arm."),
            "weight": { "type": "number", "minimum": 0 },
        })),
        "arm": object("A bandit arm.", &["name", "origin"], json!({
            "name": name("Arm name, reported in x-switchyard-arm."),
            "origin": origin_ref("Origin serving the arm."),
        })),
        "experiment": object("How the route's experiment (A/B, canary, bandit arms against the first) is analysed.", &[], json!({
            "expected_units": { "type": ["integer", "null"], "minimum": 10, "maximum": 1_000_000_000u64, "default": 5000, "description": "Units (all arms together) at which the always-valid test is tuned to be tightest: the sample size at which you expect to decide. Keep it fixed for an experiment." },
        })),
        "guard": object("Health limits: the controller rolls back when one is exceeded.", &[], json!({
            "max_error_rate": rate(1.0, "Largest acceptable error rate of the new side, (0, 1]."),
            "max_p95_latency_ratio": rate(1_000.0, "Largest acceptable p95 latency ratio new/old, (0, 1000]."),
            "min_requests": { "type": ["integer", "null"], "minimum": 0, "maximum": crate::config::MAX_MIN_REQUESTS, "default": 100, "description": "Requests on the new side before the guard judges." },
        })),
        "gates": {
            "type": "object", "additionalProperties": false,
            "description": "Release gates of a canary: a shadow stage before the first step, a non-inferiority test on the last. At least one.",
            "properties": {
                "shadow": opt(json!({ "$ref": "#/$defs/shadow_gate" })),
                "promote": opt(json!({ "$ref": "#/$defs/promote_gate" })),
            },
            "anyOf": [
                { "type": "object", "required": ["shadow"], "properties": { "shadow": { "type": "object" } } },
                { "type": "object", "required": ["promote"], "properties": { "promote": { "type": "object" } } },
            ]
        },
        "shadow_gate": object("The candidate receives only mirrored traffic until at least `min_observations` compared responses agree at `min_agreement` or better.", &["min_observations", "min_agreement", "compare"], json!({
            "min_observations": { "type": "integer", "minimum": 1, "maximum": 1_000_000_000u64, "description": "Compared responses needed before the gate can pass." },
            "min_agreement": { "type": "number", "minimum": 0, "maximum": 1, "description": "Share of compared responses that must agree, [0, 1]." },
            "compare": { "$ref": "#/$defs/compare" },
            "percent": opt(json!({ "allOf": [{ "$ref": "#/$defs/percent" }, { "type": "number", "exclusiveMinimum": 0 }], "default": 100, "description": "Share of requests mirrored to the candidate while the gate is pending (default 100)." })),
        })),
        "promote_gate": object("On the last step: promote to 100 % once an always-valid test shows the candidate not worse than stable by the margin on every metric; roll back once one shows it worse.", &[], json!({
            "margin": opt(json!({ "$ref": "#/$defs/margin" })),
            "alpha": rate(0.5, "Error probability of each one-sided test, (0, 0.5]; default 0.05."),
            "min_requests": { "type": ["integer", "null"], "minimum": 2, "maximum": 1_000_000_000u64, "default": 100, "description": "Requests each arm needs in the last step before the gate judges." },
        })),
        "margin": object("How much worse than stable the candidate may be and still count as not worse.", &[], json!({
            "error_rate": rate(1.0, "Candidate error rate minus stable's, (0, 1]; default 0.01."),
            "latency_ratio": { "type": ["number", "null"], "exclusiveMinimum": 1, "maximum": 1_000, "default": 1.2, "description": "Ratio of geometric-mean latencies candidate/stable, (1, 1000]." },
            "reward": { "type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1e6, "description": "Stable mean reward minus the candidate's; judged only when set and rewards arrive." },
        })),
        "ab_guard": {
            "type": "object", "additionalProperties": false,
            "description": "Opt-in health guard of an A/B route: when an arm breaches a limit, `stop` sends every unit to the control arm (the first), `drain` takes only the failing arm out. At least one limit.",
            "properties": {
                "max_error_rate": rate(1.0, "Largest acceptable error rate of an arm, (0, 1]."),
                "max_p95_latency_ratio": rate(1_000.0, "Largest acceptable p95 latency ratio arm/control, (0, 1000]."),
                "min_requests": { "type": ["integer", "null"], "minimum": 0, "maximum": crate::config::MAX_MIN_REQUESTS, "default": 100, "description": "Requests on an arm before the guard judges it." },
                "action": { "enum": ["stop", "drain", null], "default": "stop", "description": "What a breach does." },
            },
            "anyOf": [
                { "type": "object", "required": ["max_error_rate"], "properties": { "max_error_rate": { "type": "number" } } },
                { "type": "object", "required": ["max_p95_latency_ratio"], "properties": { "max_p95_latency_ratio": { "type": "number" } } },
            ]
        },
        "rule": {
            "type": "object", "additionalProperties": false, "required": ["attr", "op", "values"],
            "properties": {
                "attr": { "type": "string", "pattern": "^(country|(header|cookie|query):[\\s\\S]+)$", "description": "header:<name>, cookie:<name>, query:<name> or country." },
                "op": { "enum": ["eq", "in", "prefix", "semver_gte"] },
                "values": { "type": "array", "minItems": 1, "items": { "type": "string" } },
            },
            "allOf": [
                { "if": { "type": "object", "properties": { "op": { "enum": ["eq", "semver_gte"] } }, "required": ["op"] },
                  "then": { "type": "object", "properties": { "values": { "type": "array", "maxItems": 1 } } } },
                { "if": { "type": "object", "properties": { "op": { "const": "semver_gte" } }, "required": ["op"] },
                  "then": { "type": "object", "properties": { "values": { "type": "array", "items": { "type": "string", "pattern": semver } } } } },
            ]
        },
        "flag": object("A route-level flag, reported in x-switchyard-flags.", &["name"], json!({
            "name": name("Flag name; unique in the route (validator)."),
            "rollout": opt(json!({ "$ref": "#/$defs/percent" })),
            "rules": { "type": ["array", "null"], "items": { "$ref": "#/$defs/rule" }, "description": "All must match." },
            "description": { "type": ["string", "null"] },
        })),
        "origin_flag": object("A flag that sends the units it is on for to an origin.", &["name", "origin"], json!({
            "name": name("Flag name, also the arm name."),
            "origin": origin_ref("Origin for units the flag is on for."),
            "rollout": opt(json!({ "$ref": "#/$defs/percent" })),
            "rules": { "type": ["array", "null"], "items": { "$ref": "#/$defs/rule" }, "description": "All must match." },
            "description": { "type": ["string", "null"] },
        })),
        "compare": {
            "description": "How to compare the shadow's answer with the primary's.",
            "type": "object", "required": ["kind"],
            "properties": { "kind": { "enum": ["json_pointer", "kserve_v2", "tf_serving", "openai_chat"] } },
            "oneOf": [
                compare("json_pointer", "RFC 6901 pointer into both bodies.", json!({
                    "pointer": { "type": "string", "pattern": "^(/[\\s\\S]*)?$" },
                    "tolerance": tolerance,
                }), &["pointer"]),
                compare("kserve_v2", "KServe v2 outputs[].data.", json!({ "tolerance": tolerance, "pointer": { "type": "null" } }), &[]),
                compare("tf_serving", "TF Serving predictions/outputs.", json!({ "tolerance": tolerance, "pointer": { "type": "null" } }), &[]),
                compare("openai_chat", "OpenAI-style choices[].message.content.", json!({ "tolerance": { "type": "null" }, "pointer": { "type": "null" } }), &[]),
            ]
        },
        "shadow": object("Mirror a share of the route's requests to an origin; the answer is compared, never returned.", &["origin"], json!({
            "origin": origin_ref("Origin to mirror to; each origin at most once per route (validator)."),
            "percent": opt(json!({ "$ref": "#/$defs/percent" })),
            "methods": { "anyOf": [{ "$ref": "#/$defs/shadow_methods" }, { "type": "null" }] },
            "forward_credentials": { "type": ["boolean", "null"], "default": false, "description": "Also send the shadow Authorization, Cookie, Proxy-Authorization and the route's `credentials` headers (withheld by default)." },
            "max_body_bytes": opt(uint(100 << 20, "Larger bodies are not mirrored.")),
            "timeout_ms": opt(uint(300_000, "Shadow request timeout.")),
            "compare": { "anyOf": [{ "$ref": "#/$defs/compare" }, { "type": "null" }] },
        })),
        "strategy": {
            "type": "object",
            "required": ["kind"],
            "properties": { "kind": { "enum": kinds } },
            "allOf": dispatch,
        },
        "route": route_def,
        "reward_range": object("Rewards the route accepts; feedback outside is refused (400 `reward_out_of_range`) and its receipt stays unspent. Default [0, 1]. `min < max` (validator).", &["min", "max"], json!({
            "min": { "type": "number", "minimum": -super::MAX_ABS_REWARD, "maximum": super::MAX_ABS_REWARD },
            "max": { "type": "number", "minimum": -super::MAX_ABS_REWARD, "maximum": super::MAX_ABS_REWARD },
        })),
        "decision_log": object("The route's decision log (`GET /_switchyard/decisions/<route>`).", &[], json!({
            "decisions": { "type": ["boolean", "null"], "default": true, "description": "Log decisions (arm, propensity, hashed unit, reward) for off-policy evaluation." },
            "context": { "type": ["array", "null"], "maxItems": super::MAX_LOG_CONTEXT, "uniqueItems": true, "items": { "type": "string", "pattern": "^(country|(header|cookie|query):[\\s\\S]+)$" }, "description": "Request attributes logged with each decision, each once: header:<name>, cookie:<name>, query:<name> or country." },
        })),
    });
    if let Value::Object(m) = more {
        defs.extend(m);
    }
    // `webhook_allowed` (config/alerts.rs) as a pattern: no whitespace or control character
    // (Rust's `char::is_whitespace`/`is_control`); https:// with a host after any userinfo,
    // or http:// to localhost (any case), 127.a.b.c (parts up to 255) or [::1], with an
    // optional numeric port.
    let no =
        "\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
    let octet = "([01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])";
    let webhook_url = format!(
        "^(https://([^{no}/?#]*@)?[^{no}/?#@]+|http://([^{no}/?#]*@)?([Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127\\.{octet}\\.{octet}\\.{octet}|\\[::1\\])(:[0-9]{{1,5}})?)([/?#][^{no}]*)?$"
    );
    let mut root = object(
        "Switchyard config, schema v1 (KV namespace SPLIT_CONFIG, key `config`).",
        &["version", "origins", "routes"],
        json!({
            "version": { "const": 1 },
            "description": { "type": ["string", "null"] },
            "default_origin": opt(json!({ "type": "string", "description": "Origin for requests no route matches (404 when absent); a name in `origins` (validator)." })),
            "origins": {
                "type": "object", "minProperties": 1,
                "propertyNames": { "pattern": name_pattern() },
                "additionalProperties": { "$ref": "#/$defs/origin" },
            },
            "routes": { "type": "array", "items": { "$ref": "#/$defs/route" } },
            "alerts": {
                "type": ["object", "null"], "additionalProperties": false,
                "description": "Webhooks (Slack-compatible JSON) on controller events.",
                "properties": {
                    "webhooks": {
                        "type": ["array", "null"], "maxItems": super::alerts::MAX_WEBHOOKS,
                        "items": {
                            "type": "object", "additionalProperties": false,
                            "oneOf": [
                                { "properties": { "url": true }, "required": ["url"] },
                                { "properties": { "url_secret": true }, "required": ["url_secret"] },
                            ],
                            "properties": {
                                "url": { "type": "string", "pattern": webhook_url, "maxLength": super::alerts::MAX_URL_LEN, "description": "Receiver: https://, or http:// to a loopback host (sent to only in local development). Shown redacted (scheme and host) to all but admins." },
                                "url_secret": { "type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$", "maxLength": super::alerts::MAX_SECRET_NAME, "description": "Instead of url: the name of a stats-worker secret holding the URL, read at send time." },
                                "events": { "type": ["array", "null"], "minItems": 1, "uniqueItems": true, "items": { "enum": super::alerts::EVENTS }, "description": "Events to send (all when absent)." },
                            }
                        }
                    }
                }
            },
        }),
    );
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$id"] = json!(SCHEMA_ID);
    root["title"] = json!("Switchyard config v1");
    root["$defs"] = Value::Object(defs);
    root
}

/// The schema as published in `docs/config.schema.json`: two-space indent, sorted keys,
/// trailing newline trimmed (the CLI adds it).
pub fn config_schema_text() -> String {
    serde_json::to_string_pretty(&config_schema()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    /// A valid config with one route per strategy and every optional object present.
    fn base() -> Value {
        json!({
            "version": 1, "default_origin": "a", "description": "d",
            "origins": { "a": { "url": "http://127.0.0.1:1", "timeout_ms": 5, "description": "x" }, "b": { "url": "http://127.0.0.1:2" } },
            "routes": [
                { "name": "ab", "match": { "path_prefix": "/ab", "methods": ["POST"], "host": "h" }, "unit": [{ "header": "x" }],
                  "strategy": { "kind": "ab", "salt": "s", "arms": [{ "name": "x", "origin": "a", "weight": 1 }], "guard": { "max_error_rate": 0.5 } },
                  "shadow": [{ "origin": "b", "compare": { "kind": "kserve_v2" } }],
                  "flags": [{ "name": "f", "rules": [{ "attr": "country", "op": "eq", "values": ["CH"] }] }],
                  "strip_prefix": "/ab", "description": "d", "reward": { "min": -1, "max": 5 }, "feedback_auth": "token",
                  "log": { "decisions": true, "context": ["header:x-country", "country"] }, "experiment": { "expected_units": 1000 } },
                { "name": "cn", "match": { "path_prefix": "/cn" }, "strategy": { "kind": "canary", "stable": "a", "canary": "b", "percent": 5,
                  "steps": [{ "percent": 10, "hold_s": 1 }], "guard": { "max_error_rate": 0.1 },
                  "gates": { "shadow": { "min_observations": 10, "min_agreement": 0.9, "compare": { "kind": "kserve_v2" }, "percent": 50 },
                             "promote": { "margin": { "error_rate": 0.02, "latency_ratio": 1.5, "reward": 0.1 }, "alpha": 0.05, "min_requests": 50 } } } },
                { "name": "fl", "match": { "path_prefix": "/fl" }, "strategy": { "kind": "flag", "default": "a", "flags": [{ "name": "g", "origin": "b" }] } },
                { "name": "bg", "match": { "path_prefix": "/bg" }, "strategy": { "kind": "blue_green", "blue": "a", "green": "b", "active": "blue" } },
                { "name": "ro", "match": { "path_prefix": "/ro" }, "strategy": { "kind": "rolling", "from": "a", "to": "b", "batches": 2 } },
                { "name": "re", "match": { "path_prefix": "/re" }, "strategy": { "kind": "recreate", "origin": "a" } },
                { "name": "ba", "match": { "path_prefix": "/ba" }, "strategy": { "kind": "bandit", "arms": [{ "name": "x", "origin": "a" }], "trainer": "external", "max_weight_age_s": 60 } },
            ]
        })
    }

    /// The keys the validator accepts at a JSON pointer of [`base`]: insert an unknown key
    /// and read the list from its "unknown field (expected one of: …)" error.
    fn validator_keys(pointer: &str) -> Vec<String> {
        let mut doc = base();
        let Some(Value::Object(obj)) = doc.pointer_mut(pointer) else {
            panic!("no object at {pointer}");
        };
        obj.insert("zz_unknown".into(), json!(1));
        let errors = config::parse(&doc.to_string()).unwrap_err();
        let e = errors
            .iter()
            .find(|e| e.path.ends_with(".zz_unknown"))
            .unwrap_or_else(|| panic!("{pointer}: no unknown-field error in {errors:?}"));
        let list = e
            .reason
            .split("expected one of: ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')');
        let mut keys: Vec<String> = list.split(", ").map(str::to_string).collect();
        keys.sort();
        keys
    }

    fn schema_keys(schema: &Value, def: &str) -> Vec<String> {
        let node = if def.is_empty() {
            schema
        } else {
            &schema["$defs"][def]
        };
        let mut keys: Vec<String> = node["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{def}: no properties"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn base_is_valid() {
        config::parse(&base().to_string()).unwrap();
    }

    #[test]
    fn properties_equal_the_validators_keys() {
        let s = config_schema();
        let cases = [
            ("", ""),
            ("/origins/a", "origin"),
            ("/routes/0", "route"),
            ("/routes/0/match", "match"),
            ("/routes/0/experiment", "experiment"),
            ("/routes/0/unit/0", "unit_source"),
            ("/routes/0/strategy", "strategy_ab"),
            ("/routes/0/strategy/arms/0", "weighted_arm"),
            ("/routes/0/strategy/guard", "ab_guard"),
            ("/routes/0/shadow/0", "shadow"),
            ("/routes/0/flags/0", "flag"),
            ("/routes/0/flags/0/rules/0", "rule"),
            ("/routes/0/reward", "reward_range"),
            ("/routes/0/log", "decision_log"),
            ("/routes/1/strategy", "strategy_canary"),
            ("/routes/1/strategy/steps/0", "strategy_canary"),
            ("/routes/1/strategy/guard", "guard"),
            ("/routes/1/strategy/gates", "gates"),
            ("/routes/1/strategy/gates/shadow", "shadow_gate"),
            ("/routes/1/strategy/gates/promote", "promote_gate"),
            ("/routes/1/strategy/gates/promote/margin", "margin"),
            ("/routes/2/strategy", "strategy_flag"),
            ("/routes/2/strategy/flags/0", "origin_flag"),
            ("/routes/3/strategy", "strategy_blue_green"),
            ("/routes/4/strategy", "strategy_rolling"),
            ("/routes/5/strategy", "strategy_recreate"),
            ("/routes/6/strategy", "strategy_bandit"),
            ("/routes/6/strategy/arms/0", "arm"),
        ];
        for (pointer, def) in cases {
            let want = validator_keys(pointer);
            let got = if pointer.ends_with("/steps/0") {
                let mut k: Vec<String> = s["$defs"][def]["properties"]["steps"]["items"]
                    ["properties"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect();
                k.sort();
                k
            } else {
                schema_keys(&s, def)
            };
            assert_eq!(got, want, "{pointer} vs $defs/{def}");
        }
    }

    /// Every optional field of [`base`] (and of the strategies' optional fields): `null`
    /// parses exactly as the field left out (the one rule for optional fields), and the
    /// schema accepts it.
    #[test]
    fn null_means_absent_for_every_optional_field() {
        let optional: &[(&str, &[&str])] = &[
            ("", &["default_origin", "alerts", "description"]),
            ("/origins/a", &["timeout_ms", "description"]),
            (
                "/routes/0",
                &[
                    "unit",
                    "shadow",
                    "flags",
                    "strip_prefix",
                    "feedback_shards",
                    "reward",
                    "feedback_auth",
                    "log",
                    "experiment",
                ],
            ),
            ("/routes/0/log", &["decisions", "context"]),
            ("/routes/0/match", &["host", "path_prefix", "methods"]),
            ("/routes/0/experiment", &["expected_units"]),
            ("/routes/0/strategy", &["guard", "salt"]),
            (
                "/routes/0/strategy/guard",
                &["max_p95_latency_ratio", "min_requests", "action"],
            ),
            (
                "/routes/0/shadow/0",
                &[
                    "percent",
                    "methods",
                    "max_body_bytes",
                    "timeout_ms",
                    "compare",
                ],
            ),
            ("/routes/0/flags/0", &["rollout", "rules"]),
            ("/routes/1/strategy", &["steps", "guard", "gates", "salt"]),
            (
                "/routes/1/strategy/guard",
                &["max_error_rate", "max_p95_latency_ratio", "min_requests"],
            ),
            ("/routes/1/strategy/gates", &["shadow"]),
            ("/routes/1/strategy/gates/shadow", &["percent"]),
            (
                "/routes/1/strategy/gates/promote",
                &["margin", "alpha", "min_requests"],
            ),
            (
                "/routes/1/strategy/gates/promote/margin",
                &["error_rate", "latency_ratio", "reward"],
            ),
            ("/routes/2/strategy/flags/0", &["rollout", "rules"]),
            ("/routes/3/strategy", &["failover", "preview_header"]),
            (
                "/routes/4/strategy",
                &["completed", "interval_s", "guard", "salt"],
            ),
            ("/routes/5/strategy", &["health_path"]),
            (
                "/routes/6/strategy",
                &[
                    "algorithm",
                    "epsilon",
                    "min_share",
                    "min_samples",
                    "sticky",
                    "feedback",
                    "trainer",
                    "max_weight_age_s",
                    "salt",
                ],
            ),
        ];
        let mut full = base();
        full["alerts"] = json!({ "webhooks": [{ "url": "https://h.example", "events": ["srm"] }] });
        let optional_webhook: &[(&str, &[&str])] = &[
            ("/alerts", &["webhooks"]),
            ("/alerts/webhooks/0", &["events"]),
        ];
        let schema = config_schema();
        let validator = schema_admits_null(&schema);
        for (pointer, keys) in optional.iter().chain(optional_webhook) {
            for key in *keys {
                let mut nulled = full.clone();
                let mut absent = full.clone();
                nulled.pointer_mut(pointer).unwrap()[*key] = Value::Null;
                absent
                    .pointer_mut(pointer)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove(*key);
                let mut a = config::parse(&nulled.to_string())
                    .unwrap_or_else(|e| panic!("{pointer}/{key}: null rejected: {e:?}"));
                let mut b = config::parse(&absent.to_string()).unwrap();
                a.id.clear();
                b.id.clear();
                for r in a.routes.iter_mut().chain(b.routes.iter_mut()) {
                    r.fingerprint.clear();
                }
                assert_eq!(a, b, "{pointer}/{key}");
                assert!(
                    validator(pointer, key),
                    "schema rejects {pointer}/{key}: null"
                );
            }
        }
        // Required fields given null keep their errors.
        for (pointer, key, reason) in [
            ("/routes/0", "name", "expected a string, found null"),
            (
                "/routes/1/strategy",
                "percent",
                "expected a number, found null",
            ),
            (
                "/routes/3/strategy",
                "active",
                "expected \"blue\" or \"green\"",
            ),
            (
                "/routes/4/strategy",
                "batches",
                "expected a non-negative integer, found null",
            ),
            ("", "version", "expected a non-negative integer, found null"),
        ] {
            let mut doc = base();
            doc.pointer_mut(pointer).unwrap()[key] = Value::Null;
            let errors = config::parse(&doc.to_string()).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.path.ends_with(&format!(".{key}")) && e.reason == reason),
                "{pointer}/{key}: {errors:?}"
            );
        }
    }

    /// Whether the schema node for `key` under the object at `pointer` admits `null`: the
    /// property schema (through one `$ref`) has `null` in its `type`, `enum` or an `anyOf`.
    fn schema_admits_null(schema: &Value) -> impl Fn(&str, &str) -> bool + '_ {
        move |pointer, key| {
            let def = match pointer {
                "" => schema.clone(),
                "/alerts" => schema["properties"]["alerts"].clone(),
                "/alerts/webhooks/0" => {
                    schema["properties"]["alerts"]["properties"]["webhooks"]["items"].clone()
                }
                p if p.starts_with("/origins/") => schema["$defs"]["origin"].clone(),
                p if p.ends_with("/match") => schema["$defs"]["match"].clone(),
                p if p.ends_with("/log") => schema["$defs"]["decision_log"].clone(),
                p if p.ends_with("/experiment") => schema["$defs"]["experiment"].clone(),
                "/routes/0/strategy/guard" => schema["$defs"]["ab_guard"].clone(),
                "/routes/1/strategy/gates" => schema["$defs"]["gates"].clone(),
                "/routes/1/strategy/gates/shadow" => schema["$defs"]["shadow_gate"].clone(),
                "/routes/1/strategy/gates/promote" => schema["$defs"]["promote_gate"].clone(),
                "/routes/1/strategy/gates/promote/margin" => schema["$defs"]["margin"].clone(),
                p if p.ends_with("/guard") => schema["$defs"]["guard"].clone(),
                p if p.contains("/shadow/") => schema["$defs"]["shadow"].clone(),
                p if p.contains("/strategy/flags/") => schema["$defs"]["origin_flag"].clone(),
                p if p.contains("/flags/") => schema["$defs"]["flag"].clone(),
                "/routes/0/strategy" => schema["$defs"]["strategy_ab"].clone(),
                "/routes/1/strategy" => schema["$defs"]["strategy_canary"].clone(),
                "/routes/3/strategy" => schema["$defs"]["strategy_blue_green"].clone(),
                "/routes/4/strategy" => schema["$defs"]["strategy_rolling"].clone(),
                "/routes/5/strategy" => schema["$defs"]["strategy_recreate"].clone(),
                "/routes/6/strategy" => schema["$defs"]["strategy_bandit"].clone(),
                _ => schema["$defs"]["route"].clone(),
            };
            admits_null(&def["properties"][key])
        }
    }

    fn admits_null(v: &Value) -> bool {
        let null = json!("null");
        v["type"] == null
            || v["type"].as_array().is_some_and(|t| t.contains(&null))
            || v["enum"]
                .as_array()
                .is_some_and(|e| e.contains(&Value::Null))
            || v["anyOf"]
                .as_array()
                .is_some_and(|a| a.iter().any(admits_null))
    }

    #[test]
    fn strategy_kinds_equal_the_validators() {
        let mut doc = base();
        doc["routes"][0]["strategy"]["kind"] = json!("nope");
        let errors = config::parse(&doc.to_string()).unwrap_err();
        let reason = &errors
            .iter()
            .find(|e| e.path == "$.routes[0].strategy.kind")
            .unwrap()
            .reason;
        let s = config_schema();
        for k in s["$defs"]["strategy"]["properties"]["kind"]["enum"]
            .as_array()
            .unwrap()
        {
            assert!(reason.contains(k.as_str().unwrap()), "{k} not in {reason}");
        }
        assert_eq!(s["$defs"]["strategy"]["allOf"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn every_ref_resolves() {
        fn walk(v: &Value, defs: &serde_json::Map<String, Value>) {
            match v {
                Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                        let name = r.strip_prefix("#/$defs/").unwrap();
                        assert!(defs.contains_key(name), "{r}");
                    }
                    m.values().for_each(|x| walk(x, defs));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, defs)),
                _ => {}
            }
        }
        let s = config_schema();
        walk(&s, s["$defs"].as_object().unwrap());
    }
}
