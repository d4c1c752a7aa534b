#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The machine output of "cgpolicy status" that cgpolicy(8) documents is exactly the one the bpf
# suite checks against the real output (tests/bpf/check-status-output.py):
#   JSON OUTPUT         entries "*PATH* (TYPE)" = check-status-output.py --fields
#   PROMETHEUS METRICS  entries "*NAME*{*LABEL*, ...} (TYPE)" = check-status-output.py --metrics
# and the schema_version the page states is the one the check expects. A field or metric
# added to the code without the page fails the bpf suite (undocumented field); one added to
# the page without the code fails here.
# Usage: test-output-documented.sh CHECK-STATUS-OUTPUT cgpolicy.8.scd   (TAP)
set -u
script=$1 page=$2

section() {     # section HEADING: the lines of "# HEADING" up to the next heading
        awk -v h="# $1" '$0 == h { on = 1; next } on && /^# / { exit } on' "$page"
}

page_fields=$(section "JSON OUTPUT" |
        sed -nE 's/^\*([a-z_.]+(\[\][a-z_.]*)*)\* \(([a-z ]+)\)$/\1 \3/p')
page_metrics=$(section "PROMETHEUS METRICS" |
        sed -nE 's/^\*([a-z_]+)\*(\{(.*)\})? \((gauge|counter)\)$/\1 \4 \3/p' |
        while read -r name type labels; do
                labels=$(printf '%s' "$labels" | tr -d '* ')
                echo "$name $type ${labels:--}"
        done)
page_version=$(section "JSON OUTPUT" | sed -nE '/^\*schema_version\*/,/^$/s/.*The version of this schema: ([0-9]+)\..*/\1/p')

if ! code_fields=$(python3 "$script" --fields) || ! code_metrics=$(python3 "$script" --metrics); then
        echo "1..1"
        echo "not ok 1 - $script --fields/--metrics does not run"
        exit 1
fi
code_version=$(sed -nE 's/^SCHEMA_VERSION = ([0-9]+)$/\1/p' "$script")

n=0 failed=0
check() {       # check DESCRIPTION CONDITION...
        local what=$1
        shift
        n=$((n + 1))
        if "$@"; then
                echo "ok $n - $what"
        else
                echo "not ok $n - $what"
                failed=$((failed + 1))
        fi
}
in_list() {     # in_list LINE LIST
        printf '%s\n' "$2" | grep -qxF -- "$1"
}

echo "1..$(( 3 + 2 * $(printf '%s\n' "$code_fields" | grep -c .) + $(printf '%s\n' "$page_fields" | grep -c .) \
        + 2 * $(printf '%s\n' "$code_metrics" | grep -c .) + $(printf '%s\n' "$page_metrics" | grep -c .) ))"

check "cgpolicy(8) documents JSON fields ($(printf '%s\n' "$page_fields" | grep -c .)) and metrics ($(printf '%s\n' "$page_metrics" | grep -c .))" \
        test -n "$page_fields" -a -n "$page_metrics"
check "cgpolicy(8) states schema_version $page_version, the check expects $code_version" \
        test -n "$page_version" -a "$page_version" = "$code_version"
check "status-output.c writes schema_version $code_version" \
        grep -qE "^#define STATUS_JSON_SCHEMA_VERSION $code_version\$" "$(dirname "$script")/../../cgpolicy/status-output.c"

while read -r line; do
        check "JSON field checked by the bpf suite is documented: $line" in_list "$line" "$page_fields"
        path=${line%% *}
        check "JSON field $path is documented once" test "$(printf '%s\n' "$page_fields" | grep -c -- "^${path//[/\\[} ")" -eq 1
done <<<"$code_fields"
while read -r line; do
        check "documented JSON field is checked by the bpf suite: $line" in_list "$line" "$code_fields"
done <<<"$page_fields"
while read -r line; do
        check "metric checked by the bpf suite is documented (name, type, labels): $line" in_list "$line" "$page_metrics"
        name=${line%% *}
        check "metric $name is documented once" test "$(printf '%s\n' "$page_metrics" | grep -c -- "^$name ")" -eq 1
done <<<"$code_metrics"
while read -r line; do
        check "documented metric is checked by the bpf suite: $line" in_list "$line" "$code_metrics"
done <<<"$page_metrics"

[ "$failed" -eq 0 ]
