//! Process memory figures from /proc (Linux; `None` elsewhere), a background RssAnon peak
//! sampler, and memory sizes as the command line writes them.

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

/// Hand memory that the allocator holds but no longer uses back to the kernel
/// (glibc keeps freed blocks in per-thread arenas: after a parallel parse, tens of MB of
/// RssAnon that nothing uses). Linux/glibc only; a no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes the C allocator has handed out and not had back (glibc `mallinfo2`: small
/// blocks in every arena plus mmapped ones). Unlike RSS it does not move with
/// fragmentation or pages the allocator keeps, so the growth of a data structure
/// can be read from it directly. `None` off glibc.
pub fn heap_in_use_bytes() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let m = unsafe { libc::mallinfo2() };
        Some((m.uordblks + m.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Total physical memory (MemTotal of /proc/meminfo) in bytes.
pub fn mem_total_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|k| k * 1024)
}

/// A memory size as the command line gives it: `512M`, `2G`, `1.5GiB`, `100000000` (bytes),
/// or `N%` of the machine's memory (MemTotal). Units `K`, `M`, `G`, `T` (with or without `B`
/// or `iB`) are powers of 1024. Returns bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("cannot read {s:?} as a memory size (examples: 512M, 2G, 1.5GiB, 50%)");
    if let Some(p) = t.strip_suffix('%') {
        let pct: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(pct > 0.0 && pct <= 100.0) {
            return Err(format!("memory percentage {pct} must be in (0, 100]"));
        }
        let total = mem_total_bytes().ok_or_else(|| "cannot read MemTotal from /proc/meminfo".to_string())?;
        return Ok((total as f64 * pct / 100.0) as u64);
    }
    let upper = t.to_ascii_uppercase();
    let num_end = upper.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(upper.len());
    let (num, unit) = upper.split_at(num_end);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad()),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Samples RssAnon on a background thread (every `every`) and keeps the largest value,
/// so a run can report its anonymous-memory peak (VmHWM counts mapped file pages too,
/// which an out-of-core job touches freely). Stops when `finish` is called or dropped.
pub struct RssAnonSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl RssAnonSampler {
    pub fn start(every: std::time::Duration) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let peak = std::sync::Arc::new(AtomicU64::new(rss_anon_bytes().unwrap_or(0)));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::Builder::new()
            .name("rss-anon-sampler".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Some(b) = rss_anon_bytes() {
                        p.fetch_max(b, Ordering::Relaxed);
                    }
                    std::thread::sleep(every);
                }
            })
            .ok();
        Self { stop, peak, handle }
    }

    /// The largest RssAnon seen so far (bytes), including a sample taken now.
    pub fn peak(&self) -> u64 {
        let now = rss_anon_bytes().unwrap_or(0);
        self.peak.fetch_max(now, std::sync::atomic::Ordering::Relaxed).max(now)
    }

    /// Stop sampling and return the peak.
    pub fn finish(mut self) -> u64 {
        let p = self.peak();
        self.halt();
        p
    }

    fn halt(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RssAnonSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Cap glibc's malloc arenas at `n` (`mallopt(M_ARENA_MAX)`); call before the
/// process starts its threads. glibc's default (8 per core) lets a long-running
/// server's resident memory creep as its many threads each fragment an arena of
/// their own: `linkcast serve` read-only over 10 minutes grew 21.7 MB (757 to
/// 779 MB) with the default and 7 MB (632 to 639 MB) with 2 arenas
/// (docs/RELIABILITY.md, "A soak"). Returns whether the cap was set (not on
/// other C libraries).
pub fn limit_malloc_arenas(n: i32) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter.
        n > 0 && unsafe { libc::mallopt(libc::M_ARENA_MAX, n) } == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = n;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert!(parse_size("12x").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("150%").is_err());
        if mem_total_bytes().is_some() {
            assert!(parse_size("50%").unwrap() > 0);
        }
    }

    #[test]
    fn heap_in_use_counts_a_live_allocation() {
        let Some(before) = heap_in_use_bytes() else { return };
        let v = vec![7u8; 8 << 20];
        let during = heap_in_use_bytes().unwrap();
        assert!(during >= before + (8 << 20) - 4096, "{before} -> {during}");
        drop(std::hint::black_box(v));
        assert!(heap_in_use_bytes().unwrap() < during - (4 << 20));
    }

    #[test]
    fn sampler_sees_an_allocation() {
        let s = RssAnonSampler::start(std::time::Duration::from_millis(5));
        let before = s.peak();
        let v = vec![1u8; 64 << 20];
        std::thread::sleep(std::time::Duration::from_millis(30));
        let peak = s.finish();
        assert!(v.iter().all(|&x| x == 1));
        if rss_anon_bytes().is_some() {
            assert!(peak >= before + (60 << 20), "peak {peak} before {before}");
        }
    }
}
