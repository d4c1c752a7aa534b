#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Renders every man page built from man/*.scd with three formatters and fails on any warning:
#   groff -t -ww -man -Tutf8 -z  every groff warning category (bad macros, escapes, line
#                              breaks), tables through tbl as man(1) does (groff 1.23,
#                              Debian 13, warns about a table that was not preprocessed)
#   man --warnings -l          man-db's pipeline, as a user sees the page (80 columns)
#   mandoc -T lint -W warning  mandoc's checks; scdoc's output always begins each section
#                              with a .P that mandoc reports as "skipping paragraph macro"
#                              (harmless: formatters drop it), so that one message is not
#                              counted. Anything else at level warning or above fails.
# Also fails when a configure-time @VARIABLE@ was left unreplaced or a page is empty.
# Usage: test-man-render.sh PAGE...   (TAP output)
set -u

n=0 failed=0
echo "1..$(( $# * 4 ))"

ok() {          # ok DESCRIPTION OUTPUT
        n=$((n + 1))
        if [ -z "$2" ]; then
                echo "ok $n - $1"
        else
                echo "not ok $n - $1"
                printf '%s\n' "$2" | sed 's/^/# /'
                failed=$((failed + 1))
        fi
}

for page in "$@"; do
        name=$(basename "$page")

        out=$(groff -t -ww -man -Tutf8 -z "$page" 2>&1)
        ok "$name: groff -t -ww" "$out"

        out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        ok "$name: man --warnings" "$out"

        out=$(mandoc -T lint -W warning "$page" 2>&1 | grep -v 'WARNING: skipping paragraph macro: PP \(empty\|after SH\|after SS\)$')
        ok "$name: mandoc -T lint" "$out"

        out=""
        [ -s "$page" ] || out="empty page"
        left=$(grep -n '@[A-Z_]*@' "$page")
        [ -n "$left" ] && out="unreplaced variables: $left"
        # Every page has the sections of systemd's pages.
        for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
                grep -q "^\.SH \"\?$s\"\?\$" "$page" || out="$out${out:+; }no section $s"
        done
        ok "$name: structure" "$out"
done

[ "$failed" -eq 0 ]
