// Declaration-only stand-in (see ../README.md): ProcessGroupGloo.hpp holds
// std::shared_ptr<gloo::Context> and calls setTimeout in an inline method the shim
// never instantiates; the real class lives in libtorch_cpu.
#pragma once
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
