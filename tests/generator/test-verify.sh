#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd-analyze verify accepts every drop-in the generator writes for the "verify" and
# "verify-system-slice" fixtures: the units are loaded by systemd's own parser with the
# generated drop-ins applied, and any message (an unknown key, a bad value, an exec line that
# does not parse, a missing binary, an ordering cycle) counts as a failure, not only a
# non-zero exit status.
#
#   test-verify.sh GENERATOR FIXTURES_DIR CGPOLICY_BINARY_PATH [UNITS_BUILD_DIR]
#
# The generated ExecStartPre=/ExecStart= lines name the installed helper; verify checks that
# the binary exists and is executable, so the generated files are copied with that path
# replaced by an executable stub in a temporary directory. cgpolicy-load.service and
# cgpolicy-apply@.service are the project's own units as configured in UNITS_BUILD_DIR (the
# same path replaced), or, without it, stubs of their shape (oneshot, RemainAfterExit=yes,
# DefaultDependencies=no, Slice=-.slice).
set -u

generator=$(realpath "$1") fixtures=$(realpath "$2") binary=$3 unitsdir=${4:-}

if ! command -v systemd-analyze >/dev/null; then
        echo "1..0 # SKIP systemd-analyze is not installed"
        exit 77
fi

tmp=$(mktemp -d /tmp/test-verify.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/stub" "$tmp/bin"

n=0 failed=0
ok() {  # ok STATUS MESSAGE [DIRECTIVE]
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2${3:+ # $3}"; else
                echo "not ok $n - $2${3:+ # $3}"
                case "${3:-}" in TODO*) ;; *) failed=$((failed + 1)) ;; esac
        fi
}

printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/cgpolicy"
chmod +x "$tmp/bin/cgpolicy"

if [ -n "$unitsdir" ] && [ -f "$unitsdir/cgpolicy-load.service" ] && [ -f "$unitsdir/cgpolicy-apply@.service" ]; then
        for u in cgpolicy-load.service cgpolicy-apply@.service; do
                sed "s|$binary|$tmp/bin/cgpolicy|g" "$unitsdir/$u" > "$tmp/stub/$u"
        done
        echo "# using the project's cgpolicy-load.service and cgpolicy-apply@.service from $unitsdir"
else
        echo "# using stub cgpolicy-load.service and cgpolicy-apply@.service"
        cat > "$tmp/stub/cgpolicy-load.service" <<UNIT
[Unit]
Description=Load and pin the cgpolicy BPF programs (test stub)
DefaultDependencies=no

[Service]
Slice=-.slice
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
Slice=-.slice
Type=oneshot
RemainAfterExit=yes
ExecStart=$tmp/bin/cgpolicy apply --slice=%i
ExecStop=$tmp/bin/cgpolicy release --slice=%i
UNIT
fi

for fixture in verify verify-system-slice seal; do
        units=$fixtures/$fixture/units
        out=$tmp/$fixture
        mkdir -p "$out/normal" "$out/early" "$out/late"
        # A policed system.slice needs cgpolicy-load.service and cgpolicy-apply@.service to run
        # outside system.slice (Slice=-.slice), or system.slice is ordered after a unit inside it.
        directive=
        if [ "$fixture" = verify-system-slice ] && ! grep -qs '^Slice=-\.slice' "$tmp/stub/cgpolicy-apply@.service"; then
                directive="TODO units/cgpolicy-apply@.service and cgpolicy-load.service need Slice=-.slice"
        fi

        SYSTEMD_UNIT_PATH=$units/etc:$units/usr "$generator" "$out/normal" "$out/early" "$out/late" 2>/dev/null
        ok $? "$fixture: generator exits 0"
        find "$out/normal" -type f -exec sed -i "s|$binary|$tmp/bin/cgpolicy|g" {} +

        # Every unit of the fixture (an instance for templates) and every apply@ instance written.
        list=()
        for f in "$units"/usr/* "$units"/etc/*; do
                b=$(basename "$f")
                case "$b" in
                *@.service) list+=("${b%@.service}@test.service") ;;
                *.service|*.slice) list+=("$b") ;;
                esac
        done
        for d in "$out"/normal/cgpolicy-apply@*.service.d; do
                [ -d "$d" ] && list+=("$(basename "${d%.d}")")
        done

        dropins=$(find "$out/normal" -name zz-cgpolicy.conf | wc -l)
        [ "$dropins" -ge 2 ]
        ok $? "$fixture: the generator wrote $dropins drop-ins to verify"

        for u in "${list[@]}"; do
                res=$(cd "$tmp" && SYSTEMD_UNIT_PATH="$out/normal:$units/etc:$units/usr:$tmp/stub:" \
                      systemd-analyze verify --man=no "$u" 2>&1)
                rc=$?
                [ -n "$res" ] && printf '%s\n' "$res" | sed 's/^/# /'
                [ $rc -eq 0 ] && [ -z "$res" ]
                ok $? "$fixture: systemd-analyze verify $u: accepted without a message" "$directive"
        done
done

# The seal as systemd's own parser composes it with the unit's settings (systemd.exec(5): "~"
# lists are ANDed): systemd-analyze security --offline loads each unit with its drop-ins, the
# generated one included, and reports per capability whether the bounding set lacks it.
# true: the capability is removed; false: the service keeps it.
out=$tmp/seal
security() {    # security UNIT EXPECTED_FIELD=true|false…
        local unit=$1 json
        shift
        json=$(cd "$tmp" && SYSTEMD_UNIT_PATH="$out/normal:$fixtures/seal/units/etc:$fixtures/seal/units/usr:$tmp/stub:" \
               systemd-analyze security --offline=yes --json=short --no-pager "$unit" 2>&1)
        printf '%s\n' "$json" | python3 -c '
import json, sys
fields = {e["json_field"]: e["set"] for e in json.loads(sys.stdin.read())}
bad = []
for want in sys.argv[1:]:
    k, v = want.split("=")
    if fields.get(k) is not (v == "true"):
        bad.append("%s is %s, want %s" % (k, fields.get(k), v))
print("; ".join(bad))
sys.exit(1 if bad else 0)' "$@" > "$tmp/security.out" 2>&1
        rc=$?
        [ $rc -ne 0 ] && sed 's/^/# /' "$tmp/security.out"
        return $rc
}
if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
        removed="CapabilityBoundingSet_CAP_SYS_ADMIN=true CapabilityBoundingSet_CAP_BPF=true
                 CapabilityBoundingSet_CAP_NET_ADMIN=true CapabilityBoundingSet_CAP_SYS_PTRACE=true
                 CapabilityBoundingSet_CAP_SYS_MODULE=true CapabilityBoundingSet_CAP_SYS_RAWIO=true
                 ProtectControlGroups=true"
        # shellcheck disable=SC2086
        security sealed.service $removed CapabilityBoundingSet_CAP_SYS_TIME=false CapabilityBoundingSet_CAP_KILL=false
        ok $? "seal: sealed.service loses the sealed capabilities, keeps the others, has ProtectControlGroups="
        # shellcheck disable=SC2086
        security allowlist.service $removed CapabilityBoundingSet_CAP_SYS_TIME=false \
                "CapabilityBoundingSet_CAP_NET_BIND_SERVICE_BROADCAST_RAW)=true" CapabilityBoundingSet_CAP_KILL=true
        ok $? "seal: allowlist.service's allow-list stays one (CAP_SYS_TIME kept, CAP_KILL still absent), less the sealed capabilities"
        security optout.service CapabilityBoundingSet_CAP_SYS_ADMIN=false ProtectControlGroups=false
        ok $? "seal: X-CgPolicySeal=no leaves optout.service's capabilities and cgroups alone"
        security audit.service CapabilityBoundingSet_CAP_SYS_ADMIN=false ProtectControlGroups=false
        ok $? "seal: a service in audit mode is not sealed"
else
        ok 0 "seal: systemd-analyze security --offline" "SKIP systemd-analyze has no --offline"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
