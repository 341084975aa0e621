# Sourced by every build script: one fixed environment for cargo, so torch-sys
# is not rebuilt because PATH or LIBTORCH_* differ between invocations.
# Needs the project venv (scripts/setup.sh creates it).
LINKCAST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LINKCAST_ROOT
export PATH="$LINKCAST_ROOT/.venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
unset LIBTORCH LIBTORCH_LIB LIBTORCH_INCLUDE LIBTORCH_BYPASS_VERSION_CHECK
