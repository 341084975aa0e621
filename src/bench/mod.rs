//! Synthetic generator and throughput harnesses (being written).
