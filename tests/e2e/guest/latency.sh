#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Start latency of a policed service against the same service without keys, same boot.
#
#   latency.sh [N]          (default 20 starts of each)
#
# e2e-lat-plain.service and e2e-lat-policed.service are the same Type=exec service
# (/bin/sleep infinity); the policed one has network keys, so its start includes
# the ExecStartPre=+ helper, which attaches the programs.
# Starts alternate between the two (so drift affects both alike); each is followed by a
# stop. Two figures per start:
#   wall:  the time `systemctl start` takes (Type=exec: returns once the main process has
#          been exec()'d), measured around the command — what a user or a dependent unit waits;
#   active: ActiveEnterTimestampMonotonic (systemd's own timestamp of the unit becoming
#          active) minus CLOCK_MONOTONIC read just before `systemctl start` — the same span
#          without systemctl's own exit. (systemd's InactiveExitTimestamp cannot serve as the
#          start: it is taken after the first process is spawned, i.e. after the cgroup and
#          its BPF programs are set up, and for a unit without ExecStartPre= after the main
#          process is spawned, so it hides exactly the cost in question.)
# Prints medians and the differences, in milliseconds. Two more units split the difference:
# e2e-lat-bpfonly.service (six BPFProgram= lines written by hand: the cost of systemd's
# attachment alone, for comparison) and e2e-lat-prenop.service (ExecStartPre=+/bin/true: the cost of any
# extra privileged process).
set -eu
n=${1:-20}
declare -A wall exec

for i in $(seq "$n"); do
        for u in e2e-lat-plain e2e-lat-policed e2e-lat-bpfonly e2e-lat-prenop; do
                m0=$(python3 -c 'import time; print(time.monotonic_ns() // 1000)')
                t0=$(date +%s%N)
                systemctl start "$u.service"
                t1=$(date +%s%N)
                a=$(systemctl show -P ActiveEnterTimestampMonotonic "$u.service")
                systemctl stop "$u.service"
                wall[$u]+="$(( (t1 - t0) / 1000 )) "
                exec[$u]+="$(( a - m0 )) "
        done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

echo "start latency, median of $n starts each ($(uname -r)); wall = systemctl start, active = request -> ActiveEnterTimestamp:"
wp=$(median <<<"${wall[e2e-lat-plain]}"); ap=$(median <<<"${exec[e2e-lat-plain]}")
for u in e2e-lat-plain e2e-lat-policed e2e-lat-bpfonly e2e-lat-prenop; do
        w=$(median <<<"${wall[$u]}"); a=$(median <<<"${exec[$u]}")
        printf '  %-18s wall %7s ms (%+6s ms)   active %7s ms (%+6s ms)\n' "$u" "$(ms "$w")" "$(ms $((${w%.*} - ${wp%.*})))" "$(ms "$a")" "$(ms $((${a%.*} - ${ap%.*})))"
done
for u in e2e-lat-plain e2e-lat-policed; do
        echo "  raw wall us $u: ${wall[$u]}"
done
