//! Text operations the core asks the platform for.

/// Unicode lowercase through the JS engine (`String.prototype.toLowerCase`, the same default
/// case conversion as `str::to_lowercase`) for non-ASCII text: std's case tables cost ~18 KB of
/// wasm. Passed to `switchyard_core::observe::compare_with`.
pub fn lowercase(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        js_sys::JsString::from(s).to_lower_case().into()
    }
}
