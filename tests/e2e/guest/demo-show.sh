#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demonstration, inside the booted machine: shows demo-api.service's keys, the drop-in
# the generator made of them, what the service tried and what the kernel allowed or
# refused, its CPU and memory limits as the kernel holds them, and cgpolicy's own view.
#   demo-show.sh vm|container
set -u
probe=/usr/lib/cgpolicy-e2e/probe.py
where=${1:-vm}
unit=demo-api.service

section() { printf '\n=== %s ===\n' "$*"; }

for _ in $(seq 100); do
        [ -S /run/cgpolicy-e2e/demo-api.sock ] && break
        [ "$(systemctl show -P ActiveState $unit)" = failed ] && break
        systemctl start --no-block $unit 2>/dev/null
        sleep 0.2
done

section "Machine"
echo "$(uname -r) kernel, $(systemctl --version | head -n1), in a $where"
echo "cgpolicy-load.service: $(systemctl show -P ActiveState cgpolicy-load.service) (programs pinned in /sys/fs/bpf/cgpolicy: $(ls /sys/fs/bpf/cgpolicy 2>/dev/null | grep -v maps | tr '\n' ' '))"

section "The unit, as the administrator wrote it: /etc/systemd/system/$unit"
grep -v '^#' /etc/systemd/system/$unit

section "The drop-in cgpolicy-generator wrote (systemctl cat $unit shows it too)"
f=/run/systemd/generator/$unit.d/zz-cgpolicy.conf
echo "# $f"
cat "$f" 2>&1

section "systemctl show $unit"
systemctl show -p ActiveState -p CPUQuotaPerSecUSec -p MemoryMax -p ControlGroup $unit

section "The programs cgpolicy apply attached to its cgroup"
bpftool cgroup show "/sys/fs/cgroup$(systemctl show -P ControlGroup $unit)" 2>&1

section "What $unit tried (each attempt made by the service's own process)"
try() {         # try DESCRIPTION OP PROTO ADDR PORT
        local desc=$1 res
        shift
        res=$("$probe" ctl demo-api "$@")
        case $res in
        OK) printf '  %-52s allowed\n' "$desc" ;;
        EPERM) printf '  %-52s REFUSED: EPERM (Operation not permitted)\n' "$desc" ;;
        *) printf '  %-52s %s\n' "$desc" "$res" ;;
        esac
}
if [ "$(systemctl show -P ActiveState $unit)" != active ]; then
        echo "  $unit is not running; its journal:"
        journalctl -b -q --no-pager -o cat -u $unit | tail -n 15 | sed 's/^/    /'
fi
greeting=$(python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 8080), 3); print(s.recv(64).decode().strip())' 2>&1)
rc=$?
greeting=$(tail -n1 <<<"$greeting")
if [ $rc -eq 0 ]; then
        printf '  %-52s allowed (it answers: "%s")\n' "listen on TCP port 8080" "$greeting"
else
        printf '  %-52s %s\n' "listen on TCP port 8080" "not listening: $greeting"
fi
try "bind TCP port 9000"                        bind tcp 127.0.0.1 9000
try "bind UDP port 8080"                        bind udp 127.0.0.1 8080
try "connect TCP 127.0.0.1:443 (HTTPS)"         connect tcp 127.0.0.1 443
try "connect TCP [::1]:443 (HTTPS over IPv6)"   connect tcp ::1 443
try "connect TCP 127.0.0.1:80 (HTTP)"           connect tcp 127.0.0.1 80
try "connect TCP [::ffff:127.0.0.1]:80 (v4-mapped)" connect tcp ::ffff:127.0.0.1 80
try "connect TCP 127.0.0.1:5432 (not in 10.0.0.0/8)" connect tcp 127.0.0.1 5432
try "send UDP to 127.0.0.1:53 (DNS)"            sendto udp 127.0.0.1 53
try "send UDP to [::1]:53 (DNS over IPv6)"      sendto udp ::1 53
try "send UDP to 127.0.0.1:123 (NTP)"           sendto udp 127.0.0.1 123

section "CPU and memory limits as the kernel holds them"
cg=/sys/fs/cgroup$(systemctl show -P ControlGroup $unit)
[ "$cg" = /sys/fs/cgroup ] && cg=/sys/fs/cgroup/system.slice/$unit
for f in cpu.max memory.max; do
        if [ -f "$cg/$f" ]; then
                printf '  %-60s %s\n' "$cg/$f" "$(cat "$cg/$f")"
        else
                printf '  %-60s %s\n' "$cg/$f" "(absent: this $where's cgroup2 has no ${f%%.*} controller; systemd holds $(systemctl show -P "$( [ $f = cpu.max ] && echo CPUQuotaPerSecUSec || echo MemoryMax)" $unit))"
        fi
done
[ -f "$cg/cpu.max" ] && echo "  (cpu.max \"50000 100000\": 50 ms of CPU time per 100 ms period = 50%)"

section "cgpolicy status $unit"
cgpolicy status $unit 2>&1

section "cgpolicy denials"
timeout 5 cgpolicy denials 2>&1 | tail -n 20

section "bpftool cgroup show $cg"
bpftool cgroup show "$cg" 2>&1
echo
echo "=== end of demo ==="
