# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs a command in a chroot of another Debian release (sourced; used by buildroot.sh,
# release-suites.sh and tests/package/build-deb.sh).
#
#   e2e_chroot_run [--overlay=LOWER] ROOT [PATH…] -- CMD…
#
# CMD runs as root with ROOT as its /, in a private mount namespace (unshare -m, private
# propagation): every mount made for it disappears with the namespace when CMD ends, and
# none reaches this machine's own mounts. With --overlay=LOWER, ROOT is an overlay of the
# directory tree LOWER (writes land in ROOT.upper, which the caller removes): the cached
# tree stays as it was. The chroot gets a fresh /proc, this machine's /sys (with its cgroup
# hierarchies and bpffs, as the bpf suite needs) and /dev, recursively bound, a tmpfs as /tmp
# and /run, and each PATH of this machine bound at the same path (the source tree and its
# git directory, a build directory): absolute paths mean the same inside and out. The
# environment is cleared but for PATH, HOME, LC_ALL, CI and DEB_BUILD_OPTIONS.

e2e_chroot_run() {
        local lower=
        case $1 in --overlay=*) lower=${1#--overlay=}; shift ;; esac
        local root=$1
        shift
        local binds=()
        while [ $# -gt 0 ] && [ "$1" != -- ]; do binds+=("$1"); shift; done
        [ "${1:-}" = -- ] && shift
        if [ -n "$lower" ]; then
                mkdir -p "$root" "$root.upper" "$root.ovlwork" || return 1
        fi
        unshare -m --propagation private /bin/bash -c '
                set -e
                lower=$1 root=$2 n=$3
                shift 3
                binds=("${@:1:$n}")
                shift "$n"
                if [ -n "$lower" ]; then
                        mount -t overlay overlay -o "lowerdir=$lower,upperdir=$root.upper,workdir=$root.ovlwork" "$root"
                fi
                mount -t proc proc "$root/proc"
                mount --rbind /sys "$root/sys"
                mount --rbind /dev "$root/dev"
                mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
                mount -t tmpfs -o mode=0755 tmpfs "$root/run"
                for b in "${binds[@]}"; do
                        mkdir -p "$root$b"
                        mount --bind "$b" "$root$b"
                done
                # Name resolution for apt, as on this machine.
                cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
                exec chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                        HOME=/root LC_ALL=C.UTF-8 ${CI:+CI=$CI} \
                        ${DEB_BUILD_OPTIONS:+DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS} "$@"
        ' bash "$lower" "$root" "${#binds[@]}" "${binds[@]}" "$@"
}

# The paths a chroot needs to use the git checkout at TOP at its own path: the work tree and
# its git directories (a worktree's .git is a file naming a directory of the main checkout).
e2e_git_paths() {
        local top=$1 d
        echo "$top"
        for d in "$(git -C "$top" rev-parse --path-format=absolute --git-dir 2>/dev/null)" \
                 "$(git -C "$top" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)"; do
                [ -n "$d" ] || continue
                case $d/ in "$top"/*) continue ;; esac
                echo "$d"
        done | awk '!seen[$0]++'
}
