//! Data-parallel training over PyTorch's c10d (Gloo backend), the runtime behind
//! `torch.distributed` and torchrun, reached through a small C++ shim
//! ([`c10d`]). There is no network code of our own: rendezvous is c10d's
//! `TCPStore`, transport and collectives are Gloo's.
//!
//! The step (R replicas, a global batch of `B` positives; see
//! [`crate::train::trainer`]):
//! - every rank builds the same global batch (same data, seed and sampler);
//!   rank `r` scores the positives `[B r / R, B (r+1) / R)` with their negatives
//!   ([`rank_slice`], [`slice_roots`]);
//! - its loss is `(sum of its positive BCE + sum of its negative BCE) / B`, so the
//!   sum over ranks is the single-process loss `mean(pos) + mean(neg)` and the sum
//!   of the gradients is its gradient;
//! - one all-reduce (sum) of one flat buffer holding every gradient, one
//!   "reached" flag per parameter and the loss ([`Replica::exchange`]); a
//!   parameter no rank reached is skipped by Adam exactly as in one process;
//! - every rank takes the same Adam step, then absorbs the WHOLE global batch
//!   into its node memory. Memory is replicated, not partitioned: the update is a
//!   deterministic function of the (identical) weights, memory and events, so the
//!   replicas stay identical without exchanging memory, at the cost of every rank
//!   holding all of memory and computing every node's update.
//!
//! Launch follows torchrun: `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`
//! ([`DistEnv::from_env`]); `linkcast train --distributed --nproc N` starts N local
//! ranks itself. Each rank logs, per step, the events it scored and absorbed, the
//! step time and the bytes its TCP sockets sent and received ([`StepRecord`]).

pub mod c10d;

use std::ops::Range;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::sample::neighbors::Sampled;
use crate::store::{NodeId, Time};

pub use c10d::{Listen, ProcessGroup, StoreRole, StoreServer};

/// Set by `linkcast train --nproc` for its ranks: the launcher serves the store.
pub const LAUNCHER_STORE_VAR: &str = "LINKCAST_LAUNCHER_STORE";

/// Errors of the distributed runtime.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("distributed environment: {0}")]
    Env(String),
    #[error("c10d {op}: {msg}")]
    C10d { op: &'static str, msg: String },
    /// A collective failed after the group had formed: a peer died, stalls, or
    /// cannot be reached. Training cannot go on; `--resume` continues from the
    /// last checkpoint.
    #[error("{op} failed on rank {rank} of {world}: {cause} [gloo: {msg}]")]
    PeerLost { op: &'static str, rank: usize, world: usize, cause: String, msg: String },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// The torchrun launch convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    pub store: StoreRole,
    pub listen: Listen,
}

impl DistEnv {
    /// Read `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` (and `LOCAL_RANK`,
    /// `GLOO_SOCKET_IFNAME`) through `get`. Under torchrun
    /// (`TORCHELASTIC_USE_AGENT_STORE=True`) the agent serves the store and every
    /// rank is a client under `/worker/attempt_{TORCHELASTIC_RESTART_COUNT}`, as
    /// `torch.distributed` does. Gloo listens on `GLOO_SOCKET_IFNAME`
    /// when set, on the loopback address when the master is a loopback address (one
    /// machine), else on the address this host's name resolves to.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<DistEnv, DistError> {
        let need = |k: &str| get(k).ok_or_else(|| DistError::Env(format!("{k} is not set")));
        let num = |k: &str| -> Result<usize, DistError> {
            let v = need(k)?;
            v.trim().parse().map_err(|_| DistError::Env(format!("{k}={v:?} is not a number")))
        };
        let rank = num("RANK")?;
        let world = num("WORLD_SIZE")?;
        if world == 0 || rank >= world {
            return Err(DistError::Env(format!("RANK={rank} must be below WORLD_SIZE={world}")));
        }
        let local_rank = if get("LOCAL_RANK").is_some() { num("LOCAL_RANK")? } else { rank };
        let master_addr = need("MASTER_ADDR")?;
        let port = num("MASTER_PORT")?;
        let master_port = u16::try_from(port)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| DistError::Env(format!("MASTER_PORT={port} is not a TCP port")))?;
        let loopback = master_addr == "localhost"
            || master_addr.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
        let listen = match get("GLOO_SOCKET_IFNAME").filter(|s| !s.is_empty()) {
            Some(i) => Listen::Interface(i),
            None if loopback => Listen::Host("127.0.0.1".into()),
            None => Listen::Default,
        };
        let store = if get(LAUNCHER_STORE_VAR).is_some_and(|v| v == "1") {
            StoreRole::Launcher { prefix: String::new() }
        } else if get("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let attempt = get("TORCHELASTIC_RESTART_COUNT").unwrap_or_else(|| "0".into());
            StoreRole::Launcher { prefix: format!("/worker/attempt_{}", attempt.trim()) }
        } else {
            StoreRole::Rank0
        };
        Ok(DistEnv { rank, world, local_rank, master_addr, master_port, store, listen })
    }

    pub fn from_env() -> Result<DistEnv, DistError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Join the group (blocks until every rank has, at most `timeout`); each
    /// collective afterwards waits at most `op_timeout` for its peers.
    pub fn join(&self, timeout: Duration, op_timeout: Duration) -> Result<ProcessGroup, DistError> {
        ProcessGroup::join(
            &self.master_addr,
            self.master_port,
            self.rank,
            self.world,
            &self.store,
            &self.listen,
            timeout,
            op_timeout,
        )
    }
}

/// Rank `rank`'s share of `n` items: `[n r / R, n (r+1) / R)`, contiguous, sizes
/// differing by at most one, covering `0..n` exactly once over all ranks.
pub fn rank_slice(n: usize, rank: usize, world: usize) -> Range<usize> {
    let w = world.max(1);
    (n * rank / w)..(n * (rank + 1) / w)
}

/// The roots of a batch's positives `lo..hi` (of `n`) from roots laid out as
/// `[src (n), dst (n), neg (n)]`, with their sampled layers: `(nodes, times,
/// layers)` for `[src lo..hi, dst lo..hi, neg lo..hi]`. Layers are root-major
/// (layer `l` holds `prod(k_0..=k_l)` slots per root), so each root's block is copied whole.
pub fn slice_roots(
    roots: &[NodeId],
    root_t: &[Time],
    layers: &[Sampled],
    n: usize,
    part: Range<usize>,
) -> (Vec<NodeId>, Vec<Time>, Vec<Sampled>) {
    let r_all = roots.len();
    let pick: Vec<usize> = (0..3).flat_map(|g| (g * n + part.start)..(g * n + part.end)).collect();
    let nodes = pick.iter().map(|&i| roots[i]).collect();
    let t = pick.iter().map(|&i| root_t[i]).collect();
    let layers = layers
        .iter()
        .map(|l| {
            let per_root = l.nbr.len().checked_div(r_all).unwrap_or(0);
            let mut s = Sampled { k: l.k, ..Sampled::default() };
            for &i in &pick {
                let span = i * per_root..(i + 1) * per_root;
                s.nbr.extend_from_slice(&l.nbr[span.clone()]);
                s.eid.extend_from_slice(&l.eid[span.clone()]);
                s.t.extend_from_slice(&l.t[span.clone()]);
                s.mask.extend_from_slice(&l.mask[span]);
            }
            s
        })
        .collect();
    (nodes, t, layers)
}

/// Bytes sent and received so far by all TCP sockets of this process (the kernel's
/// `tcpi_bytes_sent` / `tcpi_bytes_received`, payload without headers), found
/// through `/proc/self/fd`. `None` where unavailable.
pub fn socket_bytes() -> Option<(u64, u64)> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    let (mut sent, mut recv) = (0u64, 0u64);
    for e in dir.flatten() {
        let Ok(link) = std::fs::read_link(e.path()) else { continue };
        if !link.to_string_lossy().starts_with("socket:") {
            continue;
        }
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        // SAFETY: TCP_INFO on a descriptor of this process; a non-TCP socket fails
        // the call and is skipped. `info` is plain data the kernel fills.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        if rc == 0 && len as usize >= std::mem::size_of::<libc::tcp_info>() {
            sent += info.tcpi_bytes_sent;
            recv += info.tcpi_bytes_received;
        }
    }
    Some((sent, recv))
}

/// One training step as one rank saw it (a line of the per-rank log).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub epoch: usize,
    /// Batch index in the epoch.
    pub batch: usize,
    /// The global batch (event ids).
    pub events: [usize; 2],
    /// The positives this rank scored (event ids; with one negative each).
    pub scored: [usize; 2],
    /// Events absorbed into node memory after the step (the whole batch; 0 without memory).
    pub absorbed: usize,
    /// The global batch's loss (after the all-reduce; identical on every rank).
    pub loss: f64,
    /// Batch arrival to memory absorbed, seconds.
    pub step_s: f64,
    /// The gradient all-reduce alone, seconds (0 in one process).
    pub allreduce_s: f64,
    /// Size of the all-reduced buffer.
    pub payload_bytes: usize,
    /// TCP bytes this process sent / received during the step (all its sockets).
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// What the all-reduce of one step cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exchange {
    pub seconds: f64,
    pub payload_bytes: usize,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// Names a planned failure of one rank, for the tests (and drills) of a dead rank:
/// `RANK:STEP:KILL` or `RANK:STEP:STOP`. Rank `RANK` sends itself SIGKILL
/// (dies) or SIGSTOP (stalls, holding its sockets open) just before its
/// `STEP`-th gradient exchange of this process (0-based), so the others are in
/// or about to enter that all-reduce.
pub const FAULT_VAR: &str = "LINKCAST_DIST_FAULT";

/// A planned failure ([`FAULT_VAR`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub rank: usize,
    pub step: usize,
    /// `libc::SIGKILL` or `libc::SIGSTOP`.
    pub signal: i32,
}

impl Fault {
    pub fn parse(v: &str) -> Result<Fault, DistError> {
        let bad = || DistError::Env(format!("{FAULT_VAR}={v:?}: expected RANK:STEP:KILL or RANK:STEP:STOP"));
        let mut it = v.trim().split(':');
        let (Some(r), Some(s), Some(sig), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        let signal = match sig {
            "KILL" => libc::SIGKILL,
            "STOP" => libc::SIGSTOP,
            _ => return Err(bad()),
        };
        Ok(Fault { rank: r.parse().map_err(|_| bad())?, step: s.parse().map_err(|_| bad())?, signal })
    }

    fn from_env() -> Result<Option<Fault>, DistError> {
        match std::env::var(FAULT_VAR) {
            Ok(v) if !v.trim().is_empty() => Fault::parse(&v).map(Some),
            _ => Ok(None),
        }
    }
}

/// This process as one data-parallel replica.
pub struct Replica {
    pub group: ProcessGroup,
    pub env: DistEnv,
    fault: Option<Fault>,
    exchanges: std::sync::atomic::AtomicUsize,
}

impl Replica {
    /// A replica of `group`, with the planned failure of [`FAULT_VAR`] if one is set.
    pub fn new(group: ProcessGroup, env: DistEnv) -> Result<Replica, DistError> {
        let fault = Fault::from_env()?;
        if let Some(f) = fault
            && f.rank == group.rank
        {
            tracing::warn!(
                "{FAULT_VAR}: this rank will stop itself (signal {}) at exchange {}",
                f.signal,
                f.step
            );
        }
        Ok(Replica { group, env, fault, exchanges: Default::default() })
    }

    pub fn rank(&self) -> usize {
        self.group.rank
    }

    pub fn world(&self) -> usize {
        self.group.world
    }

    /// Sum gradients, reached-flags and losses over all ranks in ONE all-reduce.
    /// `grads[i]` is parameter `i`'s gradient on this rank (undefined when this
    /// rank's loss did not reach it, or when this rank had no positives), `like[i]`
    /// the parameter (shape, kind, device). Returns the summed gradients (undefined
    /// where no rank reached the parameter) and the summed loss.
    pub fn exchange(
        &self,
        grads: &[Tensor],
        like: &[Tensor],
        loss: Option<&Tensor>,
    ) -> Result<(Vec<Tensor>, f64, Exchange), DistError> {
        let dev = like.first().map_or(tch::Device::Cpu, |p| p.device());
        let kind = like.first().map_or(Kind::Float, |p| p.kind());
        let mut parts: Vec<Tensor> = Vec::with_capacity(like.len() + 2);
        let mut flags = Vec::with_capacity(like.len());
        for (i, p) in like.iter().enumerate() {
            match grads.get(i).filter(|g| g.defined()) {
                Some(g) => {
                    parts.push(g.detach().to_kind(kind).reshape([-1]));
                    flags.push(1.0f32);
                }
                None => {
                    parts.push(Tensor::zeros([p.numel() as i64], (kind, dev)));
                    flags.push(0.0);
                }
            }
        }
        parts.push(Tensor::from_slice(&flags).to_kind(kind).to_device(dev));
        let l = match loss {
            Some(l) => l.detach().to_kind(kind).reshape([1]),
            None => Tensor::zeros([1], (kind, dev)),
        };
        parts.push(l);
        let mut buf = Tensor::cat(&parts, 0).contiguous();
        drop(parts);
        let payload_bytes = buf.numel() * kind.elt_size_in_bytes();
        let step = self.exchanges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(f) = self.fault.filter(|f| f.rank == self.rank() && f.step == step) {
            // SAFETY: raise only sends a signal to this process.
            unsafe { libc::raise(f.signal) };
        }
        let before = socket_bytes();
        let start = Instant::now();
        self.group.all_reduce_sum(&mut buf)?;
        let seconds = start.elapsed().as_secs_f64();
        let after = socket_bytes();
        let (sent_bytes, received_bytes) = match (before, after) {
            (Some(a), Some(b)) => (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1)),
            _ => (0, 0),
        };
        let total: usize = like.iter().map(|p| p.numel()).sum();
        let np = like.len() as i64;
        let flags = Vec::<f64>::try_from(buf.narrow(0, total as i64, np).to_kind(Kind::Double))?;
        let loss = buf.narrow(0, total as i64 + np, 1).to_kind(Kind::Double).double_value(&[0]);
        let mut out = Vec::with_capacity(like.len());
        let mut off = 0i64;
        for (i, p) in like.iter().enumerate() {
            let n = p.numel() as i64;
            if flags[i] > 0.5 {
                out.push(buf.narrow(0, off, n).view(p.size().as_slice()).to_kind(p.kind()));
            } else {
                out.push(Tensor::new());
            }
            off += n;
        }
        Ok((out, loss, Exchange { seconds, payload_bytes, sent_bytes, received_bytes }))
    }
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Replica({:?})", self.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_batch_once() {
        for n in [0usize, 1, 2, 5, 200] {
            for world in 1..5 {
                let mut seen = Vec::new();
                for r in 0..world {
                    seen.extend(rank_slice(n, r, world));
                }
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n {n} world {world}");
            }
        }
    }

    #[test]
    fn slice_roots_takes_whole_root_blocks() {
        // n = 3 positives -> 9 roots; layer 0 k = 2 (2 slots per root), layer 1 k = 2 (4 per root).
        let n = 3;
        let roots: Vec<NodeId> = (0..9).collect();
        let t: Vec<Time> = (0..9).map(|i| i as f64).collect();
        let mk = |per: usize, k: usize| Sampled {
            k,
            nbr: (0..9 * per as u32).collect(),
            eid: (0..9 * per as u32).collect(),
            t: (0..9 * per).map(|i| i as f64).collect(),
            mask: vec![1; 9 * per],
        };
        let layers = vec![mk(2, 2), mk(4, 2)];
        let (nodes, tt, ls) = slice_roots(&roots, &t, &layers, n, 1..2);
        assert_eq!(nodes, vec![1, 4, 7]);
        assert_eq!(tt, vec![1.0, 4.0, 7.0]);
        assert_eq!(ls[0].nbr, vec![2, 3, 8, 9, 14, 15]);
        assert_eq!(ls[1].nbr, vec![4, 5, 6, 7, 16, 17, 18, 19, 28, 29, 30, 31]);
        assert_eq!(ls[1].roots(), 6);
    }

    #[test]
    fn env_follows_torchrun() {
        let vars = |v: &'static [(&'static str, &'static str)]| {
            move |k: &str| v.iter().find(|(a, _)| *a == k).map(|(_, b)| b.to_string())
        };
        let e = DistEnv::from_vars(vars(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29500"),
        ]))
        .unwrap();
        assert_eq!((e.rank, e.world, e.local_rank, e.master_port), (1, 2, 1, 29500));
        assert_eq!(e.listen, Listen::Host("127.0.0.1".into()));
        let e = DistEnv::from_vars(vars(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "4"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29500"),
            ("GLOO_SOCKET_IFNAME", "eth1"),
        ]))
        .unwrap();
        assert_eq!(e.listen, Listen::Interface("eth1".into()));
        assert_eq!(e.store, StoreRole::Rank0);
        let e = DistEnv::from_vars(vars(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "localhost"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "1"),
        ]))
        .unwrap();
        assert_eq!(e.store, StoreRole::Launcher { prefix: "/worker/attempt_1".into() });
        assert_eq!(e.listen, Listen::Host("127.0.0.1".into()));
        assert!(DistEnv::from_vars(vars(&[("RANK", "2"), ("WORLD_SIZE", "2")])).is_err());
        assert!(DistEnv::from_vars(vars(&[("RANK", "0"), ("WORLD_SIZE", "2")])).is_err());
    }

    /// Two ranks in threads of this process, over loopback: sums, flags and losses.
    #[test]
    fn two_ranks_exchange_over_loopback() {
        let (server, join) = pair_over_loopback(Duration::from_secs(60));
        let run = move |rank: usize| {
            let rep = join(rank);
            let like = vec![
                Tensor::zeros([2, 2], (Kind::Float, tch::Device::Cpu)),
                Tensor::zeros([3], (Kind::Float, tch::Device::Cpu)),
            ];
            // Rank 0 reaches only the first parameter, rank 1 both.
            let g0 = Tensor::full([2, 2], (rank + 1) as f64, (Kind::Float, tch::Device::Cpu));
            let g1 =
                if rank == 1 { Tensor::ones([3], (Kind::Float, tch::Device::Cpu)) } else { Tensor::new() };
            let loss = Tensor::from(0.25f32 * (rank + 1) as f32);
            let (out, l, x) = rep.exchange(&[g0, g1], &like, Some(&loss)).unwrap();
            assert_eq!(Vec::<f32>::try_from(out[0].reshape([-1])).unwrap(), vec![3.0; 4]);
            assert_eq!(Vec::<f32>::try_from(out[1].shallow_clone()).unwrap(), vec![1.0; 3]);
            assert!((l - 0.75).abs() < 1e-7);
            assert_eq!(x.payload_bytes, (4 + 3 + 2 + 1) * 4);
            rep.group.barrier().unwrap();
        };
        let r1 = run.clone();
        let h = std::thread::spawn(move || r1(1));
        run(0);
        h.join().unwrap();
        drop(server);
    }

    /// A launcher-served store and a function that joins rank `rank` (of 2) to it.
    fn pair_over_loopback(op_timeout: Duration) -> (StoreServer, impl Fn(usize) -> Replica + Clone) {
        let server = StoreServer::serve("127.0.0.1", Duration::from_secs(60)).unwrap();
        let port = server.port;
        let join = move |rank: usize| {
            let env = DistEnv::from_vars(|k| match k {
                "RANK" => Some(rank.to_string()),
                "WORLD_SIZE" => Some("2".into()),
                "MASTER_ADDR" => Some("127.0.0.1".into()),
                "MASTER_PORT" => Some(port.to_string()),
                LAUNCHER_STORE_VAR => Some("1".into()),
                _ => None,
            })
            .unwrap();
            let group = env.join(Duration::from_secs(60), op_timeout).unwrap();
            Replica::new(group, env).unwrap()
        };
        (server, join)
    }

    /// A peer that leaves (its group dropped: sockets closed, as when a process
    /// dies) fails the other rank's all-reduce at once, naming the cause; one that
    /// is alive but never arrives fails it after the op timeout, not the join's.
    #[test]
    fn a_lost_peer_fails_the_collective_with_its_cause() {
        let (_server, join) = pair_over_loopback(Duration::from_secs(2));
        let j = join.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let g = j(1).group;
            // Stay silent until told, then vanish.
            rx.recv().unwrap();
            drop(g);
        });
        let g = join(0).group;
        let mut t = Tensor::ones([4], (Kind::Float, tch::Device::Cpu));
        let started = Instant::now();
        let err = g.all_reduce_sum(&mut t).unwrap_err().to_string();
        let waited = started.elapsed();
        assert!(err.contains("no answer from another rank within 2 s"), "{err}");
        assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(20), "{waited:?}");
        tx.send(()).unwrap();
        h.join().unwrap();
        drop(g);

        let (_server, join) = pair_over_loopback(Duration::from_secs(120));
        let j = join.clone();
        let h = std::thread::spawn(move || drop(j(1).group));
        let g = join(0).group;
        h.join().unwrap();
        let started = Instant::now();
        let err = g.all_reduce_sum(&mut t).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}: {err}", started.elapsed());
        assert!(err.contains("rank 0 of 2") && err.contains("closed its connection"), "{err}");
    }

    #[test]
    fn fault_plans_parse() {
        assert_eq!(Fault::parse("1:6:KILL").unwrap(), Fault { rank: 1, step: 6, signal: libc::SIGKILL });
        assert_eq!(Fault::parse("0:0:STOP").unwrap().signal, libc::SIGSTOP);
        for bad in ["", "1:6", "1:6:TERM", "x:6:KILL", "1:6:KILL:9"] {
            assert!(Fault::parse(bad).unwrap_err().to_string().contains(FAULT_VAR), "{bad}");
        }
    }
}
