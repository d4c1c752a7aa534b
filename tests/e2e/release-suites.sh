#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The project on a fresh system of another Debian release, as a new user there would build
# and test it: in an overlay of the cached build chroot of RELEASE (lib/buildroot.sh: a
# fresh "debootstrap --variant=minbase" plus the project's own "tools/deps.sh check"),
#   1. tools/deps.sh --simulate test: every package of every suite exists in RELEASE;
#   2. meson setup BUILD_DIR --prefix=/usr -Dwerror=true -De2e=false, ninja;
#   3. meson test --suite unit --suite generator --suite bpf --suite docs --suite package
#      (the bpf suite on this machine's kernel and cgroups, bound into the chroot).
#
#   tests/e2e/release-suites.sh RELEASE BUILD_DIR
#
# The source tree and BUILD_DIR are bound at their own paths, so BUILD_DIR (on this
# machine) holds the build, meson-logs/testlog.json and the release's .deb (BUILD_DIR/deb)
# afterwards. Needs root. Exit status: that of the first step that failed.
set -uo pipefail

release=${1:-}
build=${2:-}
[ -n "$release" ] && [ -n "$build" ] || { echo "usage: $0 RELEASE BUILD_DIR" >&2; exit 2; }
e2e_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$e2e_dir/../.." && pwd)
. "$e2e_dir/lib/debian.sh"
. "$e2e_dir/lib/chroot.sh"
e2e_debian_version "$release" >/dev/null || { echo "release-suites: unknown release $release" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "release-suites: needs root (chroot, cgroups, bpffs)" >&2; exit 1; }

start=$(date +%s)
root=$("$e2e_dir/lib/buildroot.sh" "$release") || { echo "release-suites: building the $release chroot failed" >&2; exit 1; }
echo "# $release build chroot $root (ready after $(( $(date +%s) - start )) s)"
rm -rf "$build"
mkdir -p "$build"
build=$(cd "$build" && pwd)
work=$(mktemp -d /var/tmp/cgpolicy-release.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
mapfile -t binds < <(e2e_git_paths "$top")

e2e_chroot_run --overlay="$root" "$work/root" "${binds[@]}" "$build" -- /bin/bash -c '
        top=$1 build=$2
        set -o pipefail
        . /etc/os-release
        echo "# $PRETTY_NAME: $(uname -r) kernel (this machine), $(clang --version | head -n1), libbpf $(pkg-config --modversion libbpf), systemd $(pkg-config --modversion systemd 2>/dev/null || dpkg-query -W -f="\${Version}" systemd)"
        cd "$top" || exit 1
        t=$(date +%s)
        tools/deps.sh --simulate test || exit 1
        echo "# step 1 (deps --simulate): $(( $(date +%s) - t )) s"
        t=$(date +%s)
        if ! meson setup "$build" --prefix=/usr -Dwerror=true -De2e=false >/tmp/setup.log 2>&1 ||
           ! ninja -C "$build" >/tmp/build.log 2>&1; then
                tail -n 60 /tmp/setup.log /tmp/build.log 2>/dev/null
                echo "# the build failed"
                exit 3
        fi
        echo "# step 2 (meson setup, ninja): $(( $(date +%s) - t )) s"
        t=$(date +%s)
        meson test -C "$build" --print-errorlogs --suite unit --suite generator --suite bpf --suite docs --suite package
        rc=$?
        echo "# step 3 (meson test): $(( $(date +%s) - t )) s"
        exit $rc
' bash "$top" "$build" </dev/null
rc=$?
echo "# total $(( $(date +%s) - start )) s"
exit $rc
