//! Duplicate keys: serde_json's `Value` silently keeps the last of two equal keys, so the
//! validator scans the text for them itself.

use serde_json::Value;

use super::error::ConfigError;
use super::path::{Path, ROOT};

/// Every key that occurs more than once in one object of `text`, with its JSON path
/// (`$.routes[0].strategy.kind`), in document order. `text` has already been parsed by
/// serde_json (so it is valid JSON and nested at most 128 deep); the scan never panics on
/// anything else either. Keys are compared after unescaping (`"a"` and `"\u0061"` are the
/// same key). Each object's keys are sorted once, so a huge object costs O(k log k).
pub fn duplicate_keys(text: &str) -> Vec<ConfigError> {
    let mut scan = KeyScan {
        text,
        b: text.as_bytes(),
        i: 0,
        errors: Vec::new(),
    };
    scan.value(&ROOT, 0);
    scan.errors
}

struct KeyScan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    errors: Vec<ConfigError>,
}

impl KeyScan<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn value(&mut self, path: &Path, depth: u32) {
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') if depth < 256 => self.object(path, depth),
            Some(b'[') if depth < 256 => {
                self.i += 1;
                let mut n = 0usize;
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b']') => {
                            self.i += 1;
                            return;
                        }
                        Some(b',') => self.i += 1,
                        None => return,
                        Some(_) => {
                            let before = self.i;
                            self.value(&path.at(n), depth + 1);
                            n += 1;
                            if self.i == before {
                                self.i += 1; // not JSON: never loop
                            }
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b'"' | b'{' | b'['))
                    && !self.b.get(self.i).is_some_and(u8::is_ascii_whitespace)
                {
                    self.i += 1;
                }
            }
            None => {}
        }
    }

    /// The key or string at `self.i` (an opening quote), unescaped when it needs it.
    fn string(&mut self) -> Option<std::borrow::Cow<'_, str>> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            match self.b.get(self.i) {
                None => return None,
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(_) => self.i += 1,
            }
        }
        let raw = self.text.get(start..self.i)?;
        if escaped {
            // Through `Value`, not `String`: a typed `from_str` links serde's error paths
            // (and core's float printing) into the router.
            match serde_json::from_str::<Value>(raw) {
                Ok(Value::String(s)) => Some(std::borrow::Cow::Owned(s)),
                _ => None,
            }
        } else {
            raw.get(1..raw.len() - 1).map(std::borrow::Cow::Borrowed)
        }
    }

    fn object(&mut self, path: &Path, depth: u32) {
        self.i += 1;
        let mut keys: Vec<String> = Vec::new();
        loop {
            self.ws();
            match self.b.get(self.i) {
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                Some(b',') => self.i += 1,
                Some(b'"') => {
                    let Some(key) = self.string().map(|k| k.into_owned()) else {
                        break;
                    };
                    self.ws();
                    if self.b.get(self.i) == Some(&b':') {
                        self.i += 1;
                    }
                    let before = self.i;
                    self.value(&path.key(&key), depth + 1);
                    if self.i == before && self.b.get(self.i).is_some_and(|c| *c != b'}') {
                        self.i += 1;
                    }
                    keys.push(key);
                }
                None => break,
                Some(_) => self.i += 1, // not JSON: skip
            }
        }
        if keys.len() < 2 {
            return;
        }
        // Report each duplicated key once, in document order, with how often it occurs.
        let sorted = crate::base::sorted_indices(keys.len(), &|a, b| keys[a].cmp(&keys[b]));
        let sorted = sorted.iter().map(|&i| keys[i].as_str());
        let mut dups: Vec<(&str, usize, bool)> = Vec::new();
        for k in sorted {
            match dups.last_mut() {
                Some((last, n, _)) if *last == k => *n += 1,
                _ => dups.push((k, 1, false)),
            }
        }
        dups.retain(|d| d.1 > 1);
        for key in &keys {
            if let Ok(at) = dups.binary_search_by(|d| d.0.cmp(key.as_str())) {
                let (_, n, reported) = &mut dups[at];
                if !*reported {
                    *reported = true;
                    self.errors.push(ConfigError {
                        path: path.key(key).render(),
                        reason: format!(
                            "duplicate key {key:?} ({n} times in one object; JSON keeps only the last)"
                        ),
                    });
                }
            }
        }
    }
}
