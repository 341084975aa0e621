//! Small shared helpers: atomic output, planned disk faults for tests, manifests of file checksums, writer locks,
//! peak memory, plots.

pub mod atomic;
pub mod contain;
pub mod dir_check;
pub mod faults;
pub mod lock;
pub mod manifest;
pub mod mem;
pub mod plot;
