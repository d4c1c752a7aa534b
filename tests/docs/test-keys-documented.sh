#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every X-CgPolicy key the parser accepts is documented in systemd.cgpolicy(5): it is the
# term of an entry ("*KEY=*" at the start of a line) of the page's OPTIONS section, and no
# key is documented there that the parser refuses.
# The list comes from the parser (docs-keys, see docs-keys.c), fed with every X-CgPolicy…
# word in libcgpolicy's sources as candidates.
# Usage: test-keys-documented.sh DOCS-KEYS LIBCGPOLICY-DIR systemd.cgpolicy.5.scd  (TAP)
set -u
docs_keys=$1 libdir=$2 page=$3

candidates=$(grep -ohE 'X-CgPolicy[A-Za-z0-9]+' "$libdir"/*.c "$libdir"/*.h | sort -u)
# shellcheck disable=SC2086
if ! keys=$("$docs_keys" $candidates); then
        echo "1..1"
        echo "not ok 1 - docs-keys could not list the parser's keys"
        exit 1
fi

# The OPTIONS section of the page: from "# OPTIONS" to the next top-level heading.
options=$(sed -n '/^# OPTIONS$/,/^# [A-Z]/p' "$page")
# Terms of entries: lines of the section that begin with "*" (scdoc bold), split at ", ".
documented=$(printf '%s\n' "$options" | grep -E '^\*X-CgPolicy' | grep -oE '\*X-CgPolicy[A-Za-z0-9]+=\*' |
             sed 's/^\*//; s/=\*$//' | sort -u)

nkeys=$(printf '%s\n' "$keys" | wc -l)
ndoc=$(printf '%s\n' "$documented" | grep -c .)
echo "1..$((nkeys + ndoc))"
i=0 failed=0
for k in $keys; do
        i=$((i + 1))
        if printf '%s\n' "$documented" | grep -qx "$k"; then
                echo "ok $i - $k is documented in systemd.cgpolicy(5)"
        else
                echo "not ok $i - $k is accepted by the parser but not documented in systemd.cgpolicy(5) OPTIONS"
                failed=$((failed + 1))
        fi
done
for k in $documented; do
        i=$((i + 1))
        if printf '%s\n' "$keys" | grep -qx "$k"; then
                echo "ok $i - documented $k is accepted by the parser"
        else
                echo "not ok $i - systemd.cgpolicy(5) documents $k, which the parser refuses"
                failed=$((failed + 1))
        fi
done
[ "$failed" -eq 0 ]
