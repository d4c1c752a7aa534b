#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd-analyze verify accepts every drop-in the generator writes for the "verify" fixture:
# the units are loaded by systemd's own parser with the generated drop-ins applied, and any
# message (an unknown key, a bad value, an exec line that does not parse, a missing binary)
# counts as a failure, not only a non-zero exit status.
#
#   test-verify.sh GENERATOR FIXTURES_DIR CGPOLICY_BINARY_PATH
#
# The generated ExecStartPre=/ExecStart= lines name the installed helper; verify checks that
# the binary exists and is executable, so the generated files are copied with that path
# replaced by an executable stub in a temporary directory. cgpolicy-load.service and
# cgpolicy-apply@.service are stubs of the same shape as the real ones (oneshot,
# RemainAfterExit=yes, DefaultDependencies=no).
set -u

generator=$(realpath "$1") fixtures=$(realpath "$2") binary=$3
units=$fixtures/verify/units

if ! command -v systemd-analyze >/dev/null; then
        echo "1..0 # SKIP systemd-analyze is not installed"
        exit 77
fi

tmp=$(mktemp -d /tmp/test-verify.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/normal" "$tmp/early" "$tmp/late" "$tmp/stub" "$tmp/bin"

n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

SYSTEMD_UNIT_PATH=$units/etc:$units/usr "$generator" "$tmp/normal" "$tmp/early" "$tmp/late" 2>/dev/null
ok $? "generator exits 0"

printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/cgpolicy"
chmod +x "$tmp/bin/cgpolicy"
find "$tmp/normal" -type f -exec sed -i "s|$binary|$tmp/bin/cgpolicy|g" {} +

cat > "$tmp/stub/cgpolicy-load.service" <<UNIT
[Unit]
Description=Load and pin the cgpolicy BPF programs (test stub)
DefaultDependencies=no

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$tmp/bin/cgpolicy load
UNIT
cat > "$tmp/stub/cgpolicy-apply@.service" <<UNIT
[Unit]
Description=Apply the cgpolicy network policy of %i (test stub)
DefaultDependencies=no
Requires=cgpolicy-load.service
After=cgpolicy-load.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$tmp/bin/cgpolicy apply --slice=%i
ExecStop=$tmp/bin/cgpolicy release --slice=%i
UNIT

# Every unit of the fixture (an instance for templates) and every apply@ instance written.
list=()
for f in "$units"/usr/* "$units"/etc/*; do
        b=$(basename "$f")
        case "$b" in
        *@.service) list+=("${b%@.service}@test.service") ;;
        *.service|*.slice) list+=("$b") ;;
        esac
done
for d in "$tmp"/normal/cgpolicy-apply@*.service.d; do
        [ -d "$d" ] && list+=("$(basename "${d%.d}")")
done

dropins=$(find "$tmp/normal" -name zz-cgpolicy.conf | wc -l)
[ "$dropins" -ge 5 ]
ok $? "the generator wrote $dropins drop-ins to verify"

cd "$tmp" || exit 1
for u in "${list[@]}"; do
        out=$(SYSTEMD_UNIT_PATH="$tmp/normal:$units/etc:$units/usr:$tmp/stub:" \
              systemd-analyze verify --man=no "$u" 2>&1)
        rc=$?
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
        [ $rc -eq 0 ] && [ -z "$out" ]
        ok $? "systemd-analyze verify $u: accepted without a message"
done

echo "1..$n"
[ "$failed" -eq 0 ]
