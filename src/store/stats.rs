//! Graph statistics (being written).
