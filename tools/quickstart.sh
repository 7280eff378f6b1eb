#!/bin/sh
# Quick start on Debian or Ubuntu: install what is missing (as root; otherwise print the exact
# command to run), build, and run the demo on the default device (a GPU when one is registered,
# PoCL on the CPU otherwise). Run from the top of the source tree.
set -e
PACKAGES="build-essential autoconf automake libtool pkg-config ocl-icd-opencl-dev opencl-c-headers check pocl-opencl-icd clinfo"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    else
        echo "Missing packages:$missing"
        echo "Run:  sudo apt-get update && sudo apt-get install -y$missing"
        echo "then run this script again."
        exit 1
    fi
fi

[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure --enable-werror
make -j"$(nproc 2>/dev/null || echo 2)"
./tools/mpscl-demo
