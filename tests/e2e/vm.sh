#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# e2e suite 2: systemd as PID 1 in a qemu VM running a Debian release's own kernel, with
# every cgroup2 controller (cpu.max and memory.max are real here).
#
#   tests/e2e/vm.sh BUILD_DIR [RELEASE]     TAP on stdout
#
# RELEASE is bookworm (Debian 12: systemd 252, kernel 6.1; the default) or trixie (Debian 13:
# systemd 257, kernel 6.12); the scenarios are the same. The project is tested as the
# Debian package built for that release: tests/package/build-deb.sh builds the .deb from
# this source tree, into BUILD_DIR/deb when RELEASE is this machine's release (or reuses the
# one the package suite built there), else into BUILD_DIR/deb-RELEASE in the cached build
# chroot of RELEASE (lib/buildroot.sh). It is installed with "dpkg -i" in a chroot into an
# overlay of the cached rootfs of RELEASE (lib/rootfs.sh). With the scenario units of
# tests/e2e/units/, that tree becomes a raw ext4 image (mkfs.ext4 -d). qemu
# boots it under TCG with the rootfs's own kernel and initrd; e2e-vm-test.service runs the
# scenarios at boot, writes TAP to the second serial port (a file here) and powers the
# VM off (SuccessAction=poweroff, FailureAction=poweroff-force). A hard timeout bounds
# qemu, and a trap kills it and removes every file, whatever happens.
#
# Environment: CGPOLICY_E2E_LOCK=FILE waits for a lock on FILE first (one suite at a time on a
# shared machine; the caches are built before, outside it); CGPOLICY_E2E_VM_TIMEOUT (s, default 1500: Debian 13's kernel runs under one
# TCG thread, see lib/vm.sh) for the VM;
# CGPOLICY_E2E_SCENARIOS="boot show …" runs only those (guest/run-scenarios.sh);
# CGPOLICY_E2E_LATENCY=1 also measures start latency in the VM (guest/latency.sh);
# CGPOLICY_E2E_KEEP=1 keeps the work directory (console log, image) for debugging.
set -uo pipefail

e2e_dir=$(cd "$(dirname "$0")" && pwd)
. "$e2e_dir/lib/common.sh"
. "$e2e_dir/lib/vm.sh"

build=${1:-}
release=${2:-bookworm}
[ -n "$build" ] && [ -d "$build" ] || { echo "usage: $0 BUILD_DIR [RELEASE]" >&2; exit 2; }
e2e_debian_version "$release" >/dev/null || { echo "usage: $0 BUILD_DIR [$(e2e_debian_releases | tr ' ' '|')]" >&2; exit 2; }
build=$(cd "$build" && pwd)
vm_timeout=${CGPOLICY_E2E_VM_TIMEOUT:-1500}

e2e_require_root_and_tools qemu-system-x86_64 mkfs.ext4 debootstrap meson python3 timeout flock \
        dpkg-buildpackage chroot unshare

start=$(date +%s)
work=$(mktemp -d /var/tmp/cgpolicy-e2e-vm.XXXXXX)
root=$work/root

cleanup() {
        local rc=$?
        e2e_vm_cleanup
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

e2e_log "Debian $(e2e_debian_version "$release") ($release)"
lower=$(e2e_rootfs "$release") || { echo "Bail out! building the $release rootfs failed"; exit 1; }
e2e_log "rootfs $lower (ready after $(( $(date +%s) - start )) s)"
t=$(date +%s)
debdir=$build/deb
[ "$release" = "$(e2e_host_codename)" ] || debdir=$build/deb-$release
deb=$("$e2e_dir/../package/build-deb.sh" --release="$release" "$debdir" 2>"$work/build-deb.log") || {
        echo "Bail out! building the Debian package failed"; sed 's/^/# /' "$work/build-deb.log"; exit 1; }
e2e_log "package $deb (ready after $(( $(date +%s) - t )) s)"
e2e_take_lock
e2e_overlay_root "$lower" "$work" "$root" || { echo "Bail out! cannot set up $root"; exit 1; }
e2e_prepare_root "$build" "$root" vm "$deb" || { echo "Bail out! installing the package into the rootfs failed"; exit 1; }
ln -sf /usr/lib/systemd/system/e2e-vm-test.service "$root/etc/systemd/system/multi-user.target.wants/e2e-vm-test.service"
[ -n "${CGPOLICY_E2E_SCENARIOS:-}" ] && echo "$CGPOLICY_E2E_SCENARIOS" >"$root/usr/lib/cgpolicy-e2e/vm-scenarios"
[ -n "${CGPOLICY_E2E_LATENCY:-}" ] && touch "$root/usr/lib/cgpolicy-e2e/vm-latency"

t=$(date +%s)
# (not in a subshell: it sets variables and starts a background process)
if ! e2e_vm_run "$root" "$work" "$vm_timeout" >"$work/boot.msg"; then
        echo "Bail out! $(head -n1 "$work/boot.msg")"
        tail -n +2 "$work/boot.msg" | sed 's/^/# /'
        exit 1
fi

e2e_log "VM: kernel $(cut -d' ' -f1 "$work/accel" 2>/dev/null), -accel $(cut -d' ' -f2 "$work/accel" 2>/dev/null), booted and ran in $(( $(date +%s) - t )) s"

# The report, as TAP (stray console characters on the serial line are dropped).
tr -d '\r' <"$work/report" | grep -a -E '^(ok |not ok |1\.\.|# |Bail out!)' | grep -av '^# e2e-vm: done'
rc=0
if [ -n "$e2e_vm_timed_out" ]; then
        echo "Bail out! the VM did not power off within ${vm_timeout} s"
        rc=1
elif ! grep -aq '^# e2e-vm: done rc=0' "$work/report"; then
        grep -aq '^# e2e-vm: done' "$work/report" || echo "Bail out! the VM powered off without a complete report"
        rc=1
fi
if [ $rc -ne 0 ]; then
        echo "# last lines of the VM console:"
        tr -d '\r' <"$work/console.log" | tail -n 60 | sed 's/^/#   /'
fi
e2e_log "total $(( $(date +%s) - start )) s"
exit $rc
