//! The decision path (route match, unit id, strategy, flags, shadows) over a 10-route
//! config. Target: at most 1 µs per decision natively.
//!
//!     cargo bench -p switchyard-core --bench decide

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use switchyard_core::base::Xoshiro256;
use switchyard_core::config::{self, Config, Route};
use switchyard_core::observe::{Batcher, DecisionRow, Observation, Outcome};
use switchyard_core::receipt::{Receipt, ReceiptSigner};
use switchyard_core::routing::Decision;
use switchyard_core::routing::Inputs;
use switchyard_core::routing::{self, RequestView, Target};

fn ten_routes() -> String {
    let strategies = [
        r#"{"kind":"ab","arms":[{"name":"control","origin":"v1","weight":50},{"name":"treatment","origin":"v2","weight":50}]}"#,
        r#"{"kind":"canary","stable":"v1","canary":"v2","percent":5}"#,
        r#"{"kind":"flag","default":"v1","flags":[{"name":"beta","origin":"v2","rollout":50,"rules":[{"attr":"header:x-plan","op":"in","values":["pro","team"]}]}]}"#,
        r#"{"kind":"blue_green","blue":"v1","green":"v2","active":"blue","failover":true}"#,
        r#"{"kind":"rolling","from":"v1","to":"v2","batches":10,"completed":3}"#,
        r#"{"kind":"recreate","origin":"v2"}"#,
        r#"{"kind":"bandit","arms":[{"name":"a","origin":"v1"},{"name":"b","origin":"v2"},{"name":"c","origin":"v3"}]}"#,
        r#"{"kind":"ab","arms":[{"name":"a","origin":"v1","weight":1},{"name":"b","origin":"v2","weight":1},{"name":"c","origin":"v3","weight":1}]}"#,
        r#"{"kind":"canary","stable":"v1","canary":"v3","percent":20}"#,
    ];
    let mut routes: Vec<String> = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(r#"{{"name":"r{i}","match":{{"path_prefix":"/v1/models/m{i}","methods":["POST"]}},"unit":[{{"header":"x-user-id"}},{{"cookie":"uid"}}],"strategy":{s}}}"#)
        })
        .collect();
    // The busiest route is last, so matching walks all ten.
    routes.push(r#"{"name":"fraud","match":{"path_prefix":"/v1/models/fraud","methods":["POST"]},"unit":[{"header":"x-user-id"},{"cookie":"uid"}],"strategy":{"kind":"canary","stable":"v1","canary":"v2","percent":5},"shadow":[{"origin":"v3","percent":100}],"flags":[{"name":"explain","rollout":10}]}"#.into());
    format!(
        r#"{{"version":1,"origins":{{"v1":{{"url":"http://127.0.0.1:9001"}},"v2":{{"url":"http://127.0.0.1:9002"}},"v3":{{"url":"http://127.0.0.1:9003"}}}},"routes":[{}]}}"#,
        routes.join(",")
    )
}

const HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/json"),
    ("x-user-id", "user-18231"),
    ("cookie", "session=abc; uid=zz"),
];

/// One request through the decision path: route match, unit id, strategy, flags, shadows.
fn decide_once<'c>(cfg: &'c Config, rng: &mut Xoshiro256) -> (&'c Route, Decision<'c>) {
    let req = RequestView {
        method: "POST",
        host: "api.example.com",
        path: black_box("/v1/models/fraud/infer"),
        query: None,
        headers: &HEADERS[..],
        country: Some("DE"),
    };
    let Target::Route(i) = routing::match_route(cfg, req.host, req.path, req.method) else {
        unreachable!()
    };
    let route = &cfg.routes[i];
    let unit = routing::unit_id(route, &req).ok().flatten().expect("unit");
    let d = routing::decide(cfg, i, &unit, &req, Inputs::default(), rng);
    black_box(d.flags_header(route));
    (route, d)
}

fn bench(c: &mut Criterion) {
    let cfg = config::parse(&ten_routes()).expect("valid bench config");
    let mut rng = Xoshiro256::seed_from_u64(9);
    c.bench_function("decide/10 routes, canary+shadow+flag", |b| {
        b.iter(|| black_box(decide_once(&cfg, &mut rng).1.shadows))
    });
    // The same decision plus what the edge records per request: one observation
    // into the isolate batch (with the drain every 50, as at the edge) and one signed receipt.
    let mut batcher = Batcher::default();
    let signer = ReceiptSigner::new(b"a-32-byte-secret-for-benchmarks!");
    let mut now = 1_790_000_000_000u64;
    c.bench_function("decide+record/10 routes, canary+shadow+flag", |b| {
        b.iter(|| {
            now += 1;
            let (route, d) = decide_once(&cfg, &mut rng);
            let obs = Observation {
                route: &route.name,
                arm: d.arm,
                outcome: Outcome::Ok,
                status: 200,
                latency_ms: 20,
                fingerprint: &route.fingerprint,
                split_ppm: 50_000,
                propensity_ppm: d.propensity_ppm(),
                unit: Some(d.unit_hash),
                epoch: Some(0),
            };
            let r = Receipt::new(&route.name, d.arm, d.unit_hash.to_be_bytes(), 17, now, now)
                .expect("receipt")
                .with_propensity(d.propensity_ppm());
            let (token, id) = signer.sign_with_id(&r);
            // The decision log's row (the edge logs every decision with a propensity).
            if let Some(p) = d.propensity_ppm() {
                batcher.push_decision(
                    &route.name,
                    DecisionRow {
                        id: id.to_string(),
                        at: now,
                        unit: format!("{:016x}", d.unit_hash),
                        arm: d.arm.to_string(),
                        p,
                        ctx: Default::default(),
                    },
                );
            }
            if batcher.push(obs, now) {
                black_box(batcher.drain());
            }
            black_box(token)
        })
    });
    c.bench_function("config/parse 10 routes", |b| {
        let text = ten_routes();
        b.iter(|| config::parse(black_box(&text)).is_ok())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
