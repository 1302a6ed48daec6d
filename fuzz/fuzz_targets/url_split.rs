//! The URL splitter (`switchyard_core::routing::split_url`) on any string: never panics, and the parts
//! keep their documented shape (the path starts with `/` and holds no `?`/`#`, the query no
//! `#`, the host no `/`, `?`, `#` or `@`) and are slices of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::routing::split_url;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let Some(p) = split_url(url) else {
        return;
    };
    assert!(!p.scheme.is_empty());
    assert!(url.starts_with(p.scheme));
    assert!(p.path.starts_with('/'), "{url:?} -> path {:?}", p.path);
    assert!(!p.path.contains(['?', '#']));
    if let Some(q) = p.query {
        assert!(!q.contains('#'));
        assert!(url.contains(q));
    }
    assert!(!p.host.contains(['/', '?', '#', '@']), "{url:?} -> host {:?}", p.host);
    assert!(url.contains(p.host));
});
