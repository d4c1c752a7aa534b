#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit trees larger than any fixed-size table would hold: every file is read, and what each
# unit's files say, and only that, is in the unit's generated drop-in. A fail-closed tool
# must not drop input silently, nor hang.
#
#   test-many-files.sh GENERATOR CGPOLICY_BINARY_PATH BPFFS_DIR
set -u

generator=$1 binary=$2 bpffs=$3

tmp=$(mktemp -d /tmp/test-many-files.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

run() {         # run NAME: the generator on $tmp/NAME/units into $tmp/NAME/out
        mkdir -p "$tmp/$1/out"
        env -u SYSTEMD_SCOPE SYSTEMD_UNIT_PATH="$tmp/$1/units" timeout 60 \
                "$generator" "$tmp/$1/out" "$tmp/$1/out" "$tmp/$1/out" 2> "$tmp/$1/log"
        ok $? "$1: the generator exits 0 (within 60 s)"
        sed 's/^/# log: /' "$tmp/$1/log"
        [ ! -s "$tmp/$1/log" ]
        ok $? "$1: nothing logged"
}

# 300 services with 6 drop-ins each and a type-wide drop-in: 2,101 files. Each service's
# last drop-in allows a port of its own; the type-wide one denies the rest.
units=$tmp/many-units/units
mkdir -p "$units/service.d"
printf '[Service]\nX-CgPolicyBindDeny=any\n' > "$units/service.d/50-all.conf"
for i in $(seq 1 300); do
        printf '[Service]\nExecStart=/bin/true\n' > "$units/s$i.service"
        mkdir -p "$units/s$i.service.d"
        for j in 1 2 3 4 5; do
                printf '[Service]\nEnvironment=S%s_%s=1\n' "$i" "$j" > "$units/s$i.service.d/$j.conf"
        done
        printf '[Service]\nX-CgPolicyBindAllow=tcp:%s\n' "$((1000 + i))" > "$units/s$i.service.d/6.conf"
done
run many-units
bad=0
for i in $(seq 1 300); do
        grep -qxF "ExecStartPre=+$binary apply --unit=%n --bind-allow=tcp:$((1000 + i)) --bind-deny=any" \
                "$tmp/many-units/out/s$i.service.d/zz-cgpolicy.conf" 2>/dev/null || bad=$((bad + 1))
done
[ "$bad" -eq 0 ]
ok $? "many-units: each of the 300 drop-ins has its unit's own port and the type-wide rule ($bad wrong)"

echo "1..$n"
[ "$failed" -eq 0 ]
