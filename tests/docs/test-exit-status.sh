#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The exit statuses cgpolicy(8) documents: 2 for a bad command line, 1 for a failure (here: a
# file with an error for "check", the programs not pinned for "status"), 0 for success. Runs
# unprivileged against a pin directory that does not exist; touches nothing.
# Usage: test-exit-status.sh CGPOLICY   (TAP)
set -u
cgpolicy=$1
export CGPOLICY_BPFFS_DIR=/nonexistent/cgpolicy-test CGPOLICY_RUNTIME_DIR=/nonexistent/cgpolicy-test
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[Service]\nX-CgPolicyConnectAllow=tcp:443\n' >"$tmp/good.service"
printf '[Service]\nX-CgPolicyConectAllow=tcp:443\n' >"$tmp/bad.service"
mkfifo "$tmp/fifo.service"

cases=(
        "2|"
        "2|--bogus"
        "2|frobnicate"
        "2|load extra"
        "2|gc extra"
        "2|apply --unit=a.service --bogus"
        "2|apply --slice=not-a-slice"
        "2|release --bogus"
        "2|status --json --prometheus"
        "2|status --prometheus="
        "2|status a.service b.service"
        "2|denials --bogus"
        "2|check"
        "1|check $tmp/bad.service"
        "1|check $tmp/missing.service"
        "1|check $tmp/fifo.service"
        "1|check /dev/zero"
        "1|status"
        "0|check $tmp/good.service"
        "0|--version"
)
# Unit and slice names as systemd validates them, before anything is opened: exit 2 with the
# name, escaped, on standard error. (Arguments with control characters cannot go through the
# word splitting above: one array each.)
nl=$'\n' esc=$'\033' tab=$'\t'
names=(
        "2|apply|--unit=a.service${nl}UNIT=evil.service|--connect-allow=any"
        "2|apply|--unit=a${esc}[31m.service"
        "2|apply|--unit=a/b.service"
        "2|apply|--unit=../../x.service"
        "2|apply|--unit=foo"
        "2|apply|--unit=foo@.service"
        "2|apply|--unit="
        "2|apply|--unit=a b.service"
        "2|apply|--slice=a--b.slice"
        "2|apply|--slice=a${tab}b.slice"
        "2|apply|--slice=../x.slice"
        "2|release|--unit=x.service${nl}y.service"
        "2|release|--slice=a.service"
        "2|release|--slice=-a.slice"
        "1|apply|--unit=a.service${nl}x|--error=the message wins"
        "1|apply|--unit=a@b.socket|--connect-deny=any"
)
echo "1..$((${#cases[@]} + 2 * ${#names[@]}))"
n=0 fail=0
for c in "${names[@]}"; do
        IFS='|' read -r -d '' -a args <<<"$c" || true
        want=${args[0]}
        args=("${args[@]:1}")
        args[${#args[@]}-1]=${args[${#args[@]}-1]%$'\n'}
        shown=$(printf '%q ' "${args[@]}")
        n=$((n + 1))
        timeout 20 "$cgpolicy" "${args[@]}" >/dev/null 2>"$tmp/stderr"
        got=$?
        if [ "$got" = "$want" ]; then
                echo "ok $n - cgpolicy $shown: exit $want"
        else
                echo "not ok $n - cgpolicy $shown: exit $got, documented $want"
                sed 's/^/# /' "$tmp/stderr"
                fail=1
        fi
        n=$((n + 1))
        if [ "$want" = 2 ]; then
                # One line, no raw control character, naming the option.
                [ "$(wc -l <"$tmp/stderr")" = 1 ] && ! LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <"$tmp/stderr") &&
                        grep -qE -- "--(unit|slice)=.*: not a valid (unit|slice) name" "$tmp/stderr"
        else
                ! grep -q "not a valid" "$tmp/stderr"
        fi
        if [ $? -eq 0 ]; then
                echo "ok $n - cgpolicy $shown: the message names the option, escaped, on one line"
        else
                echo "not ok $n - cgpolicy $shown: the message names the option, escaped, on one line"
                sed 's/^/# /' "$tmp/stderr"
                fail=1
        fi
done
for c in "${cases[@]}"; do
        want=${c%%|*} args=${c#*|}
        n=$((n + 1))
        # shellcheck disable=SC2086
        timeout 20 "$cgpolicy" $args >/dev/null 2>&1
        got=$?
        if [ "$got" = "$want" ]; then
                echo "ok $n - cgpolicy $args: exit $want"
        else
                echo "not ok $n - cgpolicy $args: exit $got, documented $want"
                fail=1
        fi
done
exit $fail
