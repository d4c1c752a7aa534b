# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP helpers and assertions of the e2e scenarios. Sourced by run-scenarios.sh inside the
# test machine (nspawn container or VM), where systemd is PID 1 and cgpolicy is installed.

probe=/usr/lib/cgpolicy-e2e/probe.py
tap_n=0
tap_failed=0

ok() {          # ok DESCRIPTION
        tap_n=$((tap_n + 1))
        echo "ok $tap_n - $*"
}

# $tap_todo, when set, is the TAP TODO reason of the checks that follow: a failure is
# reported ("not ok … # TODO reason"), not counted (a known problem not fixed yet).
tap_todo=

not_ok() {      # not_ok DESCRIPTION [DIAGNOSTIC LINES…]
        tap_n=$((tap_n + 1))
        if [ -n "$tap_todo" ]; then
                echo "not ok $tap_n - $1 # TODO $tap_todo"
        else
                tap_failed=$((tap_failed + 1))
                echo "not ok $tap_n - $1"
        fi
        shift
        local l
        for l in "$@"; do
                printf '%s\n' "$l" | sed 's/^/#   /'
        done
}

diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

skip() {        # skip DESCRIPTION REASON: a check that does not apply here
        tap_n=$((tap_n + 1))
        echo "ok $tap_n - $1 # SKIP $2"
}

# check DESCRIPTION COMMAND…: ok when COMMAND succeeds; its output is shown when not.
check() {
        local desc=$1 out
        shift
        if out=$("$@" 2>&1); then
                ok "$desc"
        else
                not_ok "$desc" "command: $*" "$out"
        fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
        if [ "$2" = "$3" ]; then
                ok "$1"
        else
                not_ok "$1" "expected: $2" "actual:   $3"
        fi
}

# check_contains DESCRIPTION NEEDLE HAYSTACK (fixed string)
check_contains() {
        if grep -qF -- "$2" <<<"$3"; then
                ok "$1"
        else
                not_ok "$1" "expected to contain: $2" "in:" "$3"
        fi
}

check_not_contains() {
        if grep -qF -- "$2" <<<"$3"; then
                not_ok "$1" "expected NOT to contain: $2" "in:" "$3"
        else
                ok "$1"
        fi
}

# expect SERVER OP PROTO ADDR PORT RESULT: server SERVER (probe.py serve, running as a
# service) tries OP and sees RESULT (OK, EPERM, …).
expect() {
        local srv=$1 op=$2 proto=$3 addr=$4 port=$5 want=$6 got
        got=$("$probe" ctl "$srv" "$op" "$proto" "$addr" "$port")
        check_eq "$srv: $op $proto [$addr]:$port -> $want" "$want" "$got"
}

show() { systemctl show -P "$2" "$1"; }        # show UNIT PROPERTY

# wait_active UNIT: waits up to 20 s for UNIT to be active and for its probe socket, if any.
wait_active() {
        local i
        for i in $(seq 100); do
                if [ "$(show "$1" ActiveState)" = active ]; then
                        case $1 in
                        e2e-sink.service) return 0 ;;
                        esac
                        [ -n "${2:-}" ] && [ ! -S "/run/cgpolicy-e2e/$2.sock" ] && { sleep 0.2; continue; }
                        return 0
                fi
                sleep 0.2
        done
        return 1
}

# start_server UNIT SERVER: starts UNIT and waits for its probe server SERVER to answer.
start_server() {
        rm -f "/run/cgpolicy-e2e/$2.sock"
        systemctl start "$1" || return 1
        wait_active "$1" "$2"
}

# restart_server UNIT SERVER: restarts UNIT and waits for its new probe server to answer
# (the old server's socket file is removed first, so that it cannot be mistaken for it).
restart_server() {
        rm -f "/run/cgpolicy-e2e/$2.sock"
        systemctl restart "$1" || return 1
        wait_active "$1" "$2"
}

# The cgroup directory of a unit, on the cgroup2 hierarchy systemd runs on.
cgroup_dir() {
        local cg
        cg=$(show "$1" ControlGroup)
        [ -n "$cg" ] || return 1
        echo "/sys/fs/cgroup$cg"
}

journal_of() {  # journal_of UNIT: this boot's journal of UNIT, messages only
        journalctl -b -q -o cat -u "$1" --no-pager
}

# The programs attached to a unit's cgroup, bpftool's view, one "TYPE ID NAME" line each,
# TYPE in systemd's BPFProgram= spelling (bind4, connect6, sendmsg4, …).
attached() {
        local dir
        dir=$(cgroup_dir "$1") || return 0
        bpftool cgroup show "$dir" 2>/dev/null | awk 'NR > 1 {
                t = $2
                sub(/^cgroup_/, "", t)
                if (t ~ /^inet[46]_(bind|connect)$/) t = substr(t, 7) substr(t, 5, 1)
                else if (t ~ /^udp[46]_sendmsg$/) t = "sendmsg" substr(t, 4, 1)
                print t, $1, $NF
        }' | sort
}

# For each of the six attach types, how many of cgpolicy's programs are in force for the
# cgroup of UNIT (bpftool cgroup show DIR effective: attached to it or to an ancestor), as
# "bind4 N bind6 N connect4 N connect6 N sendmsg4 N sendmsg6 N". A program in force twice
# runs twice for every request.
in_force() {
        local dir
        dir=$(cgroup_dir "$1") || return 0
        bpftool cgroup show "$dir" effective 2>/dev/null | awk '
                NR > 1 && $NF ~ /^cgpolicy_/ {
                        t = $2
                        sub(/^cgroup_/, "", t)
                        if (t ~ /^inet[46]_(bind|connect)$/) t = substr(t, 7) substr(t, 5, 1)
                        else if (t ~ /^udp[46]_sendmsg$/) t = "sendmsg" substr(t, 4, 1)
                        n[t]++
                }
                END {
                        split("bind4 bind6 connect4 connect6 sendmsg4 sendmsg6", ts, " ")
                        for (i = 1; i <= 6; i++) printf "%s%s %d", (i > 1 ? " " : ""), ts[i], n[ts[i]]
                        print ""
                }'
}

# The counters of UNIT in "cgpolicy status --json": "ALLOWED_BIND ALLOWED_CONNECT
# DENIED_BIND DENIED_CONNECT", summed over the unit's entries.
counters() {
        cgpolicy status --json "$1" 2>&1 | python3 -c '
import json, sys
u = [e for e in json.load(sys.stdin)["units"] if e["unit"] == sys.argv[1]]
print(*(sum(e[v][d] for e in u) for v in ("allowed", "denied") for d in ("bind", "connect")))
' "$1" 2>&1
}

# in_cgroup UNIT OP PROTO ADDR PORT: carries out one probe operation in a process moved into
# the cgroup of UNIT's running processes (a daemon we cannot ask to do it), so its socket
# is created there and policed like the daemon's own; prints OK or the errno name.
in_cgroup() {
        local dir
        dir=$(cgroup_dir "$1") || { echo "NOCGROUP"; return; }
        sh -c 'echo $$ >"$1/cgroup.procs" || exit 1; exec "$2" once "$3" "$4" "$5" "$6"' \
                sh "$dir" "$probe" "$2" "$3" "$4" "$5" 2>&1 | sed 's/^probe: .*: //'
}

# expect_in UNIT OP PROTO ADDR PORT RESULT
expect_in() {
        check_eq "in $1's cgroup: $2 $3 [$4]:$5 -> $6" "$6" "$(in_cgroup "$1" "$2" "$3" "$4" "$5")"
}

# http_status URL [HOST]: the HTTP status code of a GET (000 when there is no answer).
http_status() {
        python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={"Host": sys.argv[2]} if len(sys.argv) > 2 else {})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print("000", e)
PY
}

# Every pinned path under the cgpolicy bpffs directory.
pins() { find /sys/fs/bpf -mindepth 1 2>/dev/null | sort; }

finish() {
        echo "1..$tap_n"
        [ "$tap_failed" -eq 0 ]
}
