#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds (once) and prints the path of the cached Debian 12 rootfs the e2e suites boot.
#
#   tests/e2e/lib/rootfs.sh            print the cached rootfs directory, building it if missing
#
# The cache lives outside the source tree, in $CGPOLICY_E2E_CACHE (default
# /var/cache/cgpolicy-e2e), as rootfs-<key>, where <key> is a hash of this script (which
# holds the package list and the setup steps): changing either builds a new one. The build
# happens in a temporary directory renamed into place at the end, under a lock, so an
# interrupted build leaves nothing half-made and two runs do not build twice.
# The mirror is the Debian mirror this machine's apt uses (first "deb.debian.org"-style
# URI of the bookworm suite in /etc/apt/sources.list*), so no other network is used.
set -euo pipefail

# nginx and redis-server: real daemons run under the ready drop-ins of dropins/ (the
# "daemons" scenario); redis-server brings redis-tools (redis-cli).
packages=(systemd systemd-sysv udev dbus iproute2 python3 procps kmod bpftool
          libbpf1 libelf1 zlib1g libsystemd0 linux-image-amd64 initramfs-tools
          nginx redis-server)

cache=${CGPOLICY_E2E_CACHE:-/var/cache/cgpolicy-e2e}
self=$(readlink -f "${BASH_SOURCE[0]}")
key=$(sha256sum "$self" | cut -c1-16)
dest=$cache/rootfs-$key

if [ -f "$dest/.cgpolicy-e2e-complete" ]; then
        echo "$dest"
        exit 0
fi

mirror() {      # the URI host apt uses for Debian's main archive
        local f uri
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                # one-line style: deb URI bookworm main
                uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' "$f")
                # deb822 style: URIs: … followed by Suites: bookworm …
                [ -n "$uri" ] || uri=$(awk '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && u != "") { print u; exit } }' "$f")
                if [ -n "$uri" ]; then echo "$uri"; return 0; fi
        done
        echo http://deb.debian.org/debian
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$dest/.cgpolicy-e2e-complete" ]; then   # built by another run while we waited
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

url=$(mirror)
echo "rootfs: debootstrap bookworm from $url into $tmp (once; cached as $dest)" >&2
inc=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$inc" bookworm "$tmp" "$url" >"$tmp.log" 2>&1 || {
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
# Older cached builds are of no use any more, unless a run still has one mounted (as the
# lower directory of its overlay).
for old in "$cache"/rootfs-*; do
        [ "$old" = "$dest" ] && continue
        grep -qF "lowerdir=$old," /proc/self/mountinfo && continue
        rm -rf --one-file-system "$old"
done
echo "$dest"
