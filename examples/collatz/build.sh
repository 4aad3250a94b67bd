#!/bin/sh
# Builds main.wasm from main.c with Debian's clang and wasi-libc (bookworm: clang 14):
#   apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32
# The build is reproducible: the same compiler gives the same bytes (no debug information,
# names stripped), and test/examples checks the committed main.wasm against it when clang is there.
set -eu
cd "$(dirname "$0")"
clang --target=wasm32-wasi -O2 -Wl,--strip-all -o "${1:-main.wasm}" main.c
