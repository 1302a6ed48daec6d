//! Statistics for the learning loop: special functions, A/B statistics and bandit weights.
//!
//! Pure Rust with no dependencies beyond `serde` (for the result structs): no I/O, no clock,
//! randomness only through [`crate::rng::Rng`]. See each module for the method choices.

pub mod ab;
pub mod bandit;
pub mod sample;
pub mod special;
