//! Process memory figures from /proc (Linux); `None` elsewhere.

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Peak resident set size (VmHWM) in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// Current resident set size (VmRSS) in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

/// Current anonymous resident memory (RssAnon) in bytes: excludes mapped file pages.
pub fn rss_anon_bytes() -> Option<u64> {
    status_kib("RssAnon:").map(|k| k * 1024)
}

/// Keep freed blocks in the heap instead of returning them to the kernel. A training
/// step allocates and frees the same few hundred tensors of 100 kB - 10 MB every
/// batch; by default glibc serves each from a fresh `mmap` and unmaps it on free,
/// so every batch pays page faults to zero the same memory again (about 10% of a
/// CPU training profile). Raising the mmap and trim thresholds makes the heap reuse
/// them. Linux/glibc only; a no-op elsewhere.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; it is called
    // before the training threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
