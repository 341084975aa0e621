mod cli;
mod generate;
mod ingest;
mod sample;
mod stats;
