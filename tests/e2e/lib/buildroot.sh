#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds (once) and prints the path of a cached build chroot of a Debian release: a fresh
# "debootstrap --variant=minbase RELEASE" into which the project's own tools/deps.sh
# installed what building and the check suites need (tools/deps.sh check), as a new user
# of that release would. It builds the release's .deb (tests/package/build-deb.sh
# --release=RELEASE) and runs the suites on that release (tests/e2e/release-suites.sh).
#
#   tests/e2e/lib/buildroot.sh RELEASE        (bookworm, trixie)
#
# Two levels of cache in $CGPOLICY_E2E_CACHE (default /var/cache/cgpolicy-e2e), each
# built in a temporary directory and renamed into place under a lock:
#   base-RELEASE-KEY       the debootstrap alone; KEY hashes its arguments and lib/debian.sh
#   buildroot-RELEASE-KEY  a copy of it after tools/deps.sh check; KEY hashes this script,
#                          lib/debian.sh and tools/deps.sh, so a changed dependency list is
#                          proven again on a fresh system.
# The mirror is the one this machine's apt uses (lib/debian.sh).
set -euo pipefail

release=${1:?usage: $0 RELEASE}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/debian.sh"
. "$here/chroot.sh"
e2e_debian_version "$release" >/dev/null || { echo "buildroot: unknown release $release" >&2; exit 2; }

cache=${CGPOLICY_E2E_CACHE:-/var/cache/cgpolicy-e2e}
debootstrap_args=(--variant=minbase "$release")
base_key=$({ echo "${debootstrap_args[*]}"; cat "$here/debian.sh"; } | sha256sum | cut -c1-16)
key=$(cat "$here/buildroot.sh" "$here/debian.sh" "$top/tools/deps.sh" | sha256sum | cut -c1-16)
base=$cache/base-$release-$base_key
dest=$cache/buildroot-$release-$key

if [ -f "$dest/.cgpolicy-e2e-complete" ]; then
        touch "$dest.used"
        echo "$dest"
        exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock-buildroot-$release"
flock 9
if [ -f "$dest/.cgpolicy-e2e-complete" ]; then   # built by another run while we waited
        touch "$dest.used"
        echo "$dest"
        exit 0
fi

tmp=
cleanup() {
        if [ -n "$tmp" ]; then
                rm -rf --one-file-system "$tmp" "$tmp.log"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$base/.cgpolicy-e2e-complete" ]; then
        tmp=$(mktemp -d "$cache/tmp-base-XXXXXX")
        chmod 0755 "$tmp"
        url=$(e2e_debian_mirror "$release")
        start=$(date +%s)
        echo "buildroot: debootstrap --variant=minbase $release from $url (once; cached as $base)" >&2
        debootstrap "${debootstrap_args[@]}" "$tmp" "$url" >"$tmp.log" 2>&1 || {
                tail -n 40 "$tmp.log" >&2
                exit 1
        }
        rm -f "$tmp.log"
        rm -rf "$tmp"/var/cache/apt/archives/*.deb
        touch "$tmp/.cgpolicy-e2e-complete"
        mv "$tmp" "$base"
        tmp=
        echo "buildroot: debootstrap took $(( $(date +%s) - start )) s" >&2
fi
touch "$base.used"

tmp=$(mktemp -d "$cache/tmp-buildroot-XXXXXX")
chmod 0755 "$tmp"
start=$(date +%s)
echo "buildroot: tools/deps.sh check on a copy of $base (once; cached as $dest)" >&2
cp -a "$base/." "$tmp/"
rm -f "$tmp/.cgpolicy-e2e-complete"
install -D -m 0755 "$top/tools/deps.sh" "$tmp/usr/local/lib/cgpolicy/deps.sh"
e2e_chroot_run "$tmp" -- /usr/local/lib/cgpolicy/deps.sh check >"$tmp.log" 2>&1 || {
        echo "buildroot: tools/deps.sh check failed on a fresh $release:" >&2
        tail -n 40 "$tmp.log" >&2
        exit 1
}
rm -f "$tmp.log"
rm -rf "$tmp"/usr/local/lib/cgpolicy "$tmp"/var/cache/apt/archives/*.deb
touch "$tmp/.cgpolicy-e2e-complete"
mv "$tmp" "$dest"
tmp=
touch "$dest.used"
echo "buildroot: tools/deps.sh check took $(( $(date +%s) - start )) s" >&2
e2e_prune_cache "$cache" base "$base"
e2e_prune_cache "$cache" buildroot "$dest"
echo "$dest"
