//! Peers side by side: the same 10 % rollout, 50/30/20 split and ten-item configuration in
//! switchyard-core, unleash-yggdrasil and growthbook-rust, then how many users move when the
//! weights change.
//!
//!     cargo bench --manifest-path bench/peers/Cargo.toml
//!
//! Each iteration evaluates one user (cycling through 10,000), building that library's
//! per-user context as a request path would (Switchyard: a header view; Unleash: a `Context`;
//! GrowthBook: an attribute list).

use std::hint::black_box;

use criterion::Criterion;
use switchyard_peers::{moved, necessary, peers, user, Growthbook, Peer, Switchyard, Unleash};

const USERS: usize = 10_000;
/// A library's name and how to configure it with split weights.
type Make = (&'static str, fn([u32; 3]) -> Box<dyn Peer>);
const MOVE_USERS: usize = 100_000;

fn bench_all(c: &mut Criterion) {
    let users: Vec<String> = (0..USERS).map(user).collect();
    for p in peers([50, 30, 20]) {
        let mut g = c.benchmark_group(p.name());
        let mut i = 0usize;
        g.bench_function("rollout 10%", |b| {
            b.iter(|| {
                i = (i + 1) % USERS;
                black_box(p.rollout(black_box(&users[i])))
            })
        });
        g.bench_function("split 50/30/20", |b| {
            b.iter(|| {
                i = (i + 1) % USERS;
                black_box(p.split(black_box(&users[i])))
            })
        });
        g.bench_function("10-item config, last item", |b| {
            b.iter(|| {
                i = (i + 1) % USERS;
                black_box(p.ten(black_box(&users[i])))
            })
        });
        g.finish();
    }
}

fn movement() {
    let before = [50, 30, 20];
    println!("users who change variant, {MOVE_USERS} users, split weights changed:");
    println!("| library | 50/30/20 -> 40/40/20 | 50/30/20 -> 40/30/30 |");
    println!("|---|---|---|");
    let rows: Vec<Make> = vec![
        ("switchyard-core", |w| Box::new(Switchyard::new(w))),
        ("unleash-yggdrasil", |w| Box::new(Unleash::new(w))),
        ("growthbook-rust", |w| Box::new(Growthbook::new(w))),
    ];
    for (name, make) in rows {
        let b = make(before);
        let cells: Vec<String> = [[40, 40, 20], [40, 30, 30]]
            .iter()
            .map(|after| format!("{:.1} %", 100.0 * moved(&*b, &*make(*after), MOVE_USERS)))
            .collect();
        println!("| {name} | {} | {} |", cells[0], cells[1]);
    }
    println!(
        "| least possible | {:.1} % | {:.1} % |",
        100.0 * necessary(before, [40, 40, 20]),
        100.0 * necessary(before, [40, 30, 30])
    );
    println!();
}

fn main() {
    movement();
    let mut c = Criterion::default().configure_from_args();
    bench_all(&mut c);
    c.final_summary();
}
