mod cli;
mod eval;
mod generate;
mod ingest;
mod live;
mod sample;
mod stats;
mod train;
