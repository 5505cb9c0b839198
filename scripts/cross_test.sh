#!/usr/bin/env bash
# Cross-compile the C++ core and its unit tests for ARM boards and run the tests under qemu-user.
#
#   scripts/cross_test.sh [aarch64|armhf ...]      (default: both)
#   BENCH_CYCLES=N scripts/cross_test.sh aarch64     (also: fusion_cycle_bench, 256 tracks, N cycles, under qemu)
#   scripts/cross_test.sh --syntax-only armhf        (the cheap check: every core and test source through the
#                                                     cross compiler's front end, -fsyntax-only: the 32-bit
#                                                     type/-Wconversion errors, no code generation, no qemu)
#
# Needs Debian's cross compilers and qemu-user (test-only tools, not needed to install fusion):
#   apt-get install g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user
# Eigen comes from the cmeel-eigen wheel of the Python running this script (pip install cmeel-eigen)
# or FUSION_EIGEN_INCLUDE_DIR. Builds go to build/cross-<arch>; warnings are errors. Emulated run
# times are not board times (see benchmarks/RESULTS.md "Cross builds (issue 11)"). JOBS=1 on a busy
# machine; CMAKE_CXX_COMPILER_LAUNCHER=ccache is passed through (a re-run recompiles nothing that
# did not change). BENCH_CYCLES=N builds the C++ cycle benchmark too (before the tests, so that it
# can be started while they build) and runs it under qemu: build/cross-<arch>/cycle.json.
set -euo pipefail
cd "$(dirname "$0")/.."
syntax_only=0
if [ "${1:-}" = "--syntax-only" ]; then syntax_only=1; shift; fi
arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(aarch64 armhf)
py=${PYTHON:-python3}
eigen=${FUSION_EIGEN_INCLUDE_DIR:-$("$py" -c "
import sys, pathlib
for p in sys.path:
    d = pathlib.Path(p) / 'cmeel.prefix' / 'include' / 'eigen3'
    if (d / 'Eigen' / 'Dense').is_file():
        print(d); break")}
if [ -z "$eigen" ]; then echo "cross_test: Eigen not found: pip install cmeel-eigen or set FUSION_EIGEN_INCLUDE_DIR" >&2; exit 2; fi
jobs=${JOBS:-2}
for arch in "${arches[@]}"; do
  case "$arch" in
    aarch64) triple=aarch64-linux-gnu; qemu=qemu-aarch64 ;;
    armhf) triple=arm-linux-gnueabihf; qemu=qemu-arm ;;
    *) echo "cross_test: unknown arch '$arch' (aarch64 or armhf)" >&2; exit 2 ;;
  esac
  for tool in "$triple-g++" "$qemu"; do
    command -v "$tool" >/dev/null || { echo "cross_test: $tool not found (apt-get install g++-$triple qemu-user)" >&2; exit 2; }
  done
  build=build/cross-$arch
  echo "== $arch: configure ($build)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSION_BUILD_PYTHON=OFF -DFUSION_BUILD_TESTS=ON \
    -DFUSION_WERROR=ON -DFUSION_EIGEN_INCLUDE_DIR="$eigen" ${BENCH_CYCLES:+-DFUSION_BUILD_BENCH=ON} \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/$triple.cmake" ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} >/dev/null
  if [ -n "${BENCH_CYCLES:-}" ]; then
    echo "== $arch: build fusion_cycle_bench"
    ninja -C "$build" -j "$jobs" fusion_cycle_bench
    echo "== $arch: fusion_cycle_bench --tracks 256 --cycles $BENCH_CYCLES under $qemu"
    "$qemu" -L "/usr/$triple" "$build/fusion_cycle_bench" --tracks 256 --cycles "$BENCH_CYCLES" --json "$build/cycle.json"
  fi
  if [ $syntax_only = 1 ]; then
    echo "== $arch: -fsyntax-only over the sources of fusion_cpp_tests (core and tests)"
    start=$(date +%s)
    ninja -C "$build" -t commands fusion_cpp_tests | grep -- ' -c ' \
      | sed 's/^ccache //; s/ -MD -MT [^ ]* -MF [^ ]* -o [^ ]* -c / -fsyntax-only -c /' \
      | (cd "$build" && xargs -P "$jobs" -I{} sh -c '{} || { echo "cross_test: FAILED: {}" >&2; exit 255; }')
    echo "== $arch: front end clean in $(( $(date +%s) - start )) s"
    continue
  fi
  echo "== $arch: build fusion_cpp_tests"
  start=$(date +%s)
  ninja -C "$build" -j "$jobs" fusion_cpp_tests
  echo "== $arch: built in $(( $(date +%s) - start )) s; file: $(file -b "$build/fusion_cpp_tests" | cut -d, -f1-2)"
  echo "== $arch: run under $qemu"
  start=$(date +%s)
  "$qemu" -L "/usr/$triple" "$build/fusion_cpp_tests"
  echo "== $arch: tests passed under $qemu in $(( $(date +%s) - start )) s"
done
