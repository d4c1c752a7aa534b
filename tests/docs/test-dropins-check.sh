#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every ready drop-in in dropins/ passes "cgpolicy check", both under its shipped name and
# installed where its comments say it goes (UNIT.d/cgpolicy.conf, where check takes the unit
# type from the directory name). As a control, the same drop-in with one rule broken must
# fail the check with a FILE:LINE: message, so a check that accepts anything cannot pass.
# Each header says whether the daemon runs sealed ("# Sealed:" or "# Not sealed:", see
# systemd.cgpolicy(5), SEALING), and "cgpolicy check" must say the same.
# Usage: test-dropins-check.sh CGPOLICY DROPIN...   (TAP)
set -u
cgpolicy=$1
shift

echo "1..$(( $# * 4 ))"
if [ ! -x "$cgpolicy" ]; then
        for ((i = 1; i <= $# * 4; i++)); do echo "not ok $i - $cgpolicy is not built"; done
        exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
result() {      # result OK? DESCRIPTION [OUTPUT]
        n=$((n + 1))
        if [ "$1" = 0 ]; then
                echo "ok $n - $2"
        else
                echo "not ok $n - $2"
                printf '%s\n' "${3-}" | sed 's/^/# /'
                failed=$((failed + 1))
        fi
}

for f in "$@"; do
        name=$(basename "$f")
        unit=${name%.conf}

        out=$("$cgpolicy" check "$f" 2>&1)
        result $? "cgpolicy check $name" "$out"

        if grep -q '^# Sealed:' "$f" && ! grep -q '^# Not sealed:' "$f"; then
                printf '%s\n' "$out" | grep -q "^$f: sealed: "
                result $? "$name: its header and cgpolicy check say it is sealed" "$out"
        elif grep -q '^# Not sealed:' "$f" && ! grep -q '^# Sealed:' "$f"; then
                printf '%s\n' "$out" | grep -q "^$f: not sealed "
                result $? "$name: its header and cgpolicy check say it is not sealed" "$out"
        else
                result 1 "$name: its header says '# Sealed:' or '# Not sealed:' (one of them)"
        fi

        mkdir -p "$tmp/$unit.d"
        cp "$f" "$tmp/$unit.d/cgpolicy.conf"
        out=$("$cgpolicy" check "$tmp/$unit.d/cgpolicy.conf" 2>&1)
        result $? "cgpolicy check $unit.d/cgpolicy.conf" "$out"

        # Control: break the first X-CgPolicyBindAllow/ConnectAllow rule (port 70000).
        line=$(grep -n -m1 -E '^X-CgPolicy(Bind|Connect)(Allow|Deny)=' "$f" | cut -d: -f1)
        sed "${line}s/\$/ tcp:70000/" "$f" > "$tmp/$name"
        out=$("$cgpolicy" check "$tmp/$name" 2>&1)
        rc=$?
        if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "^$tmp/$name:$line: X-CgPolicy.*70000"; then
                result 0 "cgpolicy check refuses $name with a bad rule on line $line"
        else
                result 1 "cgpolicy check refuses $name with a bad rule on line $line" "exit $rc: $out"
        fi
done
[ "$failed" -eq 0 ]
