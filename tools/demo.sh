#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The live demonstration (the body of the README's main command, tools/run-demo):
# boots a throw-away VM of this machine's Debian release (Debian 12 or 13; qemu, software
# emulation, the release's own kernel) with cgpolicy installed from build/ — or, where a VM is not possible, a systemd-nspawn
# container — starts demo-api.service, which carries cgpolicy keys, and prints what the
# service tried, what the kernel allowed and refused (EPERM), its CPU and memory limits as
# the kernel holds them, and `cgpolicy status`. Leaves nothing running.
#
#   tools/demo.sh [vm|container]       (default: vm, falling back to the container)
#
# Needs root. Expects build/ configured with --prefix=/usr and built (tools/run-demo does
# that; $CGPOLICY_BUILD names another build directory). The first run debootstraps the
# Debian rootfs (a few minutes; cached in /var/cache/cgpolicy-e2e), later runs reuse it.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
e2e_dir=$top/tests/e2e
. "$e2e_dir/lib/common.sh"
. "$e2e_dir/lib/vm.sh"
. "$e2e_dir/lib/nspawn.sh"

want=${1:-vm}
build=${CGPOLICY_BUILD:-$top/build}

say() { printf '>>> %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
        echo "demo: needs root (it boots a VM or container and mounts a private bpffs)" >&2
        exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
        say "configuring $build (--prefix=/usr)"
        "$top/tools/deps.sh" test || exit 1
        meson setup "$build" --prefix=/usr >/dev/null || exit 1
fi
ninja -C "$build" >/dev/null || { echo "demo: building $build failed" >&2; exit 1; }
for t in debootstrap meson systemd-nspawn nsenter mkfs.ext4; do
        command -v "$t" >/dev/null || { "$top/tools/deps.sh" test || exit 1; break; }
done

work=$(mktemp -d /var/tmp/cgpolicy-demo.XXXXXX)
root=$work/root
cleanup() {
        local rc=$?
        e2e_vm_cleanup
        e2e_nspawn_cleanup
        mountpoint -q "$root" && umount "$root"
        rm -rf --one-file-system "$work"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

release=$(e2e_native_release)
debian="Debian $(e2e_debian_version "$release")"
say "$debian rootfs: $(e2e_rootfs "$release" 2>/dev/null | grep . || echo building…)"
lower=$(e2e_rootfs "$release") || { echo "demo: building the $debian rootfs failed" >&2; exit 1; }

prepare() {
        e2e_overlay_root "$lower" "$work" "$root" || return 1
        e2e_prepare_root "$build" "$root" demo || return 1
        mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
        ln -sf /etc/systemd/system/demo-api.service "$root/etc/systemd/system/multi-user.target.wants/demo-api.service"
}

shown=
if [ "$want" = vm ] && command -v qemu-system-x86_64 >/dev/null; then
        prepare || exit 1
        ln -sf /usr/lib/systemd/system/e2e-demo.service "$root/etc/systemd/system/multi-user.target.wants/e2e-demo.service"
        say "booting a $debian VM (qemu/TCG, no network device, about a minute)…"
        if e2e_vm_run "$root" "$work" 600 >"$work/vm.msg" && grep -q '^=== end of demo ===' "$work/report"; then
                tr -d '\r' <"$work/report"
                shown=1
                say "the VM powered itself off"
        else
                say "the VM did not produce the demonstration ($( [ -n "$e2e_vm_timed_out" ] && echo timeout || head -n1 "$work/vm.msg")); falling back to a container"
        fi
        mountpoint -q "$root" && umount "$root"
        rm -rf --one-file-system "$work/root" "$work/upper" "$work/ovlwork" "$work/disk.img"
fi
if [ -z "$shown" ]; then
        prepare || exit 1
        say "booting a $debian container (systemd-nspawn, host kernel $(uname -r), private network)…"
        if ! e2e_nspawn_boot "$root" "$work" >"$work/boot.msg"; then
                cat "$work/boot.msg" >&2
                exit 1
        fi
        e2e_in_guest /usr/lib/cgpolicy-e2e/demo-show.sh container
        e2e_nspawn_poweroff >/dev/null
        say "the container powered off"
fi
