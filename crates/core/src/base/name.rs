//! Names: what routes, arms, origins, flags, shadows and operator tokens are called, and what
//! receipts and override tokens carry. One rule for all of them: 1 to [`MAX_NAME_LEN`] bytes,
//! each one the kind of name allows ([`NameChars`]).

/// Longest name, in bytes. Receipts and override tokens store a name's length in one byte.
pub const MAX_NAME_LEN: usize = 64;

/// Which bytes a kind of name may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameChars {
    /// `[A-Za-z0-9._-]`: arms, origins, flags and shadows (names inside the config).
    Config,
    /// `[A-Za-z0-9_-]`: routes. A route name is a URL path segment
    /// (`/_switchyard/stats/<route>`), a Durable Object name and part of KV keys; URL parsers
    /// normalise `.` and `..` away, so no `.`.
    Route,
    /// `[A-Za-z0-9._@-]`: operator token names (written to the audit log; an e-mail address
    /// is a fine name).
    Token,
    /// Any bytes: the name fields of receipts and override tokens. They carry config names,
    /// but their format is UTF-8 checked for length only, so a token never depends on which
    /// characters the config allows.
    Any,
}

impl NameChars {
    /// The allowed characters as the body of a regular-expression class (`A-Za-z0-9._-`), for
    /// messages and the JSON Schema; empty for [`NameChars::Any`].
    pub fn class(self) -> &'static str {
        match self {
            NameChars::Config => "A-Za-z0-9._-",
            NameChars::Route => "A-Za-z0-9_-",
            NameChars::Token => "A-Za-z0-9._@-",
            NameChars::Any => "",
        }
    }

    fn allows(self, b: u8) -> bool {
        let base = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        match self {
            NameChars::Config => base || b == b'.',
            NameChars::Route => base,
            NameChars::Token => base || matches!(b, b'.' | b'@'),
            NameChars::Any => true,
        }
    }
}

/// Whether `name` is a name of the kind `chars`: 1 to [`MAX_NAME_LEN`] bytes, each allowed.
pub fn valid_name(name: &[u8], chars: NameChars) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.iter().all(|&b| chars.allows(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_length_rule_and_each_character_set() {
        let long = "a".repeat(MAX_NAME_LEN);
        for chars in [
            NameChars::Config,
            NameChars::Route,
            NameChars::Token,
            NameChars::Any,
        ] {
            assert!(valid_name(long.as_bytes(), chars), "{chars:?}");
            assert!(!valid_name(b"", chars), "{chars:?}");
            assert!(
                !valid_name(format!("{long}a").as_bytes(), chars),
                "{chars:?}"
            );
            assert!(valid_name(b"Az09-_", chars), "{chars:?}");
        }
        assert!(valid_name(b"v1.2", NameChars::Config));
        assert!(!valid_name(b"v1.2", NameChars::Route));
        assert!(!valid_name(b"..", NameChars::Route));
        assert!(valid_name(b"ci@example.com", NameChars::Token));
        assert!(!valid_name(b"ci@example.com", NameChars::Config));
        assert!(!valid_name(b"a b", NameChars::Config));
        assert!(!valid_name(b"a/b", NameChars::Token));
        assert!(valid_name("ärm".as_bytes(), NameChars::Any));
        assert!(!valid_name("ärm".as_bytes(), NameChars::Config));
    }

    #[test]
    fn class_matches_allows() {
        // Every byte is allowed exactly when the published class says so: letters and digits
        // (the class's ranges) and the class's other characters, nothing outside ASCII.
        for chars in [NameChars::Config, NameChars::Route, NameChars::Token] {
            let class = chars.class();
            for b in 0u8..=255 {
                let c = b as char;
                let in_class = b.is_ascii_alphanumeric() || (b.is_ascii() && class.contains(c));
                assert_eq!(chars.allows(b), in_class, "{chars:?} {c:?}");
            }
        }
    }
}
