#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, with apt-get, the Debian packages cgpolicy needs that are missing, on Debian 12
# (bookworm) or Debian 13 (trixie). Where the releases name a package differently, the name
# is chosen by what this machine's apt offers, not by a table of releases:
#   systemd-dev        systemd.pc (Debian 13 moved it out of systemd; Debian 12 has no such package)
#   libclang-rt-N-dev  libFuzzer and the sanitizer runtimes of the clang that is installed
#                      (or that the "clang" package would install): clang 14 on Debian 12, 19 on 13
#
#   tools/deps.sh [--simulate] build   what building needs
#   tools/deps.sh [--simulate] check   building plus the unit, generator, bpf, docs and package suites
#   tools/deps.sh [--simulate] test    everything: also the e2e suites (container, VM) and fuzzing
#
# --simulate installs nothing: it prints the packages that are missing and lets apt-get
# resolve them (apt-get -s install), so it fails when the release lacks one.
set -euo pipefail

simulate=
if [ "${1:-}" = --simulate ]; then simulate=1; shift; fi
level=${1:-build}

# dpkg-dev: dpkg-architecture names the multiarch directory of <asm/types.h> (bpf/meson.build).
build_pkgs=(meson ninja-build pkgconf clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
            libsystemd-dev systemd scdoc python3 linux-libc-dev dpkg-dev)
check_pkgs=(mandoc groff-base man-db iproute2 util-linux procps kmod prometheus
            debhelper fakeroot build-essential lintian git)
test_pkgs=(systemd-container debootstrap qemu-system-x86 qemu-utils e2fsprogs)

case $level in
build) want=("${build_pkgs[@]}") ;;
check) want=("${build_pkgs[@]}" "${check_pkgs[@]}") ;;
test)  want=("${build_pkgs[@]}" "${check_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 [--simulate] build|check|test" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive
updated=
apt_update() {          # apt_update [lookup]: for a look-up, package lists of any age will do
        [ -z "$updated" ] || return 0
        if [ "${1:-}" = lookup ] && compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then return 0; fi
        updated=1
        if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; fi
}
# (No "| grep -q" here: under pipefail, grep leaving early can fail the pipeline.)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
available() {
        local c
        c=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
        [ -n "$c" ] && [ "$c" != "(none)" ]
}

# Packages whose name depends on the release.
if installed systemd-dev; then
        want+=(systemd-dev)
else
        apt_update lookup
        if available systemd-dev; then want+=(systemd-dev); fi
fi
if [ "$level" = test ]; then
        if command -v clang >/dev/null; then
                clang_major=$(clang -dumpversion | cut -d. -f1)
        else
                apt_update lookup
                clang_major=$(apt-cache depends clang 2>/dev/null | sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | sed -n 1p)
        fi
        if [ -z "$clang_major" ]; then
                echo "deps: cannot tell which clang this release installs (apt-cache depends clang)" >&2
                exit 1
        fi
        want+=("libclang-rt-$clang_major-dev")
fi

missing=()
for p in "${want[@]}"; do
        installed "$p" || missing+=("$p")
done
if [ -n "$simulate" ]; then
        echo "deps ($level, $(. /etc/os-release; echo "${PRETTY_NAME:-unknown system}")): ${want[*]}"
        echo "deps: missing: ${missing[*]:-nothing}"
        [ ${#missing[@]} -eq 0 ] && exit 0
        apt_update lookup
        apt-get -s -qq install --no-install-recommends "${missing[@]}" >/dev/null
        echo "deps: apt-get can install every missing package"
        exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing packages (${missing[*]}) and not root; run as root." >&2
        exit 1
fi
echo "deps: installing ${missing[*]}" >&2
apt_update
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
