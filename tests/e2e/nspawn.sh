#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# e2e suite 1: systemd as PID 1 in systemd-nspawn, on the host kernel.
#
#   tests/e2e/nspawn.sh BUILD_DIR          TAP on stdout
#
# Boots the cached rootfs of this machine's Debian release (lib/rootfs.sh; Debian 12 on
# another system) with the project installed from
# BUILD_DIR (meson install --destdir into an overlay of the cache) and the scenario units
# of tests/e2e/units/, waits for the boot to finish, runs guest/run-scenarios.sh inside
# with nsenter and powers the container off. The container runs in cgroups this script
# creates (cgroup2 and, when the host has it, name=systemd), with a private bpffs as its
# /sys/fs/bpf; a trap kills it and removes the cgroups, mounts and files, whatever happens.
# CPU and memory limits are not enforceable here (no controllers on the host's cgroup2):
# those scenarios run in the VM suite.
#
# Environment: CGPOLICY_E2E_LOCK=FILE waits for a lock on FILE first (one suite at a time on a
# shared machine; the caches are built before, outside it); CGPOLICY_E2E_TIMEOUT (s, default 600) bounds the whole run;
# CGPOLICY_E2E_LATENCY=1 also measures start latency (guest/latency.sh) after the scenarios;
# CGPOLICY_E2E_SCENARIOS="boot show …" runs only those (guest/run-scenarios.sh);
# CGPOLICY_E2E_KEEP=1 keeps the work directory (logs) for debugging;
# CGPOLICY_E2E_HOLD=SECONDS keeps the container running that long after the scenarios
# (enter it with the nsenter command printed on stderr).
set -uo pipefail

e2e_dir=$(cd "$(dirname "$0")" && pwd)
. "$e2e_dir/lib/common.sh"
. "$e2e_dir/lib/nspawn.sh"

build=${1:-}
[ -n "$build" ] && [ -d "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$build" && pwd)
timeout_total=${CGPOLICY_E2E_TIMEOUT:-600}

e2e_require_root_and_tools systemd-nspawn nsenter debootstrap meson python3 timeout flock

start=$(date +%s)
work=$(mktemp -d /var/tmp/cgpolicy-e2e-nspawn.XXXXXX)
root=$work/root

cleanup() {
        local rc=$?
        e2e_nspawn_cleanup
        mountpoint -q "$root" && umount "$root"
        if [ -n "${CGPOLICY_E2E_KEEP:-}" ]; then
                echo "# kept $work" >&2
        else
                rm -rf --one-file-system "$work"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lower=$(e2e_rootfs) || { echo "Bail out! building the rootfs failed"; exit 1; }
e2e_log "rootfs $lower (ready after $(( $(date +%s) - start )) s)"
e2e_take_lock
e2e_overlay_root "$lower" "$work" "$root" || { echo "Bail out! cannot set up $root"; exit 1; }
e2e_prepare_root "$build" "$root" nspawn || { echo "Bail out! installing the project into the rootfs failed"; exit 1; }

# (not in a subshell: it sets variables and starts a background process)
if ! e2e_nspawn_boot "$root" "$work" >"$work/boot.msg"; then
        echo "Bail out! $(head -n1 "$work/boot.msg")"
        tail -n +2 "$work/boot.msg" | sed 's/^/# /'
        exit 1
fi
e2e_log "container booted: $(e2e_in_guest systemctl is-system-running) ($(( $(date +%s) - start )) s since start)"
if [ "$(e2e_in_guest systemctl is-system-running)" != running ]; then
        e2e_log "failed units (the scenarios say which one matters):"
        e2e_in_guest systemctl --failed --no-legend --plain 2>&1 | sed 's/^/#   /'
fi

left=$(( timeout_total - ($(date +%s) - start) ))
[ "$left" -gt 30 ] || left=30
# shellcheck disable=SC2086
timeout -k 5 "$left" nsenter -t "$e2e_nspawn_leader" -a /usr/lib/cgpolicy-e2e/run-scenarios.sh nspawn ${CGPOLICY_E2E_SCENARIOS:-}
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "Bail out! the scenarios did not finish within the ${timeout_total} s limit"
fi

if [ -n "${CGPOLICY_E2E_LATENCY:-}" ]; then
        timeout 300 nsenter -t "$e2e_nspawn_leader" -a /usr/lib/cgpolicy-e2e/latency.sh 20 | sed 's/^/# /'
fi

if [ -n "${CGPOLICY_E2E_HOLD:-}" ]; then
        echo "# holding the container for ${CGPOLICY_E2E_HOLD} s: nsenter -t $e2e_nspawn_leader -a bash" >&2
        sleep "$CGPOLICY_E2E_HOLD"
fi
e2e_nspawn_poweroff
e2e_log "total $(( $(date +%s) - start )) s"
exit $rc
