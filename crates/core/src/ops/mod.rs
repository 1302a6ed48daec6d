//! What the control plane answers and the operator sees, the parts without storage:
//! - `auth.rs`: operator tokens, roles, the role table, the 401/403 rule ([`authorize`]);
//! - `history.rs`: config history and audit log bounds, version tags (`ETag`/`If-Match`);
//! - `metrics.rs`: OpenMetrics rendering ([`render_metrics`]);
//! - `ofrep.rs`: OpenFeature remote evaluation of route flags;
//! - `alerts.rs`: which events a controller state change raises, webhook payloads, retries;
//! - `redact.rs`: what may be shown of a URL (webhook and origin URLs are secrets), the
//!   webhook receiver rule;
//! - `churn.rs`: how many units change arm between two configs ([`churn`]);
//! - `fault.rs`: [`Fault`], one error type (caller 4xx, origin 502-504, ours 5xx) and its
//!   JSON body, for both workers.

mod alerts;
mod auth;
mod churn;
mod fault;
mod history;
mod metrics;
mod ofrep;
pub mod redact;

pub use alerts::{events, payload, slack_escape, ATTEMPT_TIMEOUT_MS, BACKOFF_MS};
pub use auth::{
    authorize, authorize_limited, bearer, ct_eq, message as auth_message, required_role, AuthError,
    FailureLimit, Identity, Role, Tokens, AUTH_FAILURE_WINDOW_MS, HOW_TO_SET, MAX_AUTH_FAILURES,
    MAX_NAME_LEN as MAX_TOKEN_NAME_LEN, MAX_TOKENS, MIN_TOKEN_LEN,
};
pub use churn::{arm_names as churn_arm_names, churn, DEFAULT_UNITS, MAX_UNITS};
pub use fault::{error_value, header_safe, Fault, Party, INTERNAL, ORIGIN_CODES};
pub use history::{
    etag, one_line, parse_if_match, AUDIT_PAGE, AUDIT_PAGE_MAX, KEEP_AUDIT, KEEP_VERSIONS,
    MAX_MESSAGE_CHARS,
};
pub use metrics::{
    escape as escape_label, negotiate as metrics_format, render as render_metrics,
    Format as MetricsFormat, CONTENT_TYPE as METRICS_CONTENT_TYPE,
};
pub use ofrep::{
    bulk_etag, cors_allowed, evaluate_all, evaluate_flag, find as find_flag, none_match, Context,
    Evaluation, OfrepError, CORS_ALLOW_HEADERS, CORS_MAX_AGE_S, CORS_VAR,
};
