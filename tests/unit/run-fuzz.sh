#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the policy-parser fuzz target for SECONDS seconds, starting from the seed corpus.
#   run-fuzz.sh BUILD_DIR SECONDS
# BUILD_DIR must be configured with CC=clang -Dfuzz=true (and sanitizers, e.g.
# -Db_sanitize=address,undefined -Db_lundef=false). Exits non-zero on any crash.
set -eu

build=$1 seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
target=$build/tests/unit/fuzz-policy

if [ ! -x "$target" ]; then
        echo "$target not found: configure with CC=clang meson setup -Dfuzz=true" >&2
        exit 1
fi

work=$(mktemp -d /tmp/fuzz-policy.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$here"/fuzz-corpus/* "$work/corpus/"

# New inputs go to a scratch corpus; the seed corpus in the tree stays as committed.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
ASAN_OPTIONS=detect_leaks=1 \
        "$target" -max_total_time="$seconds" -timeout=10 -max_len=4096 \
                  -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" 2>&1 | tail -n 25
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
        for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
                [ -f "$a" ] && { echo "artifact $a:"; od -c "$a" | head -20; }
        done
fi
exit "$rc"
