#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, with apt-get, the Debian 12 packages cgpolicy needs that are missing.
#   tools/deps.sh build   what building needs
#   tools/deps.sh test    building plus every test suite (VM, container, fuzzing)
set -euo pipefail

build_pkgs=(meson ninja-build pkgconf clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
            libsystemd-dev systemd scdoc python3)
test_pkgs=(mandoc groff-base man-db iproute2 nftables util-linux systemd-container debootstrap
           qemu-system-x86 qemu-utils e2fsprogs libclang-rt-14-dev procps kmod python3 prometheus
           dpkg-dev debhelper fakeroot build-essential lintian git)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing packages (${missing[*]}) and not root; run as root." >&2
        exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
