//! The config parser and validator (`core::config::parse`) and the duplicate-key scan on any
//! text: never panics; an accepted config has a 12-hex-digit id and valid route names; a
//! document with a duplicate key is never accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::base::{valid_name, NameChars};
use switchyard_core::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dups = config::duplicate_keys(text);
    match config::parse(text) {
        Ok(c) => {
            assert!(dups.is_empty(), "accepted a document with duplicate keys");
            assert_eq!(c.id.len(), 12);
            for r in &c.routes {
                assert!(valid_name(r.name.as_bytes(), NameChars::Route), "{:?}", r.name);
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
