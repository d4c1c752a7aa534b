#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What "cgpolicy check" prints on standard output about sealing is what cgpolicy(8) documents:
# one line per file without errors that has network rules, in one of the forms of the page
# (with FILE the path given), and errors stay FILE:LINE: KEY: … on standard error. The sealed
# line of the page is the one the binary prints (the page is configured with this build's
# paths).
# Usage: test-check-output.sh CGPOLICY cgpolicy.8.scd(configured)   (TAP)
set -u
cgpolicy=$1 page=$2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

printf '[Service]\nX-CgPolicyConnectDeny=any\n' > "$tmp/sealed.service"
printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicySeal=no\n' > "$tmp/optout.service"
printf '[Service]\nX-CgPolicyBindDeny=any\nX-CgPolicyMode=audit\n' > "$tmp/audit.service"
printf '[Service]\nX-CgPolicyMode=learn\n' > "$tmp/learn.service"
printf '[Service]\nX-CgPolicyMode=learn\nX-CgPolicyOnDenial=kill\n' > "$tmp/learnkill.service"
printf '[Slice]\nX-CgPolicyConnectDeny=any\n' > "$tmp/batch.slice"
printf '[Service]\nX-CgPolicyMemoryMax=1G\n' > "$tmp/resources.service"
printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicySeal=perhaps\n' > "$tmp/bad.service"
printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyOnDenial=freeze\n' > "$tmp/freeze.service"
printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyMode=audit\nX-CgPolicyOnDenial=stop\nX-CgPolicyOnDenialThreshold=3/1min\n' > "$tmp/stop.service"

"$cgpolicy" check "$tmp/sealed.service" "$tmp/optout.service" "$tmp/audit.service" "$tmp/learn.service" "$tmp/batch.slice" \
        "$tmp/resources.service" > "$tmp/out" 2> "$tmp/err"
ok $? "check passes the good files"
[ ! -s "$tmp/err" ]
ok $? "nothing on standard error for them"
sed 's/^/# /' "$tmp/out"

# The forms of the page, FILE replaced by the path.
forms=$(sed -n '/^\*check\* _FILE_/,/^\*[a-z]/p' "$page" | sed -n 's/^\t*FILE: //p')
[ "$(printf '%s\n' "$forms" | grep -c .)" = 12 ]
ok $? "cgpolicy(8) documents twelve forms of the line"
for f in sealed optout audit learn; do
        line=$(grep "^$tmp/$f.service: " "$tmp/out" | sed "s|^$tmp/$f.service: ||")
        printf '%s\n' "$forms" | grep -qxF -- "$line"
        ok $? "$f.service: '$line' is a form cgpolicy(8) documents"
done
line=$(grep "^$tmp/batch.slice: " "$tmp/out" | sed "s|^$tmp/batch.slice: ||")
printf '%s\n' "$forms" | grep -qxF -- "$line"
ok $? "batch.slice: '$line' is a form cgpolicy(8) documents"
grep -q "^$tmp/sealed.service: sealed: ProtectControlGroups=yes .*CapabilityBoundingSet=~.* (X-CgPolicySeal=no opts out)$" "$tmp/out"
ok $? "sealed.service is sealed"
grep -qxF "$tmp/optout.service: not sealed (X-CgPolicySeal=no)" "$tmp/out" &&
        grep -qxF "$tmp/audit.service: not sealed (audit mode)" "$tmp/out" &&
        grep -qxF "$tmp/learn.service: not sealed (learn mode)" "$tmp/out"
ok $? "optout.service, audit.service and learn.service (no rules) are not sealed, with the reason"
! grep -q "resources.service" "$tmp/out" && [ "$(wc -l < "$tmp/out")" = 5 ]
ok $? "no line for a file without network rules, one line for each other file"

"$cgpolicy" check "$tmp/freeze.service" "$tmp/stop.service" "$tmp/learnkill.service" > "$tmp/out" 2> "$tmp/err"
ok $? "check passes the files with X-CgPolicyOnDenial="
for f in freeze stop learnkill; do
        line=$(grep "^$tmp/$f.service: on denial: " "$tmp/out" | sed "s|^$tmp/$f.service: ||")
        printf '%s\n' "$forms" | grep -qxF -- "$line"
        ok $? "$f.service: '$line' is a form cgpolicy(8) documents"
done

printf '[Service]\nX-CgPolicyConnectAllow=api.example.com:443 *.pool.ntp.org:udp:123\nX-CgPolicyConnectDeny=any\n' > "$tmp/names.service"
"$cgpolicy" check "$tmp/names.service" > "$tmp/out" 2> "$tmp/err"
ok $? "check passes a file with name rules"
for pat in "names: api.example.com" "names: no connect allow rule"; do
        line=$(grep "^$tmp/names.service: $pat" "$tmp/out" | sed "s|^$tmp/names.service: ||")
        printf '%s\n' "$forms" | grep -qxF -- "$line"
        ok $? "names.service: '$line' is a form cgpolicy(8) documents"
done

"$cgpolicy" check "$tmp/bad.service" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ $rc = 1 ] && [ ! -s "$tmp/out" ] &&
        grep -qxF "$tmp/bad.service:3: X-CgPolicySeal: invalid boolean 'perhaps': 'yes' or 'no' is expected" "$tmp/err"
ok $? "an error: exit 1, FILE:LINE: KEY: on standard error, nothing on standard output"

echo "1..$n"
[ "$failed" -eq 0 ]
