//! Helpers shared by the native integration tests.
#![allow(dead_code)]

use switchyard_core::base::Xoshiro256;
use switchyard_core::config::{self, Config};
use switchyard_core::routing::Decision;
use switchyard_core::routing::Inputs;
use switchyard_core::routing::{self, RequestView, Target};

pub const ORIGINS: &str = r#"{
  "v1": { "url": "http://127.0.0.1:9001" },
  "v2": { "url": "http://127.0.0.1:9002" },
  "v3": { "url": "http://127.0.0.1:9003" }
}"#;

/// A config with the given routes (JSON array text) over origins v1, v2, v3.
pub fn config(routes: &str) -> Config {
    let text = format!(r#"{{"version":1,"origins":{ORIGINS},"routes":{routes}}}"#);
    config::parse(&text).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// One route with the given strategy JSON, matching every path.
pub fn one_route(strategy: &str) -> Config {
    config(&format!(
        r#"[{{"name":"r","match":{{"path_prefix":"/"}},"unit":[{{"header":"x-user-id"}}],"strategy":{strategy}}}]"#
    ))
}

/// Decides for `unit` with extra headers on a POST to `/`.
pub fn decide_with<'c>(
    cfg: &'c Config,
    unit: &str,
    headers: &[(&str, &str)],
    inputs: Inputs<'_>,
) -> Decision<'c> {
    let mut hs: Vec<(&str, &str)> = vec![("x-user-id", unit)];
    hs.extend_from_slice(headers);
    let req = RequestView {
        method: "POST",
        host: "example.com",
        path: "/",
        query: None,
        headers: hs.as_slice(),
        country: None,
    };
    let Target::Route(i) = routing::match_route(cfg, req.host, req.path, req.method) else {
        panic!("no route")
    };
    let unit = routing::unit_id(&cfg.routes[i], &req)
        .unwrap()
        .unwrap()
        .into_owned();
    let mut rng = Xoshiro256::seed_from_u64(1);
    routing::decide(cfg, i, &unit, &req, inputs, &mut rng)
}

pub fn arm_of(cfg: &Config, unit: &str) -> String {
    decide_with(cfg, unit, &[], Inputs::default())
        .arm
        .to_string()
}
