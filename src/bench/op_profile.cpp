// Per-operator wall time of libtorch calls, for `linkcast bench train --op-profile`.
//
// A global RecordFunction callback (the hook PyTorch's own profiler uses) times
// every operator and autograd node on the thread that calls it. Operators nest
// (`linear` calls `addmm`, an autograd node calls its backward operators), so each
// frame keeps the time of its children and reports self time = total - children.
// Kernels that libtorch runs on its intra-op pool are inside the calling
// operator's frame. On a GPU, an operator's time is the host time to launch it.
//
// C interface (called from src/bench/op_profile.rs):
//   lc_opprof_start(with_shapes)  register the callback, clear the table
//   lc_opprof_stop()              remove it
//   lc_opprof_dump(buf, cap)      "key\tcalls\tself_ns\ttotal_ns\n" lines; returns
//                                 the length needed (call again with a larger buffer)
#include <ATen/record_function.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Frame {
  Clock::time_point start;
  int64_t child_ns;
  std::string key;
};

struct Stat {
  uint64_t calls = 0;
  int64_t self_ns = 0;
  int64_t total_ns = 0;
};

std::mutex table_mu;
std::unordered_map<std::string, Stat> table;
// Read by every thread that runs an operator; set only while no callback is added.
std::atomic<bool> with_shapes{false};
at::CallbackHandle handle = 0;
thread_local std::vector<Frame> frames;

std::string key_of(const at::RecordFunction& fn) {
  std::string key = fn.name();
  if (!with_shapes.load(std::memory_order_relaxed)) return key;
  // Some dispatch paths do not record inputs (libtorch asserts when asked); those
  // operators are keyed by name only.
  c10::ArrayRef<const c10::IValue> inputs;
  try {
    inputs = fn.inputs();
  } catch (...) {
    return key;
  }
  key += " ";
  for (const auto& v : inputs) {
    if (v.isTensor()) {
      const auto& t = v.toTensor();
      if (!t.defined()) {
        key += "[-]";
        continue;
      }
      key += "[";
      auto sizes = t.sizes();
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (i) key += ",";
        key += std::to_string(sizes[i]);
      }
      key += "]";
    }
  }
  return key;
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  frames.push_back(Frame{Clock::now(), 0, key_of(fn)});
  return nullptr;
}

void on_end(const at::RecordFunction&, at::ObserverContext*) {
  if (frames.empty()) return;  // started before the callback was added
  Frame f = std::move(frames.back());
  frames.pop_back();
  int64_t total = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - f.start).count();
  if (!frames.empty()) frames.back().child_ns += total;
  std::lock_guard<std::mutex> lock(table_mu);
  Stat& s = table[f.key];
  s.calls += 1;
  s.self_ns += total - f.child_ns;
  s.total_ns += total;
}

}  // namespace

extern "C" {

void lc_opprof_start(int shapes) {
  {
    std::lock_guard<std::mutex> lock(table_mu);
    table.clear();
  }
  if (handle != 0) return;  // already running: keeps its shapes setting
  with_shapes.store(shapes != 0);
  handle = at::addGlobalCallback(
      at::RecordFunctionCallback(on_start, on_end)
          .needsInputs(shapes != 0)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

void lc_opprof_stop() {
  if (handle != 0) {
    at::removeCallback(handle);
    handle = 0;
  }
}

size_t lc_opprof_dump(char* buf, size_t cap) {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(table_mu);
    for (const auto& [key, s] : table) {
      out += key;
      out += "\t" + std::to_string(s.calls) + "\t" + std::to_string(s.self_ns) + "\t" +
             std::to_string(s.total_ns) + "\n";
    }
  }
  if (out.size() <= cap && buf != nullptr) std::memcpy(buf, out.data(), out.size());
  return out.size();
}

}  // extern "C"
