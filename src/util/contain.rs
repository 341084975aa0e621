//! Containing panics of third-party decoders. The parquet crate asserts on some
//! corrupt files instead of returning an error (a data page that needs a
//! dictionary the column chunk never sent, found by fuzzing); linkcast runs
//! those reads under [`contain`], which turns such a panic into an error that
//! the caller reports with the file's name, so bad input never aborts a run.
//!
//! While a closure runs contained, the panic hook installed by
//! [`install_hook`] stays quiet (no "thread panicked" line before the clean
//! error) and, in a fuzzer, does not abort: libFuzzer's hook is called only for
//! panics outside [`contain`].

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Run `f`; a panic inside it becomes `Err(message)`.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Wrap the current panic hook so panics inside [`contain`] skip it. Idempotent;
/// [`contain`] calls it, and so do the fuzz harnesses after libFuzzer has set its
/// own hook.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(|d| d.get()) == 0 {
                prev(info);
            }
        }));
    });
}
