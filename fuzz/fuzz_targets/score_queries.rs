#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| linkcast::fuzz::score_queries(data));
