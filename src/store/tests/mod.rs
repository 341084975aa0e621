//! Store tests: one suite run against both implementations and checked against a
//! slow linear-scan oracle (`oracle.rs`), property tests (`suite.rs`), bad files
//! and bad input (`errors.rs`), hand-checked examples (`units.rs`).

mod errors;
mod oracle;
mod suite;
mod units;
