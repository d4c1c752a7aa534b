#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hostile input: what the generator reads cannot make it hang, read without bound, write
# outside its output directory, or leave a unit unpoliced because one of its files could not
# be read (systemd would start such a unit without its drop-in). The trees are built here,
# because git keeps neither FIFOs nor file names with control characters.
#
#   test-input.sh GENERATOR CGPOLICY_BINARY_PATH BPFFS_DIR
set -u

generator=$1 binary=$2 bpffs=$3

tmp=$(mktemp -d /tmp/test-input.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

units=$tmp/units
# The output directory is nested, so that "../../x" from it stays inside $tmp/top, which must
# hold nothing else afterwards.
out=$tmp/top/a/normal
mkdir -p "$units" "$out" "$tmp/elsewhere"
mkfifo "$tmp/elsewhere/fifo"

service() {     # service NAME [LINE…]: a unit file with ExecStart= and the given lines
        local name=$1
        shift
        { printf '[Service]\nExecStart=/bin/true\n'; printf '%s\n' "$@"; } > "$units/$name"
}

# A FIFO as a unit file: systemd only takes regular files and symlinks, and so does the
# generator: no unit. A symlink to a FIFO is read: it must not block, and the unit fails closed.
mkfifo "$units/fifo.service"
ln -s "$tmp/elsewhere/fifo" "$units/fifolink.service"
# A FIFO, /dev/zero and a file larger than the bound as drop-ins: the unit fails closed, also one
# without any key of its own (the unreadable file might have had them).
service fifodrop.service 'X-CgPolicyBindDeny=any'
mkdir -p "$units/fifodrop.service.d"
ln -s "$tmp/elsewhere/fifo" "$units/fifodrop.service.d/50-fifo.conf"
service zero.service
mkdir -p "$units/zero.service.d"
ln -s /dev/zero "$units/zero.service.d/50-zero.conf"
service big.service 'X-CgPolicyConnectDeny=any'
mkdir -p "$units/big.service.d"
truncate -s $((4 * 1024 * 1024 + 1)) "$units/big.service.d/50-big.conf"
# A dangling symlink adds nothing (systemd skips it too); /dev/null masks the drop-in.
service dangling.service 'X-CgPolicyBindDeny=any'
mkdir -p "$units/dangling.service.d"
ln -s "$tmp/nonexistent.conf" "$units/dangling.service.d/50-gone.conf"
ln -s /dev/null "$units/dangling.service.d/60-masked.conf"
# Slice= values systemd ignores (the default slice applies), and ones it cannot be told from.
service escape.service 'Slice=../../elsewhere.slice' 'X-CgPolicyConnectDeny=any'
service control.service "Slice=evil$(printf '\001')x.slice" 'X-CgPolicyConnectDeny=any'
service notaslice.service 'Slice=foo.service' 'X-CgPolicyConnectDeny=any'
service spec.service 'Slice=tenant-%i.slice' 'X-CgPolicyConnectDeny=any'
service dashes.service 'Slice=tenant--a.slice' 'X-CgPolicyConnectDeny=any'
# A policed system.slice: its bind programs are not repeated for a service in it. A type-wide
# slice.d/ drop-in gives every slice the generator looks at a drop-in (here a memory limit),
# so a slice name that is a path would be written to.
printf '[Slice]\nX-CgPolicyBindDeny=any\n' > "$units/system.slice"
mkdir -p "$units/slice.d"
printf '[Slice]\nX-CgPolicyMemoryMax=1G\n' > "$units/slice.d/50-memory.conf"
# File names with control characters are no unit names.
service "$(printf 'nl\nUNIT=x.service')" 'X-CgPolicyConnectDeny=any'
service "$(printf 'esc\033[31m.service')" 'X-CgPolicyConnectDeny=any'
mkdir -p "$units/$(printf 'tab\tx.service.d')"
printf '[Service]\nX-CgPolicyConnectDeny=any\n' > "$units/$(printf 'tab\tx.service.d')/x.conf"

env -u SYSTEMD_SCOPE -u SYSTEMD_LOG_LEVEL SYSTEMD_UNIT_PATH="$units" timeout 30 \
        "$generator" "$out" "$out" "$out" 2> "$tmp/log"
rc=$?
sed "s/^/# log: /" "$tmp/log"
[ $rc -eq 0 ]
ok $? "the generator exits 0 within 30 s (exit $rc)"

dropin() { echo "$out/$1.d/zz-cgpolicy.conf"; }

# Nothing outside the output directory, and only valid unit names in it.
extra=$(cd "$tmp/top" && find . -mindepth 1 ! -path ./a ! -path './a/normal' ! -path './a/normal/*' | tr '\n' ' ')
[ -z "$extra" ]
ok $? "nothing written outside the output directory${extra:+: $extra}"
bad=$(cd "$out" && find . -mindepth 1 -maxdepth 1 | LC_ALL=C grep -v -E '^\./[A-Za-z0-9:_.@\\-]+\.(service|slice)\.d$' | tr '\n' ' ')
[ -z "$bad" ]
ok $? "only drop-in directories of valid unit names${bad:+: $bad}"
[ ! -e "$tmp/top/elsewhere.slice.d" ] && [ ! -e "$tmp/elsewhere.slice.d" ]
ok $? "Slice=../../elsewhere.slice wrote nothing there"

[ ! -e "$(dropin fifo.service)" ]
ok $? "a FIFO unit file is no unit (as for systemd)"

closed() {      # closed UNIT FILE WHAT: UNIT got the error drop-in for FILE
        local f
        f=$(dropin "$1")
        grep -qxF "ExecStartPre=+$binary apply --unit=%n \"--error=$2: $3\"" "$f" 2>/dev/null &&
                grep -qF "cgpolicy-generator: $2: $3" "$tmp/log"
        ok $? "$1 fails closed: $2: $3"
}
closed fifolink.service "$units/fifolink.service" "not a regular file"
closed fifodrop.service "$units/fifodrop.service.d/50-fifo.conf" "not a regular file"
closed zero.service "$units/zero.service.d/50-zero.conf" "not a regular file"
closed big.service "$units/big.service.d/50-big.conf" "larger than 4194304 bytes"

f=$(dropin dangling.service)
grep -qxF "ExecStartPre=+$binary apply --unit=%n --seal --bind-deny=any" "$f" 2>/dev/null && ! grep -q -- '--error' "$f"
ok $? "a dangling and a masked drop-in add nothing: dangling.service is policed by its own rules"

# Slice= systemd ignores: the default slice (the policed system.slice) applies; the service is
# policed by its own rules and the slice it names gets nothing.
helper="ExecStartPre=+$binary apply --unit=%n --seal --connect-deny=any"
for u in escape notaslice; do
        f=$(dropin $u.service)
        grep -qxF "$helper" "$f" 2>/dev/null && [ ! -e "$out/foo.service.d" ] && [ -e "$(dropin system.slice)" ]
        ok $? "$u.service: its Slice= is ignored, it runs in system.slice with its own rules"
done
grep -qF 'escape.service: Slice=../../elsewhere.slice is not a slice name, ignored as systemd ignores it: the service runs in system.slice.' "$tmp/log"
ok $? "the ignored Slice= is logged"
grep -qF 'control.service: Slice=evil\x01x.slice is not a slice name' "$tmp/log" &&
        ! LC_ALL=C grep -q "$(printf '\001')" "$tmp/log"
ok $? "a control character in Slice= is logged escaped"
f=$(dropin control.service)
grep -qxF "$helper" "$f" 2>/dev/null
ok $? "control.service is policed by its own rules"

# Slice= the generator cannot resolve: the service is policed by its own rules, and no slice of
# that name is written to.
for u in spec dashes; do
        f=$(dropin $u.service)
        grep -qxF "$helper" "$f" 2>/dev/null && [ ! -e "$out/tenant-%i.slice.d" ] && [ ! -e "$out/tenant--a.slice.d" ]
        ok $? "$u.service: its slice is not known, it is policed by its own rules"
done
grep -qF 'spec.service: Slice=tenant-%i.slice has specifiers' "$tmp/log" &&
        grep -qF 'dashes.service: Slice=tenant--a.slice is not a valid slice name' "$tmp/log"
ok $? "the unresolved Slice= values are logged"

! LC_ALL=C grep -q "$(printf '\033')" "$tmp/log"
ok $? "no control character reaches the log"

echo "1..$n"
[ "$failed" -eq 0 ]
