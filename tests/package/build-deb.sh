#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian package of this source tree with "dpkg-buildpackage -b -us -uc" and
# prints the path of the .deb.
#
#   tests/package/build-deb.sh [--release=RELEASE] OUTDIR
#
# With --release= naming a Debian release other than this machine's (bookworm, trixie),
# the package is built for that release, in an overlay of its cached build chroot
# (tests/e2e/lib/buildroot.sh: a fresh debootstrap plus tools/deps.sh check), with this
# source tree and OUTDIR bound at their own paths.
#
# The build runs on a copy of the working tree (the files git tracks or would track:
# "git ls-files --cached --others --exclude-standard", so build directories and other
# ignored files are left out) in a temporary directory, never in place. The .deb, .changes
# and .buildinfo land in OUTDIR, with the build log (OUTDIR/build.log). A key (a hash of
# every copied path and its contents, $DEB_BUILD_OPTIONS and the release built on) is kept in OUTDIR/source-key: when it matches, the
# package in OUTDIR is reused, so the package suite and the VM suite build it once per run.
# A lock on OUTDIR serializes runs. Exit status 0 with the .deb's path on stdout, else 1.
set -euo pipefail

release=
case ${1:-} in --release=*) release=${1#--release=}; shift ;; esac
outdir=${1:?usage: $0 [--release=RELEASE] OUTDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
. "$top/tests/e2e/lib/debian.sh"
host_release=$(e2e_host_codename)

if [ -n "$release" ] && [ "$release" != "$host_release" ]; then
        . "$top/tests/e2e/lib/chroot.sh"
        root=$("$top/tests/e2e/lib/buildroot.sh" "$release")
        work=$(mktemp -d /var/tmp/cgpolicy-deb-chroot.XXXXXX)
        trap 'rm -rf --one-file-system "$work"' EXIT
        mapfile -t binds < <(e2e_git_paths "$top")
        echo "build-deb: building for $release in an overlay of $root" >&2
        e2e_chroot_run --overlay="$root" "$work/root" "${binds[@]}" "$outdir" -- \
                "$top/tests/package/build-deb.sh" "$outdir" </dev/null
        exit
fi

# The files of the source tree, NUL-separated, those that exist (a tracked file may be
# deleted in the working tree); symlinks are kept as symlinks (dangling ones too).
files() {
        git -C "$top" ls-files -z --cached --others --exclude-standard |
                while IFS= read -r -d '' f; do
                        if [ -e "$top/$f" ] || [ -L "$top/$f" ]; then printf '%s\0' "$f"; fi
                done
}

# The source as a tar stream with fixed metadata: its hash is the key, and it is what the
# build gets.
tmp=$(mktemp -d /var/tmp/cgpolicy-deb.XXXXXX)
trap 'rm -rf --one-file-system "$tmp"' EXIT
(cd "$top" && files | tar -c -f "$tmp/src.tar" --sort=name --mtime=@0 --owner=0 --group=0 \
        --numeric-owner --no-recursion --null -T -)
key=$({ sha256sum <"$tmp/src.tar"; echo "DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}"; echo "release=$host_release"; } | sha256sum | cut -c1-64)

exec 9>"$outdir/.lock"
flock 9

find_deb() {    # the package's .deb (cgpolicy-dbgsym_*.deb does not match)
        local f
        for f in "$outdir"/cgpolicy_*.deb; do
                [ -f "$f" ] && { echo "$f"; return 0; }
        done
        return 0
}

if [ "$(cat "$outdir/source-key" 2>/dev/null)" = "$key" ] && [ -n "$(find_deb)" ]; then
        echo "build-deb: reusing $(find_deb) (same source)" >&2
        find_deb
        exit 0
fi

version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$tmp/cgpolicy-$version
mkdir "$src"
tar -x -C "$src" -f "$tmp/src.tar"
# The tar stream has fixed mtimes (for the key); dh_builddeb clamps newer ones to the
# changelog's date, but keeps older ones (lintian: package-contains-ancient-file).
find "$src" -exec touch -h {} +

rm -f "$outdir"/*.deb "$outdir"/*.changes "$outdir"/*.buildinfo "$outdir/source-key"
start=$(date +%s)
echo "build-deb: dpkg-buildpackage -b -us -uc in $src (log: $outdir/build.log)" >&2
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$outdir/build.log" 2>&1; then
        echo "build-deb: dpkg-buildpackage failed; last lines of $outdir/build.log:" >&2
        tail -n 40 "$outdir/build.log" >&2
        exit 1
fi
mv "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$outdir/"
# The .changes names the other files by their basename: they sit next to it.
echo "$key" >"$outdir/source-key"
echo "build-deb: built in $(( $(date +%s) - start )) s" >&2
find_deb
