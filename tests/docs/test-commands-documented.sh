#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every subcommand and every long option that "cgpolicy --help" lists is documented in
# cgpolicy(8): a command is the term of an entry of the COMMANDS section ("*NAME*" at the
# start of a line), an option appears as "*--NAME" in the page. Every command documented
# in COMMANDS must be one the binary lists, too. The lists come from the binary's --help,
# so the page cannot fall behind the code.
# Usage: test-commands-documented.sh CGPOLICY cgpolicy.8.scd   (TAP)
set -u
cgpolicy=$1 page=$2

if [ ! -x "$cgpolicy" ] || ! help=$("$cgpolicy" --help 2>&1); then
        echo "1..1"
        echo "not ok 1 - '$cgpolicy --help' does not run"
        exit 1
fi

# Commands: the first word of each indented line of the section whose heading
# contains "Commands" (up to the next line that is not indented).
commands=$(printf '%s\n' "$help" | awk '
        /^([^ \t].*)?[Cc]ommands?:?[ \t]*$/ { incmd = 1; next }
        incmd && /^[ \t]+[a-z]/ { print $1; next }
        incmd && /^[^ \t]/ { incmd = 0 }' | sort -u)
options=$(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)

section=$(sed -n '/^# COMMANDS$/,/^# [A-Z]/p' "$page")
documented=$(printf '%s\n' "$section" | grep -oE '^\*[a-z][a-z-]*\*' | tr -d '*' | sort -u)

ncmd=$(printf '%s\n' "$commands" | grep -c .)
nopt=$(printf '%s\n' "$options" | grep -c .)
ndoc=$(printf '%s\n' "$documented" | grep -c .)
echo "1..$((1 + ncmd + nopt + ndoc))"
i=1 failed=0
if [ "$ncmd" -gt 0 ]; then
        echo "ok 1 - --help lists $ncmd commands:" $commands
else
        echo "not ok 1 - found no command list in '$cgpolicy --help'"
        printf '%s\n' "$help" | sed 's/^/# /'
        failed=1
fi
for c in $commands; do
        i=$((i + 1))
        if printf '%s\n' "$documented" | grep -qx -- "$c"; then
                echo "ok $i - command $c is documented in cgpolicy(8)"
        else
                echo "not ok $i - command $c is in --help but not in the COMMANDS of cgpolicy(8)"
                failed=$((failed + 1))
        fi
done
for o in $options; do
        i=$((i + 1))
        if grep -qE -- "\*$o(\*|=)" "$page"; then
                echo "ok $i - option $o is documented in cgpolicy(8)"
        else
                echo "not ok $i - option $o is in --help but not in cgpolicy(8)"
                failed=$((failed + 1))
        fi
done
for c in $documented; do
        i=$((i + 1))
        if printf '%s\n' "$commands" | grep -qx -- "$c"; then
                echo "ok $i - documented command $c exists in the binary"
        else
                echo "not ok $i - cgpolicy(8) documents command $c, which --help does not list"
                failed=$((failed + 1))
        fi
done
[ "$failed" -eq 0 ]
