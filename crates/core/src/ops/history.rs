//! Config history and the audit log, the parts without storage: bounds, version tags
//! (`ETag` / `If-Match`), one-line messages. The `ConfigLog` Durable Object of the stats
//! worker keeps the rows (SQLite) and serialises writes.

/// Config versions kept (older ones are deleted; their numbers are never reused).
pub const KEEP_VERSIONS: i64 = 50;
/// Audit entries kept.
pub const KEEP_AUDIT: i64 = 1000;
/// Longest message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Default and largest page of `GET /_switchyard/audit`.
pub const AUDIT_PAGE: usize = 100;
pub const AUDIT_PAGE_MAX: usize = 1000;

/// A one-line message: the first line, control characters removed, at most
/// [`MAX_MESSAGE_CHARS`] characters, trimmed.
pub fn one_line(raw: Option<&str>) -> String {
    let first = raw.unwrap_or("").lines().next().unwrap_or("");
    first
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The `ETag` of a version: `"<version>"` (a strong tag).
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `If-Match` as a version: `"7"`, `W/"7"` or a bare `7`; `*` (any version) is `None`.
pub fn parse_if_match(h: &str) -> Result<Option<i64>, String> {
    let t = h.trim();
    if t == "*" {
        return Ok(None);
    }
    let t = t.strip_prefix("W/").unwrap_or(t);
    let t = t
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t);
    match t.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(Some(v)),
        _ => Err(format!(
            "If-Match must be a config version as sent in ETag (e.g. \"7\"), got {:?}",
            h.chars().take(40).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_bounded_line() {
        assert_eq!(
            one_line(Some("  raise canary\nsecond line")),
            "raise canary"
        );
        assert_eq!(one_line(Some("a\u{7}b\tc")), "abc");
        assert_eq!(one_line(None), "");
        assert_eq!(one_line(Some(&"x".repeat(500))).len(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match("\"7\""), Ok(Some(7)));
        assert_eq!(parse_if_match("W/\"7\""), Ok(Some(7)));
        assert_eq!(parse_if_match(" 12 "), Ok(Some(12)));
        assert_eq!(parse_if_match("*"), Ok(None));
        assert!(parse_if_match("\"abc\"").is_err());
        assert!(parse_if_match("-1").is_err());
        assert_eq!(parse_if_match(&etag(42)), Ok(Some(42)));
    }
}
