//! A tiny splitter for the absolute URLs that the runtime hands us (`Request.url`), which
//! are already WHATWG-serialised (scheme and host lowercased, path percent-encoded, no
//! whitespace). It replaces a full `url::Url` parse on the hot path: the `url` crate and its
//! IDNA Unicode tables cost tens of KB of wasm.

/// The parts of a serialised absolute URL that routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `https`, `http`, ... (no `:`).
    pub scheme: &'a str,
    /// The host without userinfo or port; IPv6 literals keep their brackets (as
    /// `url::Url::host_str` does).
    pub host: &'a str,
    /// The path, `/` when empty; never contains `?` or `#`.
    pub path: &'a str,
    /// The query without the leading `?` (`Some("")` for a bare `?`), without any fragment.
    pub query: Option<&'a str>,
}

/// Splits `scheme://[userinfo@]host[:port][/path][?query][#fragment]`. `None` when the
/// input has no `scheme://` authority (not something the runtime produces for a request).
pub fn split(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() {
        return None;
    }
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if hostport.starts_with('[') {
        hostport.find(']').map_or(hostport, |i| &hostport[..=i])
    } else {
        hostport.split_once(':').map_or(hostport, |(h, _)| h)
    };
    Some(UrlParts {
        scheme,
        host,
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(
        scheme: &'a str,
        host: &'a str,
        path: &'a str,
        query: Option<&'a str>,
    ) -> Option<UrlParts<'a>> {
        Some(UrlParts {
            scheme,
            host,
            path,
            query,
        })
    }

    #[test]
    fn splits_serialised_urls() {
        let cases = [
            (
                "https://example.com/",
                parts("https", "example.com", "/", None),
            ),
            (
                "http://api.example.com:8787/v1/models/fraud?user=7&x=/y",
                parts(
                    "http",
                    "api.example.com",
                    "/v1/models/fraud",
                    Some("user=7&x=/y"),
                ),
            ),
            (
                "https://example.com",
                parts("https", "example.com", "/", None),
            ),
            (
                "https://example.com?q",
                parts("https", "example.com", "/", Some("q")),
            ),
            (
                "https://example.com/a?",
                parts("https", "example.com", "/a", Some("")),
            ),
            (
                "https://example.com/a#f?x",
                parts("https", "example.com", "/a", None),
            ),
            (
                "https://example.com/a?b#f",
                parts("https", "example.com", "/a", Some("b")),
            ),
            (
                "https://example.com#f",
                parts("https", "example.com", "/", None),
            ),
            (
                "https://u:p@example.com:443/a%3F%23b",
                parts("https", "example.com", "/a%3F%23b", None),
            ),
            ("http://[::1]:8787/x", parts("http", "[::1]", "/x", None)),
            (
                "http://127.0.0.1:9001/",
                parts("http", "127.0.0.1", "/", None),
            ),
            (
                "https://route-stats/fraud/report",
                parts("https", "route-stats", "/fraud/report", None),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(split(url), want, "{url}");
        }
    }

    #[test]
    fn rejects_non_absolute() {
        assert_eq!(split("/just/a/path"), None);
        assert_eq!(split("://x/"), None);
        assert_eq!(split(""), None);
    }
}
