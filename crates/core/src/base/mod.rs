//! What every other part of the core builds on, and nothing else:
//! - `bucket.rs`: sticky bucketing v1 (the unit hash under a salt, shares in parts per
//!   million, rendezvous scores, weighted choice), reproducible from
//!   `tests/fixtures/bucketing_v1.json`;
//! - `rng.rs`: the random source the edge passes in ([`Rng`], [`Xoshiro256`]);
//! - `numfmt.rs`: `f64` to text without core's float printer ([`display_f64`]);
//! - `sort.rs`: one stable sort for the whole core ([`sort_indices`], [`sorted_indices`]);
//! - `name.rs`: the name rule (1 to [`MAX_NAME_LEN`] bytes of the characters each kind of
//!   name allows: [`valid_name`], [`NameChars`]).

mod bucket;
mod name;
mod numfmt;
mod rng;
mod sort;

pub use bucket::{
    arm_key, bucket_ppm, choose_weighted, hash, in_share, mix, score, slot, unit_interval, PPM,
};
pub use name::{valid_name, NameChars, MAX_NAME_LEN};
pub use numfmt::display_f64;
pub use rng::{Rng, Xoshiro256};
pub use sort::{sort_indices, sorted_indices};
