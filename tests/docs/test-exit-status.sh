#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The exit statuses cgpolicy(8) documents: 2 for a bad command line, 1 for a failure (here: a
# file with an error for "check", the programs not pinned for "status"), 0 for success. Runs
# unprivileged against a pin directory that does not exist; touches nothing.
# Usage: test-exit-status.sh CGPOLICY   (TAP)
set -u
cgpolicy=$1
export CGPOLICY_BPFFS_DIR=/nonexistent/cgpolicy-test CGPOLICY_RUNTIME_DIR=/nonexistent/cgpolicy-test
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[Service]\nX-CgPolicyConnectAllow=tcp:443\n' >"$tmp/good.service"
printf '[Service]\nX-CgPolicyConectAllow=tcp:443\n' >"$tmp/bad.service"
mkfifo "$tmp/fifo.service"

cases=(
        "2|"
        "2|--bogus"
        "2|frobnicate"
        "2|load extra"
        "2|gc extra"
        "2|apply --unit=a.service --bogus"
        "2|apply --slice=not-a-slice"
        "2|release --bogus"
        "2|status --json --prometheus"
        "2|status --prometheus="
        "2|status a.service b.service"
        "2|denials --bogus"
        "2|check"
        "1|check $tmp/bad.service"
        "1|check $tmp/missing.service"
        "1|check $tmp/fifo.service"
        "1|check /dev/zero"
        "1|status"
        "0|check $tmp/good.service"
        "0|--version"
)
echo "1..${#cases[@]}"
n=0 fail=0
for c in "${cases[@]}"; do
        want=${c%%|*} args=${c#*|}
        n=$((n + 1))
        # shellcheck disable=SC2086
        timeout 20 "$cgpolicy" $args >/dev/null 2>&1
        got=$?
        if [ "$got" = "$want" ]; then
                echo "ok $n - cgpolicy $args: exit $want"
        else
                echo "not ok $n - cgpolicy $args: exit $got, documented $want"
                fail=1
        fi
done
exit $fail
