# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the host side of the e2e suites (nspawn.sh, vm.sh) and tools/demo.sh.
# Sourced, not run. Expects $e2e_dir (tests/e2e) to be set.

e2e_log() { echo "# $*"; }

# e2e_skip_or_fail REASON: a missing prerequisite. Outside CI and not root: skip (exit 77;
# under meson, whose TAP protocol knows no exit status 77, a "1..0 # SKIP" plan and exit 0).
# Everywhere else it is a failure.
e2e_skip_or_fail() {
        if [ "$(id -u)" -ne 0 ] && [ -z "${CI:-}" ]; then
                echo "1..0 # SKIP $1"
                [ -n "${CGPOLICY_E2E_UNDER_MESON:-}" ] && exit 0
                exit 77
        fi
        echo "Bail out! $1"
        exit 1
}

# With $CGPOLICY_E2E_LOCK set (a file), waits for an exclusive lock on it (flock) and holds
# it until the script exits: on a machine shared by several people, one suite at a time
# boots systemd. Says how long it waited.
e2e_take_lock() {
        local t
        [ -n "${CGPOLICY_E2E_LOCK:-}" ] || return 0
        t=$(date +%s)
        exec 8>>"$CGPOLICY_E2E_LOCK" && flock 8
        e2e_log "waited $(( $(date +%s) - t )) s for the lock $CGPOLICY_E2E_LOCK"
}

e2e_require_root_and_tools() {    # e2e_require_root_and_tools TOOL...
        local t
        [ "$(id -u)" -eq 0 ] || e2e_skip_or_fail "needs root"
        for t in "$@"; do
                command -v "$t" >/dev/null || e2e_skip_or_fail "$t not installed (tools/deps.sh test)"
        done
}

# Mount point of the hierarchy whose filesystem type is $1 and, for cgroup v1, whose super
# options contain $2 (e.g. name=systemd), from /proc/self/mountinfo.
e2e_cgroup_mount() {
        awk -v type="$1" -v opt="${2:-}" '{
                for (i = 1; i <= NF; i++) if ($i == "-") break
                if ($(i + 1) != type) next
                if (opt != "" && ("," $(i + 3) ",") !~ ("," opt ",")) next
                print $5; exit
        }' /proc/self/mountinfo
}

# Removes a cgroup directory and every child below it, deepest first; waits up to 10 s
# for the processes in it to be gone.
e2e_rmdir_cgroup() {
        local dir=$1 i
        [ -d "$dir" ] || return 0
        for i in $(seq 50); do
                find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
                [ -d "$dir" ] || return 0
                sleep 0.2
        done
        echo "# cleanup: could not remove cgroup $dir" >&2
        return 1
}

. "$e2e_dir/lib/debian.sh"
. "$e2e_dir/lib/chroot.sh"

# The release of the machines that get this machine's own build (meson install: nspawn, the
# demo): this machine's release when it is a supported one, so that the binaries find the
# libraries they were linked with; else Debian 12.
e2e_native_release() {
        local r
        r=$(e2e_host_codename)
        case " $(e2e_debian_releases) " in *" $r "*) echo "$r" ;; *) echo bookworm ;; esac
}

# The cached rootfs of RELEASE (default: e2e_native_release), built once, see lib/rootfs.sh.
e2e_rootfs() { "$e2e_dir/lib/rootfs.sh" "${1:-$(e2e_native_release)}"; }

# e2e_prepare_root BUILD_DIR ROOT MODE [DEB]: ROOT (a writable copy of the cached rootfs)
# gets the project, the guest side of the suites and the scenario units of MODE (nspawn, vm
# or demo). The project: with DEB, that Debian package, installed with "dpkg -i" in a chroot
# into ROOT (no systemd runs there, so its maintainer scripts must not call systemctl; the
# output lands in ROOT/usr/lib/cgpolicy-e2e/dpkg-install.log for the guest's checks);
# without, "meson install --destdir" of BUILD_DIR (which must be configured with
# --prefix=/usr for its units to name the right paths).
e2e_prepare_root() {
        local build=$1 root=$2 mode=$3 deb=${4:-} prefix
        install -d "$root/usr/lib/cgpolicy-e2e"
        if [ -n "$deb" ]; then
                install -m 0644 "$deb" "$root/var/cache/cgpolicy.deb" || return 1
                # In a chroot with /proc, /sys and /dev (and an empty /run: no systemd runs
                # there), as an administrator's chroot has them; systemctl (deb-systemd-helper)
                # complains without /proc on Debian 13.
                if ! e2e_chroot_run "$root" -- dpkg -i /var/cache/cgpolicy.deb \
                                >"$root/usr/lib/cgpolicy-e2e/dpkg-install.log" 2>&1 </dev/null; then
                        echo "# dpkg -i $(basename "$deb") in the rootfs failed:" >&2
                        sed 's/^/#   /' "$root/usr/lib/cgpolicy-e2e/dpkg-install.log" >&2
                        return 1
                fi
                # Kept for the "upgrade" scenario (dpkg -i again, with systemd running).
                mv "$root/var/cache/cgpolicy.deb" "$root/usr/lib/cgpolicy-e2e/cgpolicy.deb"
                basename "$deb" >"$root/usr/lib/cgpolicy-e2e/installed-from-deb"
        else
                prefix=$(meson introspect --buildoptions "$build" 2>/dev/null |
                         python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
                if [ "$prefix" != /usr ]; then
                        echo "# $build is configured with --prefix=$prefix; the e2e suites install it as a system package and need --prefix=/usr" >&2
                        return 1
                fi
                meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null || return 1
        fi
        install -m 0755 "$e2e_dir"/guest/*.py "$e2e_dir"/guest/*.sh "$root/usr/lib/cgpolicy-e2e/"
        [ "$mode" = demo ] || cp -a "$e2e_dir/units/common/." "$root/"
        [ -d "$e2e_dir/units/$mode" ] && cp -a "$e2e_dir/units/$mode/." "$root/"
        echo "$mode" >"$root/usr/lib/cgpolicy-e2e/mode"
        return 0
}

# Overlay ROOT on the cached rootfs LOWER, with upper and work directories below WORK.
# Falls back to a full copy when overlayfs is not available.
e2e_overlay_root() {
        local lower=$1 work=$2 root=$3
        mkdir -p "$work/upper" "$work/ovlwork" "$root"
        if mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/ovlwork" "$root" 2>/dev/null; then
                return 0
        fi
        cp -a "$lower/." "$root/"
}
