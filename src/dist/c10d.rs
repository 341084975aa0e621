//! A process group of PyTorch's c10d with the Gloo backend, through the C shim in
//! `c10d_shim.cpp` (compiled by `build.rs`, linked against libtorch_cpu).
//!
//! Collectives are blocking and must be called in the same order on every rank.
//! Tensors must be dense and contiguous; Gloo reduces CPU tensors in place and
//! stages CUDA tensors through the host.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

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
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn lc_dist_allreduce_sum(h: *mut c_void, tensor: *mut c_void, err: *mut *mut c_char) -> c_int;
    fn lc_dist_broadcast(h: *mut c_void, tensor: *mut c_void, root: c_int, err: *mut *mut c_char) -> c_int;
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
        let handle = unsafe {
            lc_store_serve(h.as_ptr(), timeout.as_millis().min(i64::MAX as u128) as i64, &mut port, &mut err)
        };
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

fn cstring(s: &str) -> Result<CString, DistError> {
    CString::new(s).map_err(|_| DistError::Env(format!("{s:?} contains a NUL byte")))
}

impl ProcessGroup {
    /// Rendezvous at the TCP store on `master_addr:port` (served by rank 0, or by
    /// the launcher when `store` says so), then connect Gloo between all `world`
    /// ranks. Blocks until every rank has joined or `timeout` passes.
    pub fn join(
        master_addr: &str,
        port: u16,
        rank: usize,
        world: usize,
        store: &StoreRole,
        listen: &Listen,
        timeout: std::time::Duration,
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
                timeout.as_millis().min(i64::MAX as u128) as i64,
                &mut err,
            )
        };
        if handle.is_null() {
            return Err(take_error("joining the process group", err));
        }
        Ok(ProcessGroup { handle, rank, world })
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
        let rc = unsafe { lc_dist_allreduce_sum(self.handle, t.as_mut_ptr() as *mut c_void, &mut err) };
        if rc != 0 {
            return Err(take_error("all-reduce", err));
        }
        Ok(())
    }

    /// Overwrite `t` on every rank with rank `root`'s values.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<(), DistError> {
        Self::check_dense(t)?;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: as in all_reduce_sum.
        let rc =
            unsafe { lc_dist_broadcast(self.handle, t.as_mut_ptr() as *mut c_void, root as c_int, &mut err) };
        if rc != 0 {
            return Err(take_error("broadcast", err));
        }
        Ok(())
    }

    /// Wait until every rank reaches this call.
    pub fn barrier(&self) -> Result<(), DistError> {
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: the handle is live until drop.
        if unsafe { lc_dist_barrier(self.handle, &mut err) } != 0 {
            return Err(take_error("barrier", err));
        }
        Ok(())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: the handle came from lc_dist_new and is freed once.
        unsafe { lc_dist_free(self.handle) };
    }
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(gloo, rank {} of {})", self.rank, self.world)
    }
}
