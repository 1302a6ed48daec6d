//! A/B statistics and bandit algorithms (to be written)
