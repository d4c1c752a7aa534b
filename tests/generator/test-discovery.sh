#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit discovery, differentially against systemd 252: in a tree with competing unit files and
# drop-ins (precedence across directories, masking with /dev/null, template and instance
# drop-ins, "-" prefix directories, type-wide service.d/), every file that carries content
# also carries a key only it has, unknown to systemd. systemd-analyze verify warns about each
# unknown key as it reads the file, so its warnings list the files systemd applied, in the
# order it applied them. The generator lists the files it read, in order, as "# Source:"
# lines of the drop-in it writes. The two lists must be the same.
#
#   test-discovery.sh GENERATOR
set -u

generator=$(realpath "$1")

if ! command -v systemd-analyze >/dev/null; then
        echo "1..0 # SKIP systemd-analyze is not installed"
        exit 77
fi

tmp=$(mktemp -d /tmp/test-discovery.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

id=0
unit() {        # unit DIR NAME: a unit file with keys for the generator and a marker for systemd
        id=$((id + 1))
        mkdir -p "$tmp/$1"
        printf '[Unit]\nDefaultDependencies=no\n\n[Service]\nExecStart=/bin/true\nX-CgPolicyCPUQuota=1%%\nMarker%s=1\n' \
                "$id" > "$tmp/$1/$2"
}
dropin() {      # dropin DIR PATH
        id=$((id + 1))
        mkdir -p "$(dirname "$tmp/$1/$2")"
        printf '[Service]\nMarker%s=1\n' "$id" > "$tmp/$1/$2"
}
mask() {        # mask DIR PATH
        mkdir -p "$(dirname "$tmp/$1/$2")"
        ln -sf /dev/null "$tmp/$1/$2"
}

# A plain unit with a "-" prefix: its own, prefix and type-wide drop-ins in three directories.
unit usr a-b-c.service
unit etc a-b-c.service                          # hides usr's unit file
dropin usr a-b-c.service.d/10-own.conf
dropin etc a-b-c.service.d/10-own.conf          # hides usr's 10-own.conf
dropin run a-b-c.service.d/20-own.conf
dropin usr a-b-.service.d/15-prefix.conf
dropin run a-.service.d/15-prefix.conf          # run before usr: hides a-b-'s in usr
dropin usr a-.service.d/16-prefix.conf
dropin usr a-b-.service.d/16-prefix.conf        # more specific prefix, same directory: wins
dropin usr service.d/05-all.conf
dropin usr a-b-c.service.d/05-all.conf          # the unit's own hides the type-wide one
dropin etc service.d/99-all.conf
dropin usr a-b-c.service.d/30-masked.conf
mask etc a-b-c.service.d/30-masked.conf
dropin usr a-b-c.service.d/40-x.conf
dropin usr a-b-c.service.d/.hidden.conf         # hidden files are not read
dropin usr a-b-c.service.d/50-not-conf.txt      # only *.conf

# A template and an instance with its own drop-ins.
unit usr t@.service
dropin usr t@.service.d/10-t.conf
dropin etc t@x.service.d/10-t.conf              # the instance's hides the template's
dropin run t@.service.d/20-t.conf
dropin usr t@x.service.d/30-x.conf

# A unit with only type-wide drop-ins, one masked in a higher directory.
unit usr p.service
dropin usr service.d/60-all.conf
mask run service.d/60-all.conf

path=$tmp/etc:$tmp/run:$tmp/usr
mkdir -p "$tmp/out"
SYSTEMD_UNIT_PATH=$path "$generator" "$tmp/out" "$tmp/out" "$tmp/out" 2> "$tmp/gen.log"
ok $? "generator exits 0"

for u in a-b-c.service t@x.service p.service; do
        sed -n 's/^# Source: //p' "$tmp/out/$u.d/zz-cgpolicy.conf" > "$tmp/ours" 2>/dev/null
        (cd "$tmp" && SYSTEMD_UNIT_PATH=$path systemd-analyze verify --man=no "$u" 2>&1) |
                sed -n "s|^\\($tmp/[^:]*\\):[0-9]*: Unknown key 'Marker[0-9]*'.*|\\1|p" > "$tmp/systemd"
        cat "$tmp/systemd" | sed "s|$tmp|TREE|g; s/^/# applied: /"; diff -u "$tmp/systemd" "$tmp/ours" | sed "s|$tmp|TREE|g; s/^/# /"
        ok "${PIPESTATUS[0]}" "$u: the generator reads the files systemd applies, in systemd's order ($(wc -l < "$tmp/systemd") files)"
done

echo "1..$n"
[ "$failed" -eq 0 ]
