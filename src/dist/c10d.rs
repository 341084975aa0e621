//! A process group of PyTorch's c10d with the Gloo backend, through the C shim in
//! `c10d_shim.cpp` (compiled by `build.rs`, linked against libtorch_cpu).
//!
//! Collectives are blocking and must be called in the same order on every rank.
//! Tensors must be dense and contiguous; Gloo reduces CPU tensors in place and
//! stages CUDA tensors through the host.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tch::Tensor;

use crate::dist::DistError;

unsafe extern "C" {
    fn lc_dist_new(
        master_addr: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        serve: c_int,
        prefix: *const c_char,
        iface: *const c_char,
        host: *const c_char,
        timeout_ms: i64,
        op_timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn lc_dist_allreduce_sum(
        h: *mut c_void,
        tensor: *mut c_void,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn lc_dist_broadcast(
        h: *mut c_void,
        tensor: *mut c_void,
        root: c_int,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn lc_dist_barrier(h: *mut c_void, err: *mut *mut c_char) -> c_int;
    fn lc_dist_free(h: *mut c_void);
    fn lc_dist_free_str(s: *mut c_char);
    fn lc_store_serve(
        host: *const c_char,
        timeout_ms: i64,
        port: *mut c_int,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn lc_store_free(h: *mut c_void);
}

/// A rendezvous store served by a launcher (`--nproc`) for ranks that join with
/// [`StoreRole::Launcher`]; the port is chosen by the kernel while binding, so two
/// launches on one machine cannot race for it. Stops serving on drop.
pub struct StoreServer {
    handle: *mut c_void,
    pub port: u16,
}

impl StoreServer {
    pub fn serve(host: &str, timeout: std::time::Duration) -> Result<StoreServer, DistError> {
        let h = cstring(host)?;
        let mut port: c_int = 0;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: `h` outlives the call; the shim catches every C++ exception.
        let handle = unsafe { lc_store_serve(h.as_ptr(), millis(timeout), &mut port, &mut err) };
        if handle.is_null() {
            return Err(take_error("serving the rendezvous store", err));
        }
        Ok(StoreServer { handle, port: port as u16 })
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        // SAFETY: the handle came from lc_store_serve and is freed once.
        unsafe { lc_store_free(self.handle) };
    }
}

/// Where this process's Gloo device listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A network interface by name (`GLOO_SOCKET_IFNAME`).
    Interface(String),
    /// An address or hostname of this machine.
    Host(String),
    /// c10d's default: the address this machine's hostname resolves to.
    Default,
}

/// Who serves the rendezvous store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRole {
    /// Rank 0 serves it (`--nproc`, static launchers).
    Rank0,
    /// The launcher already serves it (torchrun's agent,
    /// `TORCHELASTIC_USE_AGENT_STORE=True`); keys go under `prefix`.
    Launcher { prefix: String },
}

/// One rank's membership of a c10d process group (Gloo backend).
pub struct ProcessGroup {
    handle: *mut c_void,
    pub rank: usize,
    pub world: usize,
    /// How long the rendezvous may take; also the patience of the first collective.
    pub join_timeout: Duration,
    /// How long each later collective waits for its peers.
    pub op_timeout: Duration,
    /// Set once a collective failed: the group is broken (a peer died, stalls or
    /// is cut off), and tearing Gloo down could wait on that peer, so the handle
    /// is leaked on drop; the process is about to exit with the error anyway.
    broken: AtomicBool,
}

fn take_error(op: &'static str, err: *mut c_char) -> DistError {
    let msg = if err.is_null() {
        "no message".to_string()
    } else {
        // SAFETY: the shim returns a NUL-terminated malloc'd string, freed right after.
        let s = unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned();
        unsafe { lc_dist_free_str(err) };
        s
    };
    DistError::C10d { op, msg }
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Gloo's messages carry a source location and sometimes a backtrace.
fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

fn cstring(s: &str) -> Result<CString, DistError> {
    CString::new(s).map_err(|_| DistError::Env(format!("{s:?} contains a NUL byte")))
}

impl ProcessGroup {
    /// Rendezvous at the TCP store on `master_addr:port` (served by rank 0, or by
    /// the launcher when `store` says so), then connect Gloo between all `world`
    /// ranks. Blocks until every rank has joined or `timeout` passes; each
    /// collective after that fails once it has waited `op_timeout` for a peer.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        master_addr: &str,
        port: u16,
        rank: usize,
        world: usize,
        store: &StoreRole,
        listen: &Listen,
        timeout: Duration,
        op_timeout: Duration,
    ) -> Result<ProcessGroup, DistError> {
        if world == 0 || rank >= world {
            return Err(DistError::Env(format!("rank {rank} is not below the world size {world}")));
        }
        let addr = cstring(master_addr)?;
        let (serve, prefix) = match store {
            StoreRole::Rank0 => (rank == 0, cstring("")?),
            StoreRole::Launcher { prefix } => (false, cstring(prefix)?),
        };
        let (iface, host) = match listen {
            Listen::Interface(i) => (cstring(i)?, cstring("")?),
            Listen::Host(h) => (cstring("")?, cstring(h)?),
            Listen::Default => (cstring("")?, cstring("")?),
        };
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: all strings outlive the call; the shim catches every C++ exception.
        let handle = unsafe {
            lc_dist_new(
                addr.as_ptr(),
                port as c_int,
                rank as c_int,
                world as c_int,
                serve as c_int,
                prefix.as_ptr(),
                iface.as_ptr(),
                host.as_ptr(),
                millis(timeout),
                millis(op_timeout).max(1),
                &mut err,
            )
        };
        if handle.is_null() {
            return Err(take_error("joining the process group", err));
        }
        Ok(ProcessGroup {
            handle,
            rank,
            world,
            join_timeout: timeout,
            op_timeout,
            broken: AtomicBool::new(false),
        })
    }

    /// A failed collective, in words a user can act on: which peer failure it
    /// looks like, with Gloo's own message kept for the record.
    fn collective_error(&self, op: &'static str, err: *mut c_char, waited: Duration) -> DistError {
        self.broken.store(true, Ordering::Relaxed);
        let msg = match take_error(op, err) {
            DistError::C10d { msg, .. } => msg,
            other => other.to_string(),
        };
        let lower = msg.to_ascii_lowercase();
        let cause = if lower.contains("timed out") || lower.contains("timeout") {
            format!(
                "no answer from another rank within {:.0} s: a rank stalls, is stopped, or the \
                 network between the ranks is cut (--dist-op-timeout sets the wait)",
                waited.as_secs_f64()
            )
        } else if ["closed", "reset", "broken pipe", "refused", "eof"].iter().any(|k| lower.contains(k)) {
            "another rank closed its connection: it exited or was killed".to_string()
        } else {
            "the process group broke".to_string()
        };
        DistError::PeerLost { op, rank: self.rank, world: self.world, cause, msg: first_line(&msg) }
    }

    fn check_dense(t: &Tensor) -> Result<(), DistError> {
        if !t.defined() || !t.is_contiguous() {
            return Err(DistError::C10d {
                op: "collective",
                msg: "tensor must be defined and contiguous".into(),
            });
        }
        Ok(())
    }

    /// Sum `t` over all ranks, in place; every rank ends with the same values.
    pub fn all_reduce_sum(&self, t: &mut Tensor) -> Result<(), DistError> {
        Self::check_dense(t)?;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: `t` is a live at::Tensor (tch's C_tensor) for the whole call.
        let rc = unsafe { lc_dist_allreduce_sum(self.handle, t.as_mut_ptr() as *mut c_void, 0, &mut err) };
        if rc != 0 {
            return Err(self.collective_error("all-reduce", err, self.op_timeout));
        }
        Ok(())
    }

    /// Overwrite `t` on every rank with rank `root`'s values, waiting at most the
    /// collective timeout for the other ranks.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<(), DistError> {
        self.broadcast_within(t, root, self.op_timeout)
    }

    /// [`Self::broadcast`] waiting up to `timeout`: the first collective after the
    /// join, which the ranks reach after opening their data at their own pace, is
    /// given the join's patience rather than a step's.
    pub fn broadcast_within(&self, t: &mut Tensor, root: usize, timeout: Duration) -> Result<(), DistError> {
        Self::check_dense(t)?;
        let mut err: *mut c_char = std::ptr::null_mut();
        let ms = millis(timeout).max(1);
        // SAFETY: as in all_reduce_sum.
        let rc = unsafe {
            lc_dist_broadcast(self.handle, t.as_mut_ptr() as *mut c_void, root as c_int, ms, &mut err)
        };
        if rc != 0 {
            return Err(self.collective_error("broadcast", err, timeout));
        }
        Ok(())
    }

    /// Wait until every rank reaches this call.
    pub fn barrier(&self) -> Result<(), DistError> {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: the handle is live until drop.
        if unsafe { lc_dist_barrier(self.handle, &mut err) } != 0 {
            return Err(self.collective_error("barrier", err, self.op_timeout));
        }
        Ok(())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: the handle came from lc_dist_new and is freed once.
        unsafe { lc_dist_free(self.handle) };
    }
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(gloo, rank {} of {})", self.rank, self.world)
    }
}
