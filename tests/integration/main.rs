mod cli;
mod eval;
mod generate;
mod ingest;
mod sample;
mod stats;
mod train;
