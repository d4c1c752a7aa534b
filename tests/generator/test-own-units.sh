#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# cgpolicy's own units, as shipped in units/, are never policed: with a type-wide drop-in
# that polices every service, and keys in a drop-in of an instance of cgpolicy-apply@.service,
# the generator writes nothing for any of them and says why for each service; another service
# next to them is policed.
#
#   test-own-units.sh GENERATOR UNITS_SOURCE_DIR
set -u

generator=$1 src=$2

tmp=$(mktemp -d /tmp/test-own-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
units=$tmp/units
mkdir -p "$units/service.d" "$units/cgpolicy-apply@web.slice.service.d" "$tmp/out"

n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

names=()
for f in "$src"/*; do
        b=$(basename "$f")
        [ "$b" = meson.build ] && continue
        names+=("${b%.in}")
        cp "$f" "$units/${b%.in}"
done
printf '[Service]\nX-CgPolicyConnectDeny=any\n' > "$units/service.d/50-everything.conf"
printf '[Service]\nX-CgPolicyBindDeny=any\n' > "$units/cgpolicy-apply@web.slice.service.d/50-keys.conf"
printf '[Service]\nExecStart=/bin/true\n' > "$units/other.service"

env -u SYSTEMD_SCOPE -u SYSTEMD_LOG_LEVEL SYSTEMD_UNIT_PATH="$units" \
        "$generator" "$tmp/out" "$tmp/out" "$tmp/out" 2> "$tmp/log"
ok $? "the generator exits 0"
sed 's/^/# log: /' "$tmp/log"

for u in "${names[@]}" cgpolicy-apply@web.slice.service; do
        [ ! -e "$tmp/out/$u.d" ]
        ok $? "nothing is written for $u"
        case $u in
        *.service)
                grep -qxF "cgpolicy-generator: $u: cgpolicy does not police its own units, ignoring its X-CgPolicy keys." "$tmp/log"
                ok $? "the log says that $u is not policed";;
        esac
done

[ -f "$tmp/out/other.service.d/zz-cgpolicy.conf" ]
ok $? "other.service is policed by the type-wide drop-in"

echo "1..$n"
[ "$failed" -eq 0 ]
