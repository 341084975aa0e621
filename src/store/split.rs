//! Chronological train/val/test split by timestamp quantile (being written).
