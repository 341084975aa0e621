//! Small shared helpers: atomic output, peak memory, progress bars.

pub mod atomic;
pub mod mem;
pub mod plot;
