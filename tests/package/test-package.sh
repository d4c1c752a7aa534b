#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Suite "package": the Debian package, as an administrator gets it. TAP on stdout.
#
#   tests/package/test-package.sh OUTDIR
#
# 1. "dpkg-buildpackage -b -us -uc" builds the package from a copy of the source tree
#    (build-deb.sh; the .deb, .changes and build log land in OUTDIR, and the VM suite
#    installs that same .deb);
# 2. lintian reports no error (E:) and no warning (W:) on the .changes (the .deb and its
#    dbgsym), with the lintian of the release it is built on; info (I:) lines are shown;
# 3. the .deb holds the binaries, the generator in the system generator directory, every
#    unit of units/, every man page of man/, every drop-in of dropins/ under
#    /usr/share/cgpolicy/dropins/, the bash completion, and nothing else;
# 4. its maintainer scripts, run for real with systemctl, deb-systemd-helper,
#    deb-systemd-invoke and cgpolicy replaced by stubs that record their calls, in a private
#    mount namespace with a tmpfs as /run and as /sys/fs/bpf (so nothing on this machine is
#    touched): they call systemctl only where systemd is running (/run/systemd/system exists),
#    reload systemd there on install and removal, re-run the loader on upgrade, and removal
#    and purge delete the pins under /sys/fs/bpf/cgpolicy and /run/cgpolicy.
#    (Installing the package for real is the VM suite's part: never on this machine.)
# Without the tools (or, for 4, without root) the test skips outside CI and fails under CI.
set -u

outdir=${1:?usage: $0 OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() {
        n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift
        local l; for l in "$@"; do printf '%s\n' "$l" | sed 's/^/#   /'; done
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
missing() {     # missing REASON: skip the whole test outside CI, fail under CI
        if [ -z "${CI:-}" ]; then echo "1..0 # SKIP $1"; exit 0; fi
        echo "Bail out! $1"; exit 1
}

for t in git dpkg-buildpackage dpkg-deb lintian dh tar; do
        command -v "$t" >/dev/null || missing "$t not installed (tools/deps.sh test)"
done
[ -d "$top/.git" ] || git -C "$top" rev-parse --git-dir >/dev/null 2>&1 || missing "not a git checkout"

# 1. build
start=$(date +%s)
if deb=$("$here/build-deb.sh" "$outdir" 2>"$outdir.err") && [ -f "$deb" ]; then
        ok "dpkg-buildpackage -b -us -uc builds $(basename "$deb") ($(( $(date +%s) - start )) s)"
        sed 's/^/# /' "$outdir.err"
else
        not_ok "dpkg-buildpackage -b -us -uc builds the package" "$(cat "$outdir.err" 2>/dev/null)"
        echo "1..$n"; exit 1
fi
rm -f "$outdir.err"
changes=$(ls "$outdir"/cgpolicy_*.changes | head -n1)
dh_tests=$(grep -E '^(Ok|Fail|Skipped):' "$outdir/build.log" | tr -s ' \n' ' ')
diag "the package build ran the unit, generator and docs suites: ${dh_tests:-none (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})}"

# 2. lintian
lint=$(lintian --fail-on error --display-info "$changes" 2>&1)
rc=$?
lint=$(grep -v 'running with root privileges' <<<"$lint")
[ -n "$lint" ] && diag "lintian:" "$lint"
if [ "$rc" -eq 0 ] && ! grep -q '^[EW]: ' <<<"$lint"; then
        ok "lintian ($(lintian --version 2>/dev/null)): no error, no warning ($(grep -c '^I: ' <<<"$lint") info)"
else
        not_ok "lintian: no error, no warning (exit status $rc)" "$(grep '^[EW]: ' <<<"$lint")"
fi

# 3. contents
contents=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { p = $6; sub(/^\./, "", p); print p }' | sort)
expect=()
libsd=$(grep -o '^/\(usr/\)\?lib/systemd/system-generators/' <<<"$contents" | head -n1)
libsd=${libsd%system-generators/}
expect+=(/usr/bin/cgpolicy)
expect+=("${libsd}system-generators/cgpolicy-generator")
for f in "$top"/units/*; do
        case $f in
        *.in) u=$(basename "$f" .in) ;;
        *.service|*.timer|*.socket|*.path|*.slice|*.target) u=$(basename "$f") ;;
        *) continue ;;
        esac
        expect+=("${libsd}system/$u")
done
for f in "$top"/man/*.scd; do
        m=$(basename "$f" .scd)
        expect+=("/usr/share/man/man${m##*.}/$m.gz")
done
for f in "$top"/dropins/*.conf; do
        expect+=("/usr/share/cgpolicy/dropins/$(basename "$f")")
done
expect+=(/usr/share/bash-completion/completions/cgpolicy)
expect+=(/usr/lib/sysusers.d/cgpolicy.conf)
expect+=(/usr/share/doc/cgpolicy/copyright /usr/share/doc/cgpolicy/changelog.gz)
if [ -n "$libsd" ]; then
        ok "the generator is in ${libsd}system-generators"
else
        not_ok "the generator is in a system generator directory" "$contents"
fi
for e in "${expect[@]}"; do
        if grep -qxF -- "$e" <<<"$contents"; then ok "the package has $e"; else not_ok "the package has $e"; fi
done
extra=$(comm -23 <(echo "$contents") <(printf '%s\n' "${expect[@]}" | sort))
if [ -z "$extra" ]; then ok "the package has nothing else"; else not_ok "the package has nothing else" "$extra"; fi
perm=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ && $6 ~ /\/(bin|system-generators)\// && $1 != "-rwxr-xr-x" { print }')
if [ -z "$perm" ]; then ok "the binaries are 0755 root:root"; else not_ok "the binaries are 0755 root:root" "$perm"; fi
if dpkg-deb -f "$deb" Depends | grep -qw systemd; then ok "it depends on systemd"; else not_ok "it depends on systemd" "$(dpkg-deb -f "$deb" Depends)"; fi

# 4. maintainer scripts
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
        if [ -n "${CI:-}" ]; then not_ok "maintainer scripts: needs root and unshare"; else skip "maintainer scripts: needs root and unshare"; fi
        echo "1..$n"; [ "$failed" -eq 0 ]; exit
fi
tmp=$(mktemp -d /var/tmp/cgpolicy-pkgtest.XXXXXX)
trap 'rm -rf --one-file-system "$tmp"' EXIT
dpkg-deb -e "$deb" "$tmp/control"
mkdir "$tmp/bin"
for s in systemctl deb-systemd-helper deb-systemd-invoke cgpolicy; do
        printf '#!/bin/sh\necho "%s $*" >>"$STUB_LOG"\nexit 0\n' "$s" >"$tmp/bin/$s"
        chmod +x "$tmp/bin/$s"
done

# maint SYSTEMD(yes|no) SCRIPT ARGS…: runs the maintainer script in a private mount
# namespace where /run and /sys/fs/bpf are fresh tmpfs instances, with pins and runtime
# state in place; prints the stubs' calls, then "pins: present|gone" and
# "runtime: present|gone", then "exit N".
maint() {
        local sd=$1 script=$2
        shift 2
        : >"$tmp/log"
        [ -f "$tmp/control/$script" ] || { echo "absent"; return; }
        STUB_LOG=$tmp/log PATH="$tmp/bin:$PATH" unshare -m --propagation private sh -c '
                sd=$1 script=$2; shift 2
                mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /sys/fs/bpf || exit 99
                [ "$sd" = yes ] && mkdir -p /run/systemd/system
                mkdir -p /sys/fs/bpf/cgpolicy/maps /run/cgpolicy
                : >/sys/fs/bpf/cgpolicy/connect4; : >/sys/fs/bpf/cgpolicy/maps/cgp_cgroups
                : >/run/cgpolicy/state
                sh "$script" "$@"; rc=$?
                cat "$STUB_LOG"
                [ -e /sys/fs/bpf/cgpolicy ] && echo "pins: present" || echo "pins: gone"
                [ -e /run/cgpolicy ] && echo "runtime: present" || echo "runtime: gone"
                echo "exit $rc"' sh "$sd" "$tmp/control/$script" "$@" 2>&1
}

# check_maint DESCRIPTION OUTPUT REGEX… (each REGEX: grep -E, "!" prefix for "must not match")
check_maint() {
        local desc=$1 out=$2 re bad=()
        shift 2
        for re in "$@"; do
                if [ "${re#!}" != "$re" ]; then
                        grep -qE -- "${re#!}" <<<"$out" && bad+=("must not match: ${re#!}")
                else
                        grep -qE -- "$re" <<<"$out" || bad+=("must match: $re")
                fi
        done
        if [ ${#bad[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${bad[@]}" "output:" "$out"; fi
}

for s in preinst prerm; do
        out=$(maint no $s install; maint no $s upgrade 0.0; maint no $s remove)
        if [ "$out" = "$(printf 'absent\nabsent\nabsent')" ]; then
                ok "$s: none (nothing to do)"
        else
                check_maint "$s without systemd running: no systemctl, exit 0" "$out" '!^systemctl' '!^deb-systemd-invoke' '!^exit [^0]'
        fi
done
out=$(maint no postinst configure "")
check_maint "postinst configure (install) without systemd running (a chroot): no systemctl, exit 0" "$out" \
        '!^systemctl' '!^deb-systemd-invoke' '!^cgpolicy' '^exit 0$'
out=$(maint no postinst configure 0.0)
check_maint "postinst configure (upgrade) without systemd running: no systemctl, no loader, exit 0" "$out" \
        '!^systemctl' '!^deb-systemd-invoke' '!^cgpolicy' '^exit 0$'
out=$(maint yes postinst configure "")
check_maint "postinst configure (install) with systemd running: daemon-reload (runs the generator), the loader is not started, exit 0" "$out" \
        '^systemctl --system daemon-reload' '!^systemctl (start|restart|stop)' '!^deb-systemd-invoke' '!^cgpolicy load' '^exit 0$'
out=$(maint yes postinst configure 0.0)
check_maint "postinst configure (upgrade) with systemd running and the loader active: daemon-reload and cgpolicy load, exit 0" "$out" \
        '^systemctl --system daemon-reload' '^cgpolicy load$' '!^systemctl (start|restart|stop)' '^exit 0$'
out=$(maint no postrm remove)
check_maint "postrm remove without systemd running: no systemctl; pins and runtime state removed" "$out" \
        '!^systemctl' '^pins: gone$' '^runtime: gone$' '^exit 0$'
out=$(maint yes postrm remove)
check_maint "postrm remove with systemd running: daemon-reload (the generated drop-ins go); pins and runtime state removed" "$out" \
        '^systemctl --system daemon-reload' '^pins: gone$' '^runtime: gone$' '^exit 0$'
if [ "$(grep -c '^systemctl --system daemon-reload' <<<"$out")" -eq 1 ]; then ok "postrm remove reloads systemd once"; else not_ok "postrm remove reloads systemd once" "$out"; fi
out=$(maint no postrm purge)
check_maint "postrm purge: no systemctl; pins and runtime state removed" "$out" \
        '!^systemctl' '^pins: gone$' '^runtime: gone$' '^exit 0$'
out=$(maint yes postrm upgrade 0.2)
check_maint "postrm upgrade: pins kept, no systemctl" "$out" '!^systemctl' '^pins: present$' '^exit 0$'

echo "1..$n"
[ "$failed" -eq 0 ]
