#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds (once) and prints the path of the cached Debian rootfs the e2e suites boot.
#
#   tests/e2e/lib/rootfs.sh [RELEASE]     print the cached rootfs of RELEASE (bookworm, the
#                                         default, or trixie), building it if missing
#
# The cache lives outside the source tree, in $CGPOLICY_E2E_CACHE (default
# /var/cache/cgpolicy-e2e), as rootfs-RELEASE-<key>, where <key> is a hash of this script
# (which holds the package list and the setup steps) and lib/debian.sh: changing either
# builds a new one. The build happens in a temporary directory renamed into place at the
# end, under a lock, so an interrupted build leaves nothing half-made and two runs do not
# build twice. The mirror is the Debian mirror this machine's apt uses (lib/debian.sh), so no
# other network is used.
set -euo pipefail

release=${1:-bookworm}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/debian.sh"
e2e_debian_version "$release" >/dev/null || { echo "rootfs: unknown release $release" >&2; exit 2; }

# nginx and redis-server: real daemons run under the ready drop-ins of dropins/ (the
# "daemons" scenario); redis-server brings redis-tools (redis-cli). The libraries the .deb
# depends on (libbpf1 and through it libelf, zlib) are here because "dpkg -i" installs no
# dependency. linux-image-amd64 is the release's kernel: 6.1 in Debian 12, 6.12 in 13.
packages=(systemd systemd-sysv udev dbus iproute2 python3 procps kmod bpftool
          libbpf1 libsystemd0 linux-image-amd64 initramfs-tools
          nginx redis-server)

cache=${CGPOLICY_E2E_CACHE:-/var/cache/cgpolicy-e2e}
key=$(cat "$here/rootfs.sh" "$here/debian.sh" | sha256sum | cut -c1-16)
dest=$cache/rootfs-$release-$key

if [ -f "$dest/.cgpolicy-e2e-complete" ]; then
        touch "$dest.used"
        echo "$dest"
        exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock-rootfs-$release"
flock 9
if [ -f "$dest/.cgpolicy-e2e-complete" ]; then   # built by another run while we waited
        touch "$dest.used"
        echo "$dest"
        exit 0
fi

tmp=$(mktemp -d "$cache/tmp-rootfs-XXXXXX")
chmod 0755 "$tmp"       # it becomes the machine's /
cleanup() {
        if [ -n "${tmp:-}" ]; then
                rm -rf --one-file-system "$tmp" "$tmp.log"
        fi
}
trap cleanup EXIT

url=$(e2e_debian_mirror "$release")
echo "rootfs: debootstrap $release from $url into $tmp (once; cached as $dest)" >&2
inc=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$inc" "$release" "$tmp" "$url" >"$tmp.log" 2>&1 || {
        tail -n 40 "$tmp.log" >&2
        exit 1
}
rm -f "$tmp.log"

# A machine that boots quickly and quietly, both as a container and as a VM.
echo cgpolicy-e2e >"$tmp/etc/hostname"
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$tmp/etc/fstab"
: >"$tmp/etc/machine-id"                # a fresh id at every boot
ln -sf /dev/null "$tmp/etc/systemd/system/systemd-timesyncd.service"
ln -sf /dev/null "$tmp/etc/systemd/system/apt-daily.timer"
ln -sf /dev/null "$tmp/etc/systemd/system/apt-daily-upgrade.timer"
ln -sf /dev/null "$tmp/etc/systemd/system/dpkg-db-backup.timer"
ln -sf /dev/null "$tmp/etc/systemd/system/e2scrub_all.timer"
ln -sf /dev/null "$tmp/etc/systemd/system/fstrim.timer"
# The daemons start when a scenario starts them, not at boot (debootstrap installs
# packages with a policy-rc.d that refuses every start, so none ran on this machine).
systemctl --root="$tmp" disable --quiet nginx.service redis-server.service
mkdir -p "$tmp/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$tmp/etc/systemd/journald.conf.d/e2e.conf"
passwd -R "$tmp" -d root >/dev/null
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages

# The kernel and initrd for qemu -kernel/-initrd.
ls "$tmp"/boot/vmlinuz-* "$tmp"/boot/initrd.img-* >/dev/null

touch "$tmp/.cgpolicy-e2e-complete"
mv "$tmp" "$dest"
tmp=
touch "$dest.used"
e2e_prune_cache "$cache" rootfs "$dest"
echo "$dest"
