//! Fixture-driven shadow comparison tests: every `tests/fixtures/compare/*.json` holds a
//! `spec` and `cases` of (primary, shadow, expected agreement). A side's body is either
//! `body` (any JSON, serialized) or `body_raw` (a string used verbatim).

use serde::Deserialize;
use switchyard_core::observe::{compare, Agreement, Compare, Side};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    spec: Compare,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    primary: Resp,
    shadow: Resp,
    expected: Agreement,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resp {
    status: u16,
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    body_raw: Option<String>,
}

impl Resp {
    fn bytes(&self) -> Vec<u8> {
        match (&self.body, &self.body_raw) {
            (Some(v), None) => serde_json::to_vec(v).unwrap(),
            (None, Some(s)) => s.clone().into_bytes(),
            (None, None) => Vec::new(),
            _ => panic!("give body or body_raw, not both"),
        }
    }
}

#[test]
fn compare_fixtures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/compare");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    let mut n = 0;
    for path in files {
        let f: File = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for c in f.cases {
            let (p, s) = (c.primary.bytes(), c.shadow.bytes());
            let got = compare(
                &f.spec,
                Side::new(c.primary.status, &p),
                Side::new(c.shadow.status, &s),
            );
            assert_eq!(got, c.expected, "{}: {}", path.display(), c.name);
            n += 1;
        }
    }
    println!("{n} comparison fixtures passed");
}
