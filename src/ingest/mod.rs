//! Ingest: readers per format, id mapping, validation (being written).
