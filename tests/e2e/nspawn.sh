#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# e2e suite 1: systemd as PID 1 in systemd-nspawn, on the host kernel.
#
#   tests/e2e/nspawn.sh BUILD_DIR          TAP on stdout
#
# Boots the cached Debian 12 rootfs (lib/rootfs.sh) with the project installed from
# BUILD_DIR (meson install --destdir into an overlay of the cache) and the scenario units
# of tests/e2e/units/, waits for the boot to finish, runs guest/run-scenarios.sh inside
# with nsenter and powers the container off. The container runs in cgroups this script
# creates (cgroup2 and, when the host has it, name=systemd), with a private bpffs as its
# /sys/fs/bpf; a trap kills it and removes the cgroups, mounts and files, whatever happens.
# CPU and memory limits are not enforceable here (no controllers on the host's cgroup2):
# those scenarios run in the VM suite.
#
# Environment: CGPOLICY_E2E_TIMEOUT (s, default 600) bounds the whole run;
# CGPOLICY_E2E_LATENCY=1 also measures start latency (guest/latency.sh) after the scenarios;
# CGPOLICY_E2E_SCENARIOS="boot show …" runs only those (guest/run-scenarios.sh);
# CGPOLICY_E2E_KEEP=1 keeps the work directory (logs) for debugging.
set -uo pipefail

e2e_dir=$(cd "$(dirname "$0")" && pwd)
. "$e2e_dir/lib/common.sh"

build=${1:-}
[ -n "$build" ] && [ -d "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$build" && pwd)
timeout_total=${CGPOLICY_E2E_TIMEOUT:-600}

e2e_require_root_and_tools systemd-nspawn nsenter debootstrap meson python3 timeout flock

start=$(date +%s)
work=$(mktemp -d /var/tmp/cgpolicy-e2e-nspawn.XXXXXX)
root=$work/root
bpffs=$work/bpffs
cg_name=cgpolicy-e2e-nspawn-$$
cg2=$(e2e_cgroup_mount cgroup2)
cgsd=$(e2e_cgroup_mount cgroup name=systemd)
nspawn_pid=

cleanup() {
        local rc=$?
        if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
                kill -TERM "$nspawn_pid" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
                kill -KILL "$nspawn_pid" 2>/dev/null
                wait "$nspawn_pid" 2>/dev/null
        fi
        # Anything still in our cgroups (should be nothing) is killed before removing them.
        for d in "$cg2/$cg_name" "${cgsd:+$cgsd/$cg_name}"; do
                [ -n "$d" ] && [ -d "$d" ] || continue
                find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
                e2e_rmdir_cgroup "$d"
        done
        mountpoint -q "$bpffs" && umount "$bpffs"
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

[ -n "$cg2" ] || { echo "Bail out! no cgroup2 mount in /proc/self/mountinfo"; exit 1; }

lower=$(e2e_rootfs) || { echo "Bail out! building the rootfs failed"; exit 1; }
e2e_log "rootfs $lower (prepared in $(( $(date +%s) - start )) s)"
e2e_overlay_root "$lower" "$work" "$root" || { echo "Bail out! cannot set up $root"; exit 1; }
e2e_prepare_root "$build" "$root" nspawn || { echo "Bail out! installing the project into the rootfs failed"; exit 1; }

mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs" || { echo "Bail out! cannot mount a private bpffs"; exit 1; }
mkdir "$cg2/$cg_name" || { echo "Bail out! cannot create cgroup $cg2/$cg_name"; exit 1; }
[ -n "$cgsd" ] && mkdir "$cgsd/$cg_name"

# systemd-nspawn, started inside our cgroups; it creates payload/ and supervisor/ below.
(
        echo "$BASHPID" >"$cg2/$cg_name/cgroup.procs" || exit 1
        [ -n "$cgsd" ] && { echo "$BASHPID" >"$cgsd/$cg_name/cgroup.procs" || exit 1; }
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet --boot \
                --directory="$root" --machine="cgpolicy-e2e-$$" \
                --register=no --keep-unit --private-network --capability=all \
                --system-call-filter='bpf perf_event_open' \
                --bind="$bpffs:/sys/fs/bpf" --console=pipe \
                </dev/null >"$work/console.log" 2>&1
) &
nspawn_pid=$!

# The container's PID 1, seen from here: the process in our cgroup whose PID in its own
# namespace is 1.
leader=
for _ in $(seq 150); do
        for p in $(find "$cg2/$cg_name" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$p/status" 2>/dev/null; then
                        leader=$p
                        break 2
                fi
        done
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.2
done
if [ -z "$leader" ]; then
        echo "Bail out! the container did not start"
        sed 's/^/# /' "$work/console.log"
        exit 1
fi

in_guest() { nsenter -t "$leader" -a "$@"; }

# Until systemd's private bus socket exists, systemctl cannot even ask.
state=
for _ in $(seq 600); do
        state=$(timeout 120 nsenter -t "$leader" -a systemctl is-system-running --wait 2>&1)
        case $state in
        running|degraded|maintenance|stopping|offline) break ;;
        esac
        kill -0 "$nspawn_pid" 2>/dev/null || break
        [ $(( $(date +%s) - start )) -lt 150 ] || break
        sleep 0.2
done
boot_s=$(( $(date +%s) - start ))
e2e_log "container booted: $state (${boot_s} s since start)"
if [ "$state" != running ]; then
        e2e_log "failed units:"
        in_guest systemctl --failed --no-legend --plain 2>&1 | sed 's/^/#   /'
        case $state in
        degraded) ;;            # the scenarios say which unit matters
        *) echo "Bail out! the container did not finish booting ($state)"
           sed 's/^/# /' "$work/console.log" | tail -n 40
           exit 1 ;;
        esac
fi

left=$(( timeout_total - ($(date +%s) - start) ))
[ "$left" -gt 30 ] || left=30
timeout -k 5 "$left" nsenter -t "$leader" -a /usr/lib/cgpolicy-e2e/run-scenarios.sh nspawn ${CGPOLICY_E2E_SCENARIOS:-}
rc=$?
[ $rc -eq 124 ] && echo "Bail out! scenarios did not finish within the ${timeout_total} s limit"

if [ -n "${CGPOLICY_E2E_LATENCY:-}" ]; then
        timeout 300 nsenter -t "$leader" -a /usr/lib/cgpolicy-e2e/latency.sh 20 | sed 's/^/# /'
fi

# Power off and wait for the container to go away (the trap kills it if it does not).
in_guest systemctl poweroff --no-block >/dev/null 2>&1
for _ in $(seq 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$nspawn_pid" 2>/dev/null; then
        e2e_log "container did not power off within 30 s; killing it"
else
        wait "$nspawn_pid"
        nspawn_pid=
fi
e2e_log "total $(( $(date +%s) - start )) s"
exit $rc
