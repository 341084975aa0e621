// A C interface to PyTorch's c10d (the runtime behind torch.distributed and
// torchrun), compiled by build.rs against the torch wheel's headers and linked to
// its libtorch_cpu, which already contains the Gloo backend. Rust calls it through
// src/dist/c10d.rs; tensors cross as tch's `C_tensor`, which is an `at::Tensor*`.
//
// Rendezvous: a c10d::TCPStore served by rank 0 at MASTER_ADDR:MASTER_PORT (the
// torchrun convention); the Gloo backend then connects every pair of ranks over
// TCP. Every function catches C++ exceptions and returns them as a message that
// the caller frees with lc_dist_free_str.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) {
    std::memcpy(p, s.c_str(), s.size() + 1);
  }
  return p;
}

template <typename F>
int guarded(char** err, F f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    *err = dup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = dup(e.what());
  } catch (...) {
    *err = dup("unknown C++ exception");
  }
  return 1;
}

}  // namespace

extern "C" {

// Join the group of `world` processes as `rank`. `serve`: this process serves the
// TCPStore (rank 0, unless a launcher such as torchrun's agent already serves it);
// `prefix`, when not empty, namespaces the keys (torchrun: one per restart). `iface` (a network interface name)
// or else `host` (an address or hostname of this machine) selects where Gloo
// listens; both empty: c10d's default device (GLOO_SOCKET_IFNAME, or the address
// the hostname resolves to). `timeout_ms` bounds the rendezvous and the connection
// of every pair; `op_timeout_ms` then bounds each collective, so a rank that died
// or stalls is reported within it instead of within the (long) join timeout.
// Returns null and sets *err on failure.
void* lc_dist_new(const char* master_addr, int port, int rank, int world, int serve,
                  const char* prefix, const char* iface, const char* host, int64_t timeout_ms,
                  int64_t op_timeout_ms, char** err) {
  Group* g = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = serve != 0;
    so.numWorkers = world;
    // Every rank counts itself in (a client's wait only adds to the count); the
    // server then waits until all `world` have. Clients that skip it leave a
    // rank-0-served store waiting for ever (as a hand-made launch once did).
    so.waitWorkers = true;
    so.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), so);
    if (prefix != nullptr && prefix[0] != '\0') {
      store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), store);
    }
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    if (iface != nullptr && iface[0] != '\0') {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    } else if (host != nullptr && host[0] != '\0') {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    opts->threads = 1;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    pg->setTimeout(std::chrono::milliseconds(op_timeout_ms));
    g = new Group{store, pg};
  });
  return g;
}

// In-place sum over all ranks of a dense contiguous tensor (CPU, or CUDA staged
// through the host by Gloo). Every rank ends with the same values. `timeout_ms`
// <= 0: the group's collective timeout.
int lc_dist_allreduce_sum(void* h, void* tensor, int64_t timeout_ms, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(h);
    std::vector<at::Tensor> ts{*static_cast<at::Tensor*>(tensor)};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    if (timeout_ms > 0) {
      o.timeout = std::chrono::milliseconds(timeout_ms);
    }
    g->pg->allreduce(ts, o)->wait();
  });
}

// In-place broadcast of `root`'s tensor to every rank (`timeout_ms` as above).
int lc_dist_broadcast(void* h, void* tensor, int root, int64_t timeout_ms, char** err) {
  return guarded(err, [&] {
    auto* g = static_cast<Group*>(h);
    std::vector<at::Tensor> ts{*static_cast<at::Tensor*>(tensor)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    if (timeout_ms > 0) {
      o.timeout = std::chrono::milliseconds(timeout_ms);
    }
    g->pg->broadcast(ts, o)->wait();
  });
}

int lc_dist_barrier(void* h, char** err) {
  return guarded(err, [&] { static_cast<Group*>(h)->pg->barrier()->wait(); });
}

void lc_dist_free(void* h) {
  char* err = nullptr;
  guarded(&err, [&] { delete static_cast<Group*>(h); });
  std::free(err);
}

void lc_dist_free_str(char* s) { std::free(s); }

// Serve a rendezvous TCPStore on `host` at a free port chosen by the kernel (no
// race between choosing a port and binding it), written to *port; the ranks then
// join as clients. This is what torchrun's agent does for its workers.
void* lc_store_serve(const char* host, int64_t timeout_ms, int* port, char** err) {
  c10d::TCPStore* out = nullptr;
  guarded(err, [&] {
    c10d::TCPStoreOptions so;
    so.port = 0;
    so.isServer = true;
    so.waitWorkers = false;
    so.timeout = std::chrono::milliseconds(timeout_ms);
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
    *port = store->getPort();
    out = store.release();
  });
  return out;
}

void lc_store_free(void* h) {
  char* err = nullptr;
  guarded(&err, [&] {
    c10::intrusive_ptr<c10d::TCPStore>::reclaim(static_cast<c10d::TCPStore*>(h));
  });
  std::free(err);
}

}  // extern "C"
