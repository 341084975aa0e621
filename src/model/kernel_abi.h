// The C interface shared by linkcast's C++ kernels (slot_attn.cpp, gru_gates.cpp,
// time_enc.cpp): an entry point returns 0, or -1 with a message in `err` (at most
// `cap` bytes, NUL-terminated); no C++ exception crosses into Rust.
#pragma once

#include <c10/util/Exception.h>

#include <cstring>
#include <exception>

namespace linkcast {

inline void fail(const char* what, char* err, size_t cap) {
  if (cap == 0) return;
  std::strncpy(err, what, cap - 1);
  err[cap - 1] = '\0';
}

// Run `body`, turning any exception into -1 and its message.
template <typename F>
int guarded(char* err, size_t cap, F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& ex) {
    fail(ex.what_without_backtrace(), err, cap);
    return -1;
  } catch (const std::exception& ex) {
    fail(ex.what(), err, cap);
    return -1;
  }
}

}  // namespace linkcast
