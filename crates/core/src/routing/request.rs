//! The request as routing sees it: header access ([`Headers`], implemented by the edge over
//! the platform's headers and by plain lists in tests), [`RequestView`] with cookie and query
//! parsing, and percent-decoding. URL splitting is in [`crate::routing`].

use std::borrow::Cow;

/// Read access to request headers; names are lower-case.
pub trait Headers {
    fn get(&self, name: &str) -> Option<Cow<'_, str>>;
}

/// Headers as a plain list, for tests and benchmarks.
impl Headers for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| Cow::Borrowed(*v))
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        Headers::get(self.as_slice(), name)
    }
}

/// The parts of a request that routing looks at.
pub struct RequestView<'a, H: ?Sized> {
    pub method: &'a str,
    /// Host without port, as received.
    pub host: &'a str,
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a H,
    /// Two-letter country code from the platform (`request.cf.country`).
    pub country: Option<&'a str>,
}

impl<H: Headers + ?Sized> RequestView<'_, H> {
    pub fn cookie(&self, name: &str) -> Option<Cow<'_, str>> {
        let header = self.headers.get("cookie")?;
        let found = header.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })?;
        Some(Cow::Owned(found))
    }

    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        let q = self.query?;
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// Decodes `%XX` and `+`; invalid escapes are kept literally, invalid UTF-8 replaced.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
