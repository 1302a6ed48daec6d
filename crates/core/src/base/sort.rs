//! One stable sort for the whole core, so that the wasm carries one copy of std's sort.
//!
//! Every `sort_by_key` with its own closure is its own instantiation of std's driftsort
//! (~3 KB of wasm each). [`sort_indices`] sorts positions through a `dyn` comparison: one
//! instantiation, still O(n log n), still stable.

use std::cmp::Ordering;

/// Sorts `idx` (positions into some slice) stably by `cmp`.
pub fn sort_indices(idx: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    idx.sort_by(|a, b| cmp(*a, *b));
}

/// `0..n`, sorted stably by `cmp`.
pub fn sorted_indices(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    sort_indices(&mut idx, cmp);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_sorted() {
        let keys = [3, 1, 2, 1, 3, 0];
        let idx = sorted_indices(keys.len(), &|a, b| keys[a].cmp(&keys[b]));
        assert_eq!(idx, vec![5, 1, 3, 2, 0, 4]);
    }
}
