// Declaration-only stand-in for Gloo's header (see ../README.md): the torch wheel
// ships ProcessGroupGloo.hpp and the compiled Gloo backend, but not Gloo's headers.
#pragma once
