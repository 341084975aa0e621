mod cli;
mod generate;
mod ingest;
mod stats;
