#!/bin/sh
# tests/consumers.sh SRCDIR PREFIX LIBDIR PKGCONFIGDIR WORKDIR: programs outside the tree built
# against an installed mpscl and run ('make installcheck' calls it; CI through
# .ci/install-check). Environment: CC, PKG_CONFIG, CONSUMER_CMAKE (auto: the CMake consumer
# when cmake is installed; yes: required; no: skipped).
#   1. tests/consumer.c, mpscl calls only:     cc ... $(pkg-config --cflags --libs mpscl)
#   2. tests/consumer_cl.c, OpenCL calls too:  the same command (OpenCL comes through Requires)
#   3. tests/consumer_cl.c through CMake:      find_package(mpscl CONFIG), mpscl::mpscl
# Each program runs: a consumer that links but cannot load or run fails too. WORKDIR is
# removed afterwards.
set -eu
srcdir=$1 prefix=$2 libdir=$3 pkgconfigdir=$4 work=$5
: "${CC:=cc}" "${PKG_CONFIG:=pkg-config}" "${CONSUMER_CMAKE:=auto}"

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
# Kernel caches stay in the work directory, never in $HOME.
MPSCL_CACHE_DIR=$work/cache/mpscl POCL_CACHE_DIR=$work/cache/pocl
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
DYLD_LIBRARY_PATH=$libdir${DYLD_LIBRARY_PATH:+:$DYLD_LIBRARY_PATH}
PKG_CONFIG_PATH=$pkgconfigdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export MPSCL_CACHE_DIR POCL_CACHE_DIR LD_LIBRARY_PATH DYLD_LIBRARY_PATH PKG_CONFIG_PATH

flags=$($PKG_CONFIG --cflags --libs mpscl)
echo "consumers: pkg-config --cflags --libs mpscl: $flags"
for prog in consumer consumer_cl; do
    echo "consumers: $CC -std=c11 -o $prog $prog.c \$(pkg-config --cflags --libs mpscl)"
    $CC -std=c11 -o "$work/$prog" "$srcdir/tests/$prog.c" $flags
    "$work/$prog"
done

cmake_bin=$(command -v cmake || true)
case $CONSUMER_CMAKE in
no) cmake_bin= ;;
yes) [ -n "$cmake_bin" ] || { echo "consumers: cmake is required and not installed" >&2; exit 1; } ;;
esac
if [ -n "$cmake_bin" ]; then
    version=$($PKG_CONFIG --modversion mpscl)
    echo "consumers: cmake, find_package(mpscl ${version%.*} CONFIG REQUIRED), mpscl::mpscl"
    "$cmake_bin" -S "$srcdir/tests/cmake" -B "$work/cmake" -DCMAKE_C_COMPILER="$CC" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCONSUMER_SOURCE="$(cd "$srcdir" && pwd)/tests/consumer_cl.c" \
        -DMPSCL_WANT_VERSION="${version%.*}" >"$work/cmake.log" 2>&1 ||
        { cat "$work/cmake.log" >&2; exit 1; }
    "$cmake_bin" --build "$work/cmake" >>"$work/cmake.log" 2>&1 ||
        { cat "$work/cmake.log" >&2; exit 1; }
    "$work/cmake/consumer_cl"
else
    echo "consumers: cmake not installed: CMake consumer skipped"
fi
rm -rf "$work"
echo "consumers: all built and ran against $prefix"
