// Declaration-only stand-in (see ../../README.md): devices and buffers are held
// only through smart pointers made and destroyed inside libtorch_cpu.
#pragma once

namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
