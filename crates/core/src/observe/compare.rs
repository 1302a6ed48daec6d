//! Shadow-response comparison: does the shadow model answer like the primary?
//!
//! A route's shadow entry may carry `compare`, deserialized into [`Compare`]:
//!
//! ```json
//! {"kind": "json_pointer", "pointer": "/score", "tolerance": 0.01}
//! {"kind": "kserve_v2", "tolerance": 1e-6}
//! {"kind": "tf_serving"}
//! {"kind": "openai_chat"}
//! ```
//!
//! [`compare`] returns an [`Agreement`]: whether the statuses agree and, when both responses
//! are 2xx and their payloads can be read, `exact` (identical values) and `normalised`
//! (numbers within the tolerance; for chat, text equal after [`normalise_text`]). Anything
//! that cannot be compared (non-2xx, unparseable JSON, missing fields, a body longer than
//! [`MAX_COMPARE_BYTES`]) is [`PayloadAgreement::NotComparable`] with a reason, counted apart
//! from disagreements.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base::{sort_indices, sorted_indices};
use std::fmt;

/// Default absolute tolerance for numeric comparison.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// Most bytes of each body (primary and shadow) the edge reads for a comparison: 256 KiB. A
/// longer body is not read past this (the rest of its stream is cancelled) and the pair is
/// [`NotComparable::BodyTooLarge`]. Model answers (scores, tensors, chat completions) are far
/// smaller; the cap keeps a shadowed request within a few hundred KiB of isolate memory.
pub const MAX_COMPARE_BYTES: usize = 256 * 1024;

/// How to compare payloads (route config `shadow[].compare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCompare", into = "RawCompare")]
pub enum Compare {
    /// RFC 6901 pointer into both bodies; numbers within `tolerance`, arrays and objects
    /// element-wise, everything else by equality.
    JsonPointer { pointer: String, tolerance: f64 },
    /// KServe v2 inference protocol: `outputs[].data` (outputs matched by `name` when every
    /// output has one, the k-th of a repeated name with the k-th; else by position),
    /// element-wise within `tolerance`.
    KServeV2 { tolerance: f64 },
    /// TF Serving REST: `predictions` (row format) or `outputs` (columnar), nested arrays
    /// within `tolerance`.
    TfServing { tolerance: f64 },
    /// OpenAI-style chat completions: `choices[].message.content`, exact and normalised.
    OpenAiChat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    JsonPointer,
    #[serde(rename = "kserve_v2")]
    KServeV2,
    TfServing,
    #[serde(rename = "openai_chat")]
    OpenAiChat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompare {
    kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tolerance: Option<f64>,
}

/// Why a `compare` spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareSpecError(pub &'static str);

impl fmt::Display for CompareSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CompareSpecError {}

impl TryFrom<RawCompare> for Compare {
    type Error = CompareSpecError;
    fn try_from(r: RawCompare) -> Result<Self, Self::Error> {
        let tolerance = match r.tolerance {
            None => DEFAULT_TOLERANCE,
            Some(t) if t.is_finite() && t >= 0.0 => t,
            Some(_) => return Err(CompareSpecError("tolerance must be a finite number >= 0")),
        };
        if r.kind != Kind::JsonPointer && r.pointer.is_some() {
            return Err(CompareSpecError(
                "pointer is only allowed with kind json_pointer",
            ));
        }
        Ok(match r.kind {
            Kind::JsonPointer => {
                let pointer = r
                    .pointer
                    .ok_or(CompareSpecError("json_pointer needs a pointer"))?;
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    return Err(CompareSpecError(
                        "pointer must be empty or start with '/' (RFC 6901)",
                    ));
                }
                Compare::JsonPointer { pointer, tolerance }
            }
            Kind::KServeV2 => Compare::KServeV2 { tolerance },
            Kind::TfServing => Compare::TfServing { tolerance },
            Kind::OpenAiChat => {
                if r.tolerance.is_some() {
                    return Err(CompareSpecError("openai_chat takes no tolerance"));
                }
                Compare::OpenAiChat
            }
        })
    }
}

impl From<Compare> for RawCompare {
    fn from(c: Compare) -> Self {
        match c {
            Compare::JsonPointer { pointer, tolerance } => RawCompare {
                kind: Kind::JsonPointer,
                pointer: Some(pointer),
                tolerance: Some(tolerance),
            },
            Compare::KServeV2 { tolerance } => RawCompare {
                kind: Kind::KServeV2,
                pointer: None,
                tolerance: Some(tolerance),
            },
            Compare::TfServing { tolerance } => RawCompare {
                kind: Kind::TfServing,
                pointer: None,
                tolerance: Some(tolerance),
            },
            Compare::OpenAiChat => RawCompare {
                kind: Kind::OpenAiChat,
                pointer: None,
                tolerance: None,
            },
        }
    }
}

impl Compare {
    /// A `compare` spec from its JSON value: the same result as
    /// `serde_json::from_value::<Compare>(v.clone())`, error text included (a test compares
    /// them on generated values), without linking serde's typed deserializer for it (and the
    /// float printing its error messages need) into the router.
    pub fn from_value(v: &Value) -> Result<Compare, String> {
        let raw = match v {
            Value::Object(m) => {
                let (mut kind, mut pointer, mut tolerance) = (None, None, None);
                for (k, v) in m {
                    match k.as_str() {
                        "kind" => kind = Some(kind_from(v)?),
                        "pointer" => pointer = opt_string(v)?,
                        "tolerance" => tolerance = opt_f64(v)?,
                        _ => {
                            return Err(format!(
                            "unknown field `{k}`, expected one of `kind`, `pointer`, `tolerance`"
                        ))
                        }
                    }
                }
                RawCompare {
                    kind: kind.ok_or("missing field `kind`")?,
                    pointer,
                    tolerance,
                }
            }
            // serde's derive also reads a struct from a sequence, field by field.
            Value::Array(a) => {
                let kind = match a.first() {
                    Some(v) => kind_from(v)?,
                    None => {
                        return Err(
                            "invalid length 0, expected struct RawCompare with 3 elements".into(),
                        )
                    }
                };
                let pointer = a.get(1).map(opt_string).transpose()?.flatten();
                let tolerance = a.get(2).map(opt_f64).transpose()?.flatten();
                if a.len() > 3 {
                    return Err(format!(
                        "invalid length {}, expected fewer elements in array",
                        a.len()
                    ));
                }
                RawCompare {
                    kind,
                    pointer,
                    tolerance,
                }
            }
            other => return Err(invalid_type(other, "struct RawCompare")),
        };
        Compare::try_from(raw).map_err(|e| e.0.to_string())
    }
}

/// serde_json's `invalid type: <what v is>, expected <exp>` for a JSON value.
fn invalid_type(v: &Value, exp: &str) -> String {
    let what = match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => format!("integer `{u}`"),
            (None, Some(i), _) => format!("integer `{i}`"),
            // serde_json words floats with its own writer (zmij), as `Number` displays.
            (None, None, _) => format!("floating point `{n}`"),
        },
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    };
    format!("invalid type: {what}, expected {exp}")
}

/// `Kind` as serde reads an enum from a JSON value: `"name"` or `{"name": null}`.
fn kind_from(v: &Value) -> Result<Kind, String> {
    let (name, unit) = match v {
        Value::String(s) => (s, None),
        Value::Object(m) if m.len() == 1 => match m.iter().next() {
            Some((k, u)) => (k, Some(u)),
            None => return Err("invalid value: map, expected map with a single key".into()),
        },
        Value::Object(_) => {
            return Err("invalid value: map, expected map with a single key".into());
        }
        other => return Err(invalid_type(other, "string or map")),
    };
    let kind = match name.as_str() {
        "json_pointer" => Kind::JsonPointer,
        "kserve_v2" => Kind::KServeV2,
        "tf_serving" => Kind::TfServing,
        "openai_chat" => Kind::OpenAiChat,
        _ => {
            return Err(format!(
                "unknown variant `{name}`, expected one of `json_pointer`, `kserve_v2`, `tf_serving`, `openai_chat`"
            ))
        }
    };
    match unit {
        Some(u) if !u.is_null() => Err(invalid_type(u, "unit")),
        _ => Ok(kind),
    }
}

fn opt_string(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(invalid_type(other, "a string")),
    }
}

fn opt_f64(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        other => Err(invalid_type(other, "f64")),
    }
}

/// One side of the comparison: the status and the (already read) body.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl<'a> Side<'a> {
    pub fn new(status: u16, body: &'a [u8]) -> Self {
        Self { status, body }
    }
}

/// Why payloads could not be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotComparable {
    /// At least one side is not a 2xx answer; its body is an error, not a prediction.
    NonSuccessStatus,
    PrimaryUnparseable,
    ShadowUnparseable,
    /// The primary body parses but lacks the compared field (or has the wrong type there).
    PrimaryMissing,
    ShadowMissing,
    /// The shadow request failed (timeout, connection error): no response at all.
    ShadowFailed,
    /// A body (primary or shadow) is longer than [`MAX_COMPARE_BYTES`]: not read past it.
    BodyTooLarge,
}

/// Payload verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayloadAgreement {
    /// `exact`: identical values. `normalised`: equal within the tolerance (numbers) or after
    /// text normalisation (chat). `exact` implies `normalised`.
    Compared {
        exact: bool,
        normalised: bool,
    },
    NotComparable {
        reason: NotComparable,
    },
}

impl PayloadAgreement {
    fn compared(exact: bool, normalised: bool) -> Self {
        PayloadAgreement::Compared {
            exact,
            normalised: exact || normalised,
        }
    }
    fn not(reason: NotComparable) -> Self {
        PayloadAgreement::NotComparable { reason }
    }
}

/// Result of comparing one primary/shadow pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub status_agree: bool,
    pub payload: PayloadAgreement,
}

/// Unicode lowercasing, as `str::to_lowercase` (default case conversion). The core does not
/// pick one for the worker: std's case tables cost ~18 KB of wasm, so the edge passes the JS
/// engine's `String.prototype.toLowerCase` (the same Unicode mapping) to [`compare_with`].
pub type Lowercase = fn(&str) -> String;

/// Compares a primary and a shadow response under `spec` (lowercasing with std). Never panics,
/// whatever the bodies.
pub fn compare(spec: &Compare, primary: Side<'_>, shadow: Side<'_>) -> Agreement {
    compare_with(spec, primary, shadow, str::to_lowercase)
}

/// [`compare`] with the platform's lowercasing for text normalisation.
pub fn compare_with(
    spec: &Compare,
    primary: Side<'_>,
    shadow: Side<'_>,
    lower: Lowercase,
) -> Agreement {
    Agreement {
        status_agree: primary.status == shadow.status,
        payload: compare_payload(spec, primary, shadow, lower),
    }
}

/// A body as the edge read it for a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRead<'a> {
    /// The whole body (at most [`MAX_COMPARE_BYTES`]).
    Bytes(&'a [u8]),
    /// Longer than [`MAX_COMPARE_BYTES`]; not read past it.
    TooLarge,
    /// The stream failed before its end.
    Unreadable,
}

/// [`compare_with`] on bodies as the edge read them: a non-2xx side is
/// [`NotComparable::NonSuccessStatus`] whatever its body; otherwise a body over the cap makes
/// the pair [`NotComparable::BodyTooLarge`], an unreadable one counts as unparseable.
pub fn compare_read(
    spec: &Compare,
    primary: (u16, BodyRead<'_>),
    shadow: (u16, BodyRead<'_>),
    lower: Lowercase,
) -> Agreement {
    let status_agree = primary.0 == shadow.0;
    let not = |reason| Agreement {
        status_agree,
        payload: PayloadAgreement::not(reason),
    };
    if !is_success(primary.0) || !is_success(shadow.0) {
        return not(NotComparable::NonSuccessStatus);
    }
    match (primary.1, shadow.1) {
        (BodyRead::Bytes(p), BodyRead::Bytes(s)) => {
            compare_with(spec, Side::new(primary.0, p), Side::new(shadow.0, s), lower)
        }
        (BodyRead::TooLarge, _) | (_, BodyRead::TooLarge) => not(NotComparable::BodyTooLarge),
        (BodyRead::Unreadable, _) => not(NotComparable::PrimaryUnparseable),
        (_, BodyRead::Unreadable) => not(NotComparable::ShadowUnparseable),
    }
}

/// A JSON body. `from_str` after a UTF-8 check accepts exactly what `from_slice` does (JSON
/// outside strings is ASCII, and `from_slice` rejects invalid UTF-8 inside them), and keeps
/// one serde_json reader (`StrRead`, which config parsing uses) in the router instead of two.
fn parse_body(body: &[u8]) -> Option<Value> {
    serde_json::from_str(std::str::from_utf8(body).ok()?).ok()
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn compare_payload(
    spec: &Compare,
    primary: Side<'_>,
    shadow: Side<'_>,
    lower: Lowercase,
) -> PayloadAgreement {
    use NotComparable::*;
    if !is_success(primary.status) || !is_success(shadow.status) {
        return PayloadAgreement::not(NonSuccessStatus);
    }
    let Some(p) = parse_body(primary.body) else {
        return PayloadAgreement::not(PrimaryUnparseable);
    };
    let Some(s) = parse_body(shadow.body) else {
        return PayloadAgreement::not(ShadowUnparseable);
    };
    match spec {
        Compare::JsonPointer { pointer, tolerance } => {
            let Some(a) = p.pointer(pointer) else {
                return PayloadAgreement::not(PrimaryMissing);
            };
            let Some(b) = s.pointer(pointer) else {
                return PayloadAgreement::not(ShadowMissing);
            };
            let (e, n) = values_agree(a, b, *tolerance);
            PayloadAgreement::compared(e, n)
        }
        Compare::KServeV2 { tolerance } => {
            let Some(a) = kserve_outputs(&p) else {
                return PayloadAgreement::not(PrimaryMissing);
            };
            let Some(b) = kserve_outputs(&s) else {
                return PayloadAgreement::not(ShadowMissing);
            };
            kserve_agree(&a, &b, *tolerance)
        }
        Compare::TfServing { tolerance } => {
            let Some(a) = tf_predictions(&p) else {
                return PayloadAgreement::not(PrimaryMissing);
            };
            let Some(b) = tf_predictions(&s) else {
                return PayloadAgreement::not(ShadowMissing);
            };
            let (e, n) = values_agree(a, b, *tolerance);
            PayloadAgreement::compared(e, n)
        }
        Compare::OpenAiChat => {
            let Some(a) = chat_contents(&p) else {
                return PayloadAgreement::not(PrimaryMissing);
            };
            let Some(b) = chat_contents(&s) else {
                return PayloadAgreement::not(ShadowMissing);
            };
            if a.len() != b.len() {
                return PayloadAgreement::compared(false, false);
            }
            let exact = a == b;
            let normalised = exact
                || a.iter()
                    .zip(&b)
                    .all(|(x, y)| normalise_text_with(x, lower) == normalise_text_with(y, lower));
            PayloadAgreement::compared(exact, normalised)
        }
    }
}

/// (exact, within tolerance). Numbers: exact when numerically identical (integers compared
/// as integers), within when `|a - b| <= tol`. Arrays element-wise with equal lengths;
/// objects key-wise with equal key sets; strings, booleans and null by equality.
pub fn values_agree(a: &Value, b: &Value, tol: f64) -> (bool, bool) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let exact = match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            };
            let within = exact
                || match (x.as_f64(), y.as_f64()) {
                    (Some(i), Some(j)) => (i - j).abs() <= tol,
                    _ => false,
                };
            (exact, within)
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return (false, false);
            }
            let mut all = (true, true);
            for (i, j) in x.iter().zip(y) {
                let (e, w) = values_agree(i, j, tol);
                all = (all.0 && e, all.1 && w);
                if !all.1 {
                    return (false, false);
                }
            }
            all
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return (false, false);
            }
            let mut all = (true, true);
            for (k, i) in x {
                let Some(j) = y.get(k) else {
                    return (false, false);
                };
                let (e, w) = values_agree(i, j, tol);
                all = (all.0 && e, all.1 && w);
                if !all.1 {
                    return (false, false);
                }
            }
            all
        }
        _ => {
            let eq = a == b;
            (eq, eq)
        }
    }
}

struct KOutput<'a> {
    name: Option<&'a str>,
    data: Vec<&'a Value>,
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(xs) => xs.iter().for_each(|x| flatten(x, out)),
        other => out.push(other),
    }
}

fn kserve_outputs(v: &Value) -> Option<Vec<KOutput<'_>>> {
    let outs = v.get("outputs")?.as_array()?;
    outs.iter()
        .map(|o| {
            let data = o.get("data")?;
            if !data.is_array() {
                return None;
            }
            let mut flat = Vec::new();
            flatten(data, &mut flat);
            Some(KOutput {
                name: o.get("name").and_then(Value::as_str),
                data: flat,
            })
        })
        .collect()
}

fn kserve_agree(a: &[KOutput<'_>], b: &[KOutput<'_>], tol: f64) -> PayloadAgreement {
    if a.len() != b.len() {
        return PayloadAgreement::compared(false, false);
    }
    let by_name = a.iter().chain(b).all(|o| o.name.is_some());
    // Pairs: by position, or (every output named) the k-th output called `n` on one side
    // with the k-th called `n` on the other. A stable sort by name keeps each name's outputs
    // in document order, so zipping the two sorted lists pairs them exactly; a name that
    // occurs a different number of times on the two sides leaves a pair of unequal names.
    let mut ia: Vec<usize> = (0..a.len()).collect();
    let mut ib: Vec<usize> = (0..b.len()).collect();
    if by_name {
        sort_indices(&mut ia, &|x, y| a[x].name.cmp(&a[y].name));
        sort_indices(&mut ib, &|x, y| b[x].name.cmp(&b[y].name));
    }
    let (mut exact, mut within) = (true, true);
    for (&i, &j) in ia.iter().zip(&ib) {
        let (x, y) = (&a[i], &b[j]);
        if x.name != y.name && by_name {
            return PayloadAgreement::compared(false, false);
        }
        if x.data.len() != y.data.len() {
            return PayloadAgreement::compared(false, false);
        }
        for (p, q) in x.data.iter().zip(&y.data) {
            let (e, w) = values_agree(p, q, tol);
            exact &= e;
            within &= w;
        }
        if !within {
            return PayloadAgreement::compared(false, false);
        }
    }
    PayloadAgreement::compared(exact, within)
}

fn tf_predictions(v: &Value) -> Option<&Value> {
    v.get("predictions").or_else(|| v.get("outputs"))
}

/// Message contents in choice order (sorted by `index` when present). `content` may be a
/// string or an array of `{type: "text", text}` parts, which are concatenated.
fn chat_contents(v: &Value) -> Option<Vec<String>> {
    let choices = v.get("choices")?.as_array()?;
    if choices.is_empty() {
        return None;
    }
    let mut out: Vec<(u64, String)> = Vec::with_capacity(choices.len());
    for (i, c) in choices.iter().enumerate() {
        let idx = c.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
        let content = c.get("message")?.get("content")?;
        let text = match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => {
                let mut s = String::new();
                for p in parts {
                    s.push_str(p.get("text")?.as_str()?);
                }
                s
            }
            _ => return None,
        };
        out.push((idx, text));
    }
    let order = sorted_indices(out.len(), &|x, y| out[x].0.cmp(&out[y].0));
    let mut texts: Vec<Option<String>> = out.into_iter().map(|x| Some(x.1)).collect();
    order.iter().map(|&i| texts.get_mut(i)?.take()).collect()
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '\u{2018}'
                ..='\u{201F}' // curly quotes
                | '\u{2026}' // ellipsis
                | '\u{2013}' | '\u{2014}' // dashes
                | '\u{00A1}' | '\u{00BF}' | '\u{00AB}' | '\u{00BB}'
                | '\u{3001}' | '\u{3002}' | '\u{FF01}' | '\u{FF0C}' | '\u{FF1A}' | '\u{FF1B}' | '\u{FF1F}'
        )
}

/// Lowercase, collapse runs of whitespace to one space, strip punctuation and whitespace at
/// both ends: `"  Hello,\n  World!! "` -> `"hello, world"`.
pub fn normalise_text(s: &str) -> String {
    normalise_text_with(s, str::to_lowercase)
}

/// [`normalise_text`] with the platform's lowercasing.
pub fn normalise_text_with(s: &str, lowercase: Lowercase) -> String {
    let lower = lowercase(s);
    let mut collapsed = String::with_capacity(lower.len());
    for w in lower.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(w);
    }
    collapsed
        .trim_matches(|c: char| is_punct(c) || c.is_whitespace())
        .to_owned()
}

#[cfg(test)]
// Exact ties (e.g. 31203190018905.3125) are written out in full on purpose.
#[allow(clippy::excessive_precision)]
mod tests {
    use crate::base::Xoshiro256;
    use crate::testgen::gen;

    /// `Compare::from_value` accepts, rejects and words its errors exactly as serde's derive.
    #[test]
    fn from_value_matches_serde_derive() {
        let keys = [
            "kind",
            "pointer",
            "tolerance",
            "json_pointer",
            "kserve_v2",
            "tf_serving",
            "openai_chat",
        ];
        let strings = [
            "json_pointer",
            "kserve_v2",
            "tf_serving",
            "openai_chat",
            "/score",
            "",
            "x",
            "telepathy",
        ];
        let mut rng = Xoshiro256::seed_from_u64(7);
        let (mut ok, mut n) = (0, 0);
        for i in 0..200_000 {
            let v = gen(&mut rng, &keys, &strings, i % 2);
            let ours = Compare::from_value(&v);
            let serde = serde_json::from_value::<Compare>(v.clone()).map_err(|e| e.to_string());
            assert_eq!(ours, serde, "{v}");
            ok += ours.is_ok() as u32;
            n += 1;
        }
        eprintln!("{ok} of {n} valid");
        assert!(
            ok > 100 && ok < n,
            "{ok} of {n} valid: the generator must hit both sides"
        );
        for text in [
            r#"{"kind":"json_pointer","pointer":"/a","tolerance":0.5}"#,
            r#"{"kind":{"tf_serving":null}}"#,
            r#"["kserve_v2",null,1e-3]"#,
            r#"{"kind":1.0}"#,
            r#"{"kind":"openai_chat","tolerance":2}"#,
            r#"{"kind":{"a":1,"b":2}}"#,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let serde = serde_json::from_value::<Compare>(v.clone()).map_err(|e| e.to_string());
            assert_eq!(Compare::from_value(&v), serde, "{text}");
        }
    }

    use super::*;

    fn spec(j: &str) -> Result<Compare, serde_json::Error> {
        serde_json::from_str(j)
    }

    fn cmp(s: &Compare, a: &str, b: &str) -> PayloadAgreement {
        compare(
            s,
            Side::new(200, a.as_bytes()),
            Side::new(200, b.as_bytes()),
        )
        .payload
    }

    const AGREE: PayloadAgreement = PayloadAgreement::Compared {
        exact: true,
        normalised: true,
    };
    const CLOSE: PayloadAgreement = PayloadAgreement::Compared {
        exact: false,
        normalised: true,
    };
    const DIFFER: PayloadAgreement = PayloadAgreement::Compared {
        exact: false,
        normalised: false,
    };

    #[test]
    fn spec_parsing() {
        assert_eq!(
            spec(r#"{"kind":"kserve_v2","tolerance":1e-3}"#).unwrap(),
            Compare::KServeV2 { tolerance: 1e-3 }
        );
        assert_eq!(
            spec(r#"{"kind":"json_pointer","pointer":"/score","tolerance":0.01}"#).unwrap(),
            Compare::JsonPointer {
                pointer: "/score".into(),
                tolerance: 0.01
            }
        );
        assert_eq!(
            spec(r#"{"kind":"tf_serving"}"#).unwrap(),
            Compare::TfServing {
                tolerance: DEFAULT_TOLERANCE
            }
        );
        assert_eq!(
            spec(r#"{"kind":"openai_chat"}"#).unwrap(),
            Compare::OpenAiChat
        );
        for bad in [
            r#"{"kind":"kserve_v2","tolerence":1}"#,
            r#"{"kind":"openai_chat","extra":1}"#,
            r#"{"kind":"json_pointer"}"#,
            r#"{"kind":"json_pointer","pointer":"score"}"#,
            r#"{"kind":"tf_serving","pointer":"/x"}"#,
            r#"{"kind":"tf_serving","tolerance":-1}"#,
            r#"{"kind":"openai_chat","tolerance":0.1}"#,
            r#"{"kind":"nope"}"#,
            r#"{}"#,
            r#"[]"#,
        ] {
            assert!(spec(bad).is_err(), "{bad}");
        }
        // Round trip through serde.
        for s in [
            Compare::OpenAiChat,
            Compare::KServeV2 { tolerance: 0.5 },
            Compare::JsonPointer {
                pointer: "/a~1b/0".into(),
                tolerance: 0.0,
            },
        ] {
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(spec(&j).unwrap(), s, "{j}");
        }
    }

    #[test]
    fn json_pointer() {
        let s = spec(r#"{"kind":"json_pointer","pointer":"/score","tolerance":0.01}"#).unwrap();
        assert_eq!(cmp(&s, r#"{"score":0.5}"#, r#"{"score":0.5}"#), AGREE);
        assert_eq!(cmp(&s, r#"{"score":0.5}"#, r#"{"score":0.505}"#), CLOSE);
        assert_eq!(cmp(&s, r#"{"score":0.5}"#, r#"{"score":0.52}"#), DIFFER);
        assert_eq!(cmp(&s, r#"{"score":1}"#, r#"{"score":1.0}"#), AGREE);
        assert_eq!(
            cmp(&s, r#"{"score":[1,2]}"#, r#"{"score":[1,2.001]}"#),
            CLOSE
        );
        assert_eq!(cmp(&s, r#"{"score":[1,2]}"#, r#"{"score":[1]}"#), DIFFER);
        assert_eq!(cmp(&s, r#"{"score":"a"}"#, r#"{"score":"a"}"#), AGREE);
        assert_eq!(cmp(&s, r#"{"score":"1"}"#, r#"{"score":1}"#), DIFFER);
        assert_eq!(
            cmp(&s, r#"{"x":1}"#, r#"{"score":1}"#),
            PayloadAgreement::not(NotComparable::PrimaryMissing)
        );
        assert_eq!(
            cmp(&s, r#"{"score":1}"#, r#"{"x":1}"#),
            PayloadAgreement::not(NotComparable::ShadowMissing)
        );
        assert_eq!(
            cmp(&s, "nope", r#"{"score":1}"#),
            PayloadAgreement::not(NotComparable::PrimaryUnparseable)
        );
        assert_eq!(
            cmp(&s, r#"{"score":1}"#, ""),
            PayloadAgreement::not(NotComparable::ShadowUnparseable)
        );
        // Large integers compare exactly, not through f64.
        let z = spec(r#"{"kind":"json_pointer","pointer":"/id","tolerance":0}"#).unwrap();
        assert_eq!(
            cmp(
                &z,
                r#"{"id":9007199254740993}"#,
                r#"{"id":9007199254740992}"#
            ),
            CLOSE // equal as f64 (within 0), not exactly equal
        );
        // Escapes per RFC 6901.
        let e = spec(r#"{"kind":"json_pointer","pointer":"/a~1b/m~0n","tolerance":0}"#).unwrap();
        assert_eq!(
            cmp(&e, r#"{"a/b":{"m~n":3}}"#, r#"{"a/b":{"m~n":3}}"#),
            AGREE
        );
    }

    #[test]
    fn status_handling() {
        let s = Compare::OpenAiChat;
        let a = compare(&s, Side::new(200, b"{}"), Side::new(500, b"oops"));
        assert!(!a.status_agree);
        assert_eq!(
            a.payload,
            PayloadAgreement::not(NotComparable::NonSuccessStatus)
        );
        let a = compare(&s, Side::new(503, b""), Side::new(503, b""));
        assert!(a.status_agree);
    }

    #[test]
    fn kserve() {
        let s = Compare::KServeV2 { tolerance: 1e-6 };
        let a = r#"{"outputs":[{"name":"p","datatype":"FP32","shape":[2],"data":[0.1,0.9]}]}"#;
        let b =
            r#"{"outputs":[{"name":"p","datatype":"FP32","shape":[2],"data":[0.1000001,0.9]}]}"#;
        let c = r#"{"outputs":[{"name":"p","datatype":"FP32","shape":[2],"data":[0.2,0.8]}]}"#;
        assert_eq!(cmp(&s, a, a), AGREE);
        assert_eq!(cmp(&s, a, b), CLOSE);
        assert_eq!(cmp(&s, a, c), DIFFER);
        // Named outputs in a different order.
        let x = r#"{"outputs":[{"name":"a","data":[1]},{"name":"b","data":[2]}]}"#;
        let y = r#"{"outputs":[{"name":"b","data":[2]},{"name":"a","data":[1]}]}"#;
        assert_eq!(cmp(&s, x, y), AGREE);
        assert_eq!(
            cmp(&s, r#"{"outputs":[{"name":"a"}]}"#, x),
            PayloadAgreement::not(NotComparable::PrimaryMissing)
        );
    }

    #[test]
    fn chat_normalisation() {
        assert_eq!(normalise_text("  Hello,\n  World!! "), "hello, world");
        assert_eq!(normalise_text("\u{201C}Yes.\u{201D}"), "yes");
        assert_eq!(normalise_text("..."), "");
        // Unicode lowercase (crates/edge/tests/wasm_runner_smoke.rs checks the same cases on wasm).
        assert_eq!(normalise_text("ÉLAN Straße"), "élan straße");
        assert_eq!(normalise_text("ΟΔΟΣ ΣΑΣ"), "οδος σας");
        assert_eq!(normalise_text("İSTANBUL"), "i\u{307}stanbul");
        let s = Compare::OpenAiChat;
        let m = |t: &str| {
            format!(
                r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":{t}}}}}]}}"#
            )
        };
        assert_eq!(cmp(&s, &m(r#""Yes.""#), &m(r#""Yes.""#)), AGREE);
        assert_eq!(cmp(&s, &m(r#""Yes.""#), &m(r#""  yes""#)), CLOSE);
        assert_eq!(cmp(&s, &m(r#""Yes.""#), &m(r#""No.""#)), DIFFER);
        assert_eq!(
            cmp(&s, &m("null"), &m(r#""x""#)),
            PayloadAgreement::not(NotComparable::PrimaryMissing)
        );
    }

    #[test]
    fn junk_never_panics() {
        let deep = "[".repeat(10_000);
        let bodies: [&[u8]; 6] = [
            b"",
            b"\xff\xfe",
            b"null",
            b"{\"outputs\":7}",
            deep.as_bytes(),
            b"{\"choices\":[{}]}",
        ];
        let specs = [
            Compare::OpenAiChat,
            Compare::KServeV2 { tolerance: 0.0 },
            Compare::TfServing { tolerance: 0.0 },
            Compare::JsonPointer {
                pointer: "".into(),
                tolerance: 0.0,
            },
        ];
        for s in &specs {
            for a in bodies {
                for b in bodies {
                    let _ = compare(s, Side::new(200, a), Side::new(200, b));
                }
            }
        }
    }

    #[test]
    fn bodies_over_the_cap_are_not_compared() {
        let spec = Compare::JsonPointer {
            pointer: "/score".into(),
            tolerance: 0.0,
        };
        let ok = BodyRead::Bytes(br#"{"score": 1}"#);
        let lower: Lowercase = str::to_lowercase;
        let verdict = |p, s| compare_read(&spec, p, s, lower).payload;
        let not = |reason| PayloadAgreement::NotComparable { reason };
        assert_eq!(
            verdict((200, ok), (200, ok)),
            PayloadAgreement::compared(true, true)
        );
        for (p, s) in [(BodyRead::TooLarge, ok), (ok, BodyRead::TooLarge)] {
            assert_eq!(
                verdict((200, p), (200, s)),
                not(NotComparable::BodyTooLarge)
            );
            // A non-2xx answer is not comparable whatever its body's size.
            assert_eq!(
                verdict((500, p), (200, s)),
                not(NotComparable::NonSuccessStatus)
            );
        }
        assert_eq!(
            verdict((200, BodyRead::Unreadable), (200, ok)),
            not(NotComparable::PrimaryUnparseable)
        );
        assert_eq!(
            verdict((200, ok), (200, BodyRead::Unreadable)),
            not(NotComparable::ShadowUnparseable)
        );
        let a = compare_read(&spec, (200, BodyRead::TooLarge), (503, ok), lower);
        assert!(!a.status_agree);
    }
}
