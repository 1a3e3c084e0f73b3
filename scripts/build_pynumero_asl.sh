#!/usr/bin/env bash
# Build PyNumero's ASL library (libpynumero_ASL.so) so that Pyomo's `cyipopt` interface
# works with the pip wheel `cyipopt-wheels`.  `pyomo build-extensions` downloads sources
# from the internet and fails offline; here the ASL comes from Debian's libamplsolver-dev
# and PyNumero's C++ sources come from the installed Pyomo package.  Idempotent.
set -u
PY=${1:-python3}
LIBDIR="${PYOMO_CONFIG_DIR:-$HOME/.pyomo}/lib"
TARGET="$LIBDIR/libpynumero_ASL.so"
if [ -f "$TARGET" ] && "$PY" -c "from pyomo.contrib.pynumero.asl import AmplInterface as A; import sys; sys.exit(0 if A.available() else 1)" 2>/dev/null; then
  exit 0
fi
unavailable() { echo "flexspace setup: Ipopt is UNAVAILABLE: $*. Everything else is installed and works; solver='ipopt' will report it as unavailable." >&2; exit 0; }
ASL_INC=/usr/include/ampl-netlib-solvers
ASL_LIB=/usr/lib/x86_64-linux-gnu/libamplsolver.so
if [ ! -f "$ASL_LIB" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q libamplsolver-dev >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libamplsolver-dev >/dev/null 2>&1; }) \
      || unavailable "apt-get install libamplsolver-dev failed"
  else
    unavailable "the ASL library ($ASL_LIB) is missing and apt-get as root is not available to install libamplsolver-dev"
  fi
fi
ASL_LIB=$(ls /usr/lib/*/libamplsolver.so 2>/dev/null | head -1)
[ -n "$ASL_LIB" ] || unavailable "libamplsolver.so not found after install"
command -v cmake >/dev/null || unavailable "cmake is not installed"
command -v c++ >/dev/null || unavailable "no C++ compiler"
SRC=$("$PY" -c "import pyomo.contrib.pynumero as p, os; print(os.path.join(os.path.dirname(p.__file__), 'src'))")
[ -f "$SRC/CMakeLists.txt" ] || unavailable "PyNumero C++ sources not found in the installed Pyomo ($SRC)"
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
( cd "$BUILD" && cmake -S "$SRC" -B . -DBUILD_AMPLASL=OFF -DBUILD_MA27=OFF -DBUILD_MA57=OFF \
      -DASL_INCLUDE_DIR="$ASL_INC" -DASL_LIBRARY="$ASL_LIB" -DCMAKE_BUILD_TYPE=Release >cmake.log 2>&1 \
  && cmake --build . --target pynumero_ASL -j 2 >build.log 2>&1 ) \
  || { tail -20 "$BUILD"/*.log >&2; unavailable "building pynumero_ASL failed (log above)"; }
mkdir -p "$LIBDIR"
cp "$(find "$BUILD" -name 'libpynumero_ASL.so' | head -1)" "$TARGET" || unavailable "build produced no libpynumero_ASL.so"
echo "flexspace setup: built $TARGET"
