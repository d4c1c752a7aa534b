#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The e2e scenarios, run inside the booted test machine (systemd as PID 1, cgpolicy
# installed, the units of tests/e2e/units/ in place). TAP on stdout.
#
#   run-scenarios.sh nspawn|vm [SCENARIO…]
#
# nspawn: everything but CPU/memory enforcement (the host's cgroup2 has no controllers);
# vm: the release's own kernel (Debian 12: 6.1, Debian 13: 6.12) with every controller: CPU
# and memory enforcement, the loader's programs through that kernel's verifier, a core
# subset of the network checks, and (systemd built with BPF_FRAMEWORK: Debian 13) systemd's
# own SocketBind as the reference of the bind rules.
set -u
. /usr/lib/cgpolicy-e2e/lib.sh

mode=${1:-nspawn}
shift
gen=/run/systemd/generator

# ---------------------------------------------------------------------------------------
# Boot: the generator ran at boot, the loader before the first policed unit, which was
# policed from its very first start. Runs first, before anything reloads or restarts.
sc_boot() {
        diag "boot: kernel $(uname -r), $(systemctl --version | head -n1)"
        check "generator ran at boot: $gen/e2e-server.service.d/zz-cgpolicy.conf exists" \
                test -f "$gen/e2e-server.service.d/zz-cgpolicy.conf"
        check_eq "cgpolicy-load.service is active after boot" "active/success" \
                "$(show cgpolicy-load.service ActiveState)/$(show cgpolicy-load.service Result)"
        check_contains "e2e-server.service is ordered after cgpolicy-load.service" \
                cgpolicy-load.service "$(show e2e-server.service After)"
        check_contains "e2e-server.service wants cgpolicy-load.service" \
                cgpolicy-load.service "$(show e2e-server.service Wants)"
        local loaded started
        loaded=$(show cgpolicy-load.service ActiveEnterTimestampMonotonic)
        started=$(show e2e-server.service InactiveExitTimestampMonotonic)
        if [ "${loaded:-0}" -gt 0 ] && [ "${started:-0}" -ge "$loaded" ]; then
                ok "the loader finished (${loaded} us) before e2e-server.service started (${started} us)"
        else
                not_ok "the loader finished before e2e-server.service started" "loader active at ${loaded} us, server left inactive at ${started} us"
        fi
        check_eq "e2e-server.service started at boot and is running" active "$(show e2e-server.service ActiveState)"
        check_eq "e2e-server.service has not been restarted yet" 0 "$(show e2e-server.service NRestarts)"
        wait_active e2e-server.service e2e-server
        local j
        j=$(journal_of e2e-server.service)
        check_not_contains "first start: systemd found the pinned programs (no 'does not exist, skipping')" \
                "does not exist" "$j"
        expect e2e-server connect tcp 127.0.0.1 443 OK
        expect e2e-server connect tcp 127.0.0.1 9000 EPERM
        expect e2e-server bind tcp 127.0.0.1 7000 EPERM
}

# ---------------------------------------------------------------------------------------
# What systemctl shows for a unit with keys in /usr/lib overridden by an /etc drop-in.
sc_show() {
        local cat
        cat=$(systemctl cat e2e-server.service 2>&1)
        check_contains "systemctl cat shows the generated drop-in" \
                "# $gen/e2e-server.service.d/zz-cgpolicy.conf" "$cat"
        check_contains "systemctl cat shows the administrator's drop-in" \
                "# /etc/systemd/system/e2e-server.service.d/override.conf" "$cat"
        check_contains "the generated drop-in names its sources" \
                "/etc/systemd/system/e2e-server.service.d/override.conf" \
                "$(grep -i '^# *source' "$gen/e2e-server.service.d/zz-cgpolicy.conf" 2>&1)"
        check_eq "CPUQuotaPerSecUSec from the /etc override (50%)" 500ms "$(show e2e-server.service CPUQuotaPerSecUSec)"
        check_eq "MemoryMax from the /etc override (256M)" 268435456 "$(show e2e-server.service MemoryMax)"
        local t
        # The helper attaches the programs itself (systemd.cgpolicy(5), ATTACHMENT).
        check_eq "no BPFProgram= for systemd to attach" "" "$(show e2e-server.service BPFProgram)"
        local pre
        pre=$(show e2e-server.service ExecStartPre)
        check_contains "the helper runs as ExecStartPre with the overridden bind rule" "--bind-allow=tcp:8080-8089" "$pre"
        check_not_contains "the reset rule (tcp:7000) is gone" "7000" "$pre"
        check_contains "the helper releases the policy in ExecStopPost" "release" "$(show e2e-server.service ExecStopPost)"
        check_eq "a unit without keys has no generated drop-in" no \
                "$([ -e "$gen/e2e-plain.service.d/zz-cgpolicy.conf" ] && echo yes || echo no)"
        local a
        a=$(attached e2e-server.service)
        for t in bind4 bind6 connect4 connect6 sendmsg4 sendmsg6; do
                check_contains "bpftool: a $t program is attached to e2e-server.service's cgroup" "$t " "$a"
        done
}

# ---------------------------------------------------------------------------------------
# The network matrix, seen by the running server (the override's rules):
#   bind: deny any, allow tcp:8080-8089      connect: deny any, allow tcp:443 udp:53 ipv6:tcp:8443
net_matrix() {          # net_matrix SERVER full|core
        local s=$1
        expect "$s" bind tcp 127.0.0.1 8081 OK
        expect "$s" bind tcp ::1 8082 OK
        expect "$s" bind tcp 127.0.0.1 7000 EPERM
        expect "$s" bind tcp ::1 7000 EPERM
        expect "$s" bind udp 127.0.0.1 8081 EPERM
        expect "$s" connect tcp 127.0.0.1 443 OK
        expect "$s" connect tcp ::1 443 OK
        expect "$s" connect tcp ::ffff:127.0.0.1 443 OK
        expect "$s" connect tcp 127.0.0.1 9000 EPERM
        expect "$s" connect tcp ::1 9000 EPERM
        expect "$s" connect tcp ::ffff:127.0.0.1 9000 EPERM
        expect "$s" sendto udp 127.0.0.1 53 OK
        expect "$s" sendto udp 127.0.0.1 123 EPERM
        expect "$s" sendto udp ::ffff:127.0.0.1 123 EPERM
        [ "$2" = full ] || return 0
        expect "$s" bind tcp 127.0.0.1 0 OK                     # ephemeral: matched by no rule
        expect "$s" bind udp ::1 8081 EPERM
        expect "$s" connect udp 127.0.0.1 53 OK
        expect "$s" connect udp ::1 53 OK
        expect "$s" connect udp 127.0.0.1 123 EPERM
        expect "$s" connect udp ::1 123 EPERM
        expect "$s" connect udp ::ffff:127.0.0.1 123 EPERM
        expect "$s" connect udp ::ffff:127.0.0.1 53 OK
        expect "$s" sendto udp ::1 53 OK
        expect "$s" sendto udp ::1 123 EPERM
        expect "$s" sendto udp ::ffff:127.0.0.1 53 OK
        expect "$s" connect tcp ::1 8443 OK                     # ipv6:tcp:8443
        expect "$s" connect tcp 127.0.0.1 8443 EPERM
        expect "$s" connect tcp ::ffff:127.0.0.1 8443 EPERM     # v4-mapped: IPv4 rules
}

sc_network() {
        net_matrix e2e-server full
        # The same requests from a service without keys all pass.
        start_server e2e-plain.service e2e-plain || not_ok "e2e-plain.service starts"
        check_eq "a unit without keys has no cgpolicy program attached" "" \
                "$(cgroup_dir e2e-plain.service >/dev/null && attached e2e-plain.service || echo 'no cgroup')"
        expect e2e-plain connect tcp 127.0.0.1 9000 OK
        expect e2e-plain bind tcp 127.0.0.1 7000 OK
        expect e2e-plain sendto udp ::1 123 OK
}

sc_network_core() {
        net_matrix e2e-server core
}

# ---------------------------------------------------------------------------------------
# Restart: the new cgroup is policed (the helper attaches the programs at every start).
sc_restart() {
        local before after
        before=$(stat -c %i "$(cgroup_dir e2e-server.service)")
        check "systemctl restart e2e-server.service" restart_server e2e-server.service e2e-server
        after=$(stat -c %i "$(cgroup_dir e2e-server.service)")
        if [ "$before" != "$after" ]; then ok "restart: a new cgroup ($before -> $after)"; else not_ok "restart: a new cgroup" "cgroup id stayed $before"; fi
        expect e2e-server connect tcp 127.0.0.1 9000 EPERM
        expect e2e-server connect tcp ::1 443 OK
        expect e2e-server sendto udp 127.0.0.1 123 EPERM
        expect e2e-server bind tcp 127.0.0.1 7000 EPERM
        local a t
        a=$(attached e2e-server.service)
        for t in connect4 sendmsg6 bind4; do
                check_contains "after restart a $t program is attached to the new cgroup" "$t " "$a"
        done
        # stop + start too
        systemctl stop e2e-server.service
        start_server e2e-server.service e2e-server || not_ok "e2e-server.service starts again"
        expect e2e-server connect tcp 127.0.0.1 9000 EPERM
        expect e2e-server connect tcp 127.0.0.1 443 OK
}

# ---------------------------------------------------------------------------------------
# Each of cgpolicy's programs in force exactly once for a unit's cgroup, and each request
# counted exactly once ("cgpolicy status --json"), after start, restart, stop/start,
# daemon-reload and a restart after it. The helper attaches them, not systemd: systemd 252
# drops BPFProgram= programs at a restart (systemd#26845) and 257 detaches them from running
# units at every daemon-reload (systemd.cgpolicy(5), ATTACHMENT); a daemon-reload must leave
# the running unit's programs as they are on both.
once_six="bind4 1 bind6 1 connect4 1 connect6 1 sendmsg4 1 sendmsg6 1"

once_check() {          # once_check WHEN
        local when=$1 c0 c1 d
        check_eq "$when: each cgpolicy program is in force once for e2e-once.service's cgroup" \
                "$once_six" "$(in_force e2e-once.service)"
        c0=$(counters e2e-once.service)
        expect e2e-once bind tcp 127.0.0.1 7200 OK
        expect e2e-once bind tcp ::1 7201 EPERM
        expect e2e-once connect tcp 127.0.0.1 443 OK
        expect e2e-once sendto udp ::1 123 EPERM
        c1=$(counters e2e-once.service)
        d=$(python3 -c 'import sys; a, b = sys.argv[1].split(), sys.argv[2].split(); print(*(int(y) - int(x) for x, y in zip(a, b)))' "$c0" "$c1" 2>&1)
        check_eq "$when: each request counted once (allowed bind, allowed connect, denied bind, denied connect: $c0 -> $c1)" \
                "1 1 1 1" "$d"
}

sc_attach_once() {
        check "e2e-once.service starts" start_server e2e-once.service e2e-once
        once_check "after start"
        check "systemctl restart e2e-once.service" restart_server e2e-once.service e2e-once
        once_check "after restart"
        systemctl stop e2e-once.service
        check "systemctl stop and start e2e-once.service" start_server e2e-once.service e2e-once
        once_check "after stop/start"
        check "systemctl daemon-reload" systemctl daemon-reload
        once_check "after daemon-reload"
        diag "systemd's messages about e2e-once.service's BPF programs:" \
                "$(journalctl -b -q -o cat -u e2e-once.service --no-pager | grep -i 'bpf' | tail -n 8)"
        check "systemctl restart e2e-once.service after the daemon-reload" restart_server e2e-once.service e2e-once
        once_check "after daemon-reload and restart"
        systemctl stop e2e-once.service
}

# ---------------------------------------------------------------------------------------
# systemd's own SocketBindAllow=/SocketBindDeny= (systemd >= 249 built with its BPF
# framework: Debian 13, not Debian 12's build, which ignores them) as the reference for
# cgpolicy's bind rules: a unit with SocketBind…= and a unit with the same X-CgPolicyBind…=
# rules see the same result for every bind their grammar can express (families, TCP/UDP,
# single ports, ranges, "any", port 0). Where cgpolicy differs on purpose
# (systemd.cgpolicy(5)), the check names the difference and asserts both results.
sb_same() {             # sb_same SET PROTO ADDR PORT
        local set=$1 a b
        a=$("$probe" ctl "e2e-sb-$set-systemd" bind "$2" "$3" "$4")
        b=$("$probe" ctl "e2e-sb-$set-cgpolicy" bind "$2" "$3" "$4")
        sb_results+="$a "
        check_eq "$set: bind $2 [$3]:$4: cgpolicy as systemd's SocketBind ($a)" "$a" "$b"
}

sb_differs() {          # sb_differs SET PROTO ADDR PORT SYSTEMD CGPOLICY WHY
        local set=$1 a b
        a=$("$probe" ctl "e2e-sb-$set-systemd" bind "$2" "$3" "$4")
        b=$("$probe" ctl "e2e-sb-$set-cgpolicy" bind "$2" "$3" "$4")
        check_eq "$set: bind $2 [$3]:$4: documented difference, $7: systemd $5, cgpolicy $6" "$5 $6" "$a $b"
}

sc_socketbind() {
        local set sb_results=
        if ! systemctl --version | grep -q '+BPF_FRAMEWORK'; then
                skip "SocketBindAllow=/SocketBindDeny= as the reference" "this systemd is built without BPF_FRAMEWORK and ignores them ($(systemctl --version | head -n1))"
                return 0
        fi
        for set in allow deny; do
                check "e2e-sb-$set-systemd.service starts" start_server "e2e-sb-$set-systemd.service" "e2e-sb-$set-systemd"
                check "e2e-sb-$set-cgpolicy.service starts" start_server "e2e-sb-$set-cgpolicy.service" "e2e-sb-$set-cgpolicy"
        done
        check_contains "systemd's own: SocketBindAllow= is set on e2e-sb-allow-systemd.service" "7310-7319" \
                "$(show e2e-sb-allow-systemd.service SocketBindAllow)"
        # Deny any; allow tcp:7300 ipv6:udp:7301 7310-7319 ipv4:7320
        sb_same allow tcp 127.0.0.1 7300
        sb_same allow tcp ::1 7300
        sb_same allow udp 127.0.0.1 7300
        sb_same allow udp ::1 7300
        sb_same allow udp ::1 7301
        sb_same allow udp 127.0.0.1 7301
        sb_same allow tcp ::1 7301
        sb_same allow tcp 127.0.0.1 7310
        sb_same allow udp ::1 7315
        sb_same allow tcp ::1 7319
        sb_same allow udp 127.0.0.1 7309
        sb_same allow tcp 127.0.0.1 7320
        sb_same allow udp 127.0.0.1 7320
        sb_same allow tcp ::1 7320
        sb_same allow udp 127.0.0.1 8000
        sb_same allow tcp ::1 65535
        sb_same allow tcp 127.0.0.1 1
        # Deny ipv6 udp:7400-7409 tcp:7410, no allow rule
        sb_same deny tcp ::1 7500
        sb_same deny udp ::1 7500
        sb_same deny tcp 127.0.0.1 7500
        sb_same deny udp 127.0.0.1 7400
        sb_same deny udp 127.0.0.1 7409
        sb_same deny udp 127.0.0.1 7410
        sb_same deny tcp 127.0.0.1 7405
        sb_same deny tcp 127.0.0.1 7410
        sb_same deny tcp 127.0.0.1 0                            # no rule of either matches
        check_contains "systemd's SocketBind refused some of them (it is in force here)" EPERM "$sb_results"
        check_contains "systemd's SocketBind allowed some of them" OK "$sb_results"
        # IPv4-mapped IPv6 addresses: systemd judges the AF_INET6 socket address by its IPv6
        # rules, cgpolicy judges the IPv4 address inside by the IPv4 rules.
        sb_differs allow tcp ::ffff:127.0.0.1 7320 EPERM OK "v4-mapped address judged by the IPv4 rule ipv4:7320"
        sb_differs deny tcp ::ffff:127.0.0.1 7500 EPERM OK "v4-mapped address not matched by the IPv6 rule ipv6"
        # Port 0 (an explicit bind asking for an ephemeral port): systemd's rules without a
        # port match it, cgpolicy's never do.
        sb_differs allow tcp 127.0.0.1 0 EPERM OK "port 0 matched by systemd's any, by no cgpolicy rule"
        sb_differs allow udp ::1 0 EPERM OK "port 0 matched by systemd's any, by no cgpolicy rule"
        sb_differs deny tcp ::1 0 EPERM OK "port 0 matched by systemd's ipv6, by no cgpolicy rule"
        for set in allow deny; do
                systemctl stop "e2e-sb-$set-systemd.service" "e2e-sb-$set-cgpolicy.service"
        done
}

# ---------------------------------------------------------------------------------------
sc_prestart() {
        if systemctl start e2e-prestart.service 2>/dev/null; then
                not_ok "a unit whose ExecStartPre= connects where refused fails to start"
        else
                ok "a unit whose ExecStartPre= connects where refused fails to start"
        fi
        check_contains "its ExecStartPre= saw EPERM" \
                "probe: connect tcp 127.0.0.1 9000: EPERM" "$(journal_of e2e-prestart.service)"
        check "the same with an allowed connect in ExecStartPre= starts" \
                start_server e2e-prestart-ok.service e2e-prestart-ok
        check_contains "its ExecStartPre= connected" \
                "probe: connect tcp 127.0.0.1 443: OK" "$(journal_of e2e-prestart-ok.service)"
        systemctl stop e2e-prestart-ok.service
}

# ---------------------------------------------------------------------------------------
sc_bad() {
        local f line j u key
        for u in e2e-badkey:X-CgPolicyConectAllow e2e-badval:X-CgPolicyBindAllow; do
                key=${u#*:}
                u=${u%%:*}.service
                f=/usr/lib/systemd/system/$u
                line=$(grep -n "^$key=" "$f" | cut -d: -f1)
                if systemctl start "$u" 2>/dev/null; then
                        not_ok "$u ($key) refuses to start"
                        systemctl stop "$u"
                else
                        ok "$u ($key) refuses to start"
                fi
                check_eq "$u is not running" failed "$(show "$u" ActiveState)"
                j=$(journal_of "$u")
                check_contains "$u: its journal says $f:$line: $key: …" "$f:$line: $key: " "$j"
                check_not_contains "$u: its main process never ran" "probe ${u%.service}: serving" "$j"
        done
        local out
        out=$(cgpolicy check /usr/lib/systemd/system/e2e-badkey.service 2>&1)
        check_eq "cgpolicy check on the bad unit fails" 1 "$?"
        check_contains "cgpolicy check says FILE:LINE: KEY:" "/usr/lib/systemd/system/e2e-badkey.service:$(grep -n "^X-CgPolicyConectAllow=" /usr/lib/systemd/system/e2e-badkey.service | cut -d: -f1): X-CgPolicyConectAllow: " "$out"
        check "cgpolicy check on a good unit succeeds" cgpolicy check /usr/lib/systemd/system/e2e-server.service
        check_eq "other units are unaffected: e2e-server.service is active" active "$(show e2e-server.service ActiveState)"
        systemctl stop e2e-plain.service
        check "other units start normally: e2e-plain.service" start_server e2e-plain.service e2e-plain
}

# ---------------------------------------------------------------------------------------
sc_template() {
        check "worker@a.service starts" start_server worker@a.service worker-a
        check_contains "worker@a.service has the generated drop-in (template)" "zz-cgpolicy.conf" \
                "$(systemctl cat worker@a.service 2>&1 | grep '^# ')"
        expect worker-a connect tcp 127.0.0.1 443 OK
        expect worker-a connect tcp 127.0.0.1 9000 EPERM
        expect worker-a connect tcp ::1 9000 EPERM
        expect worker-a sendto udp 127.0.0.1 53 EPERM
}

# ---------------------------------------------------------------------------------------
sc_slice() {
        check "e2e-s1.service (in e2e-pol.slice) starts" start_server e2e-s1.service e2e-s1
        check "e2e-s2.service (in e2e-pol.slice) starts" start_server e2e-s2.service e2e-s2
        check_eq "e2e-s1.service runs in e2e-pol.slice" /e2e.slice/e2e-pol.slice/e2e-s1.service "$(show e2e-s1.service ControlGroup)"
        local s
        for s in e2e-s1 e2e-s2; do
                expect $s connect tcp 127.0.0.1 443 OK
                expect $s connect tcp ::1 443 OK
                expect $s connect tcp 127.0.0.1 9000 EPERM
                expect $s connect tcp ::ffff:127.0.0.1 9000 EPERM
                expect $s sendto udp 127.0.0.1 53 OK
                expect $s sendto udp ::1 123 EPERM
        done
        check_contains "connect4 is attached to the slice's cgroup (by cgpolicy-apply@e2e-pol.slice)" "connect4 " "$(attached e2e-pol.slice)"
        check_eq "its services get none of their own (the slice's programs run for them)" "" "$(attached e2e-s1.service)"
        # A service with only bind rules in this connect-only slice: its helper attaches
        # bind4/bind6, not the connect programs the slice has in force already.
        check "e2e-s3.service (bind rules, in e2e-pol.slice) starts" start_server e2e-s3.service e2e-s3
        check_eq "e2e-s3.service's cgroup has bind4/bind6 of its own, not the slice's connect programs" \
                "bind4 bind6" "$(attached e2e-s3.service | awk '$1 ~ /^(bind|connect|sendmsg)[46]$/ { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')"
        expect e2e-s3 bind tcp 127.0.0.1 7100 OK
        expect e2e-s3 bind tcp 127.0.0.1 7101 EPERM
        expect e2e-s3 bind udp ::1 7100 EPERM
        expect e2e-s3 connect tcp 127.0.0.1 443 OK
        expect e2e-s3 connect tcp 127.0.0.1 9000 EPERM
        check "systemctl restart e2e-s3.service" restart_server e2e-s3.service e2e-s3
        expect e2e-s3 bind tcp 127.0.0.1 7101 EPERM
        expect e2e-s3 connect tcp 127.0.0.1 9000 EPERM
        systemctl stop e2e-s3.service
        # stop one: the other stays policed
        systemctl stop e2e-s1.service
        expect e2e-s2 connect tcp 127.0.0.1 9000 EPERM
        expect e2e-s2 connect tcp 127.0.0.1 443 OK
        systemctl stop e2e-s2.service
        # The slice stopped and started again (a new cgroup): still policed, listed once.
        check "systemctl stop e2e-pol.slice" systemctl stop e2e-pol.slice
        check "e2e-s1.service starts again in the restarted slice" start_server e2e-s1.service e2e-s1
        expect e2e-s1 connect tcp 127.0.0.1 443 OK
        expect e2e-s1 connect tcp 127.0.0.1 9000 EPERM
        check_eq "cgpolicy status lists e2e-pol.slice once, with its current cgroup" \
                "1 $(stat -c %i /sys/fs/cgroup/e2e.slice/e2e-pol.slice 2>&1)" \
                "$(cgpolicy status e2e-pol.slice | grep -c '^e2e-pol.slice') $(cgpolicy status e2e-pol.slice | sed -n 's/.*(id \([0-9]*\)).*/\1/p' | tr '\n' ' ' | sed 's/ $//')"
        systemctl stop e2e-s1.service
}

# ---------------------------------------------------------------------------------------
sc_live() {
        local conf=/etc/systemd/system/e2e-live.service.d/policy.conf
        check "e2e-live.service starts" start_server e2e-live.service e2e-live
        expect e2e-live connect tcp 127.0.0.1 443 OK
        expect e2e-live connect tcp 127.0.0.1 9000 EPERM
        printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyConnectAllow=tcp:9000\n' >"$conf"
        check "daemon-reload after editing the keys" systemctl daemon-reload
        check_contains "the generated drop-in has the new rule" "--connect-allow=tcp:9000" "$(cat "$gen/e2e-live.service.d/zz-cgpolicy.conf" 2>&1)"
        check "restart" restart_server e2e-live.service e2e-live
        expect e2e-live connect tcp 127.0.0.1 9000 OK
        expect e2e-live connect tcp 127.0.0.1 443 EPERM
        expect e2e-live connect tcp ::1 443 EPERM
}

# ---------------------------------------------------------------------------------------
# Live policy changes without a restart (issue 11): edit the drop-in, daemon-reload, then
# "cgpolicy reload UNIT" while a client in the unit loops over an address allowed before and
# after (never refused), one the edit removes (refused from the moment reload returns) and one
# it adds (allowed from then); the drift marker before the reload; invalid new keys keep the
# policy in force; a 10,000-rule reload; keys removed.
reload_results() {      # reload_results LOG T_DONE: the client's attempts judged against T_DONE
        python3 - "$1" "$2" <<'PY'
import sys
t_done = int(sys.argv[2])
keep = keep_bad = rem = rem_bad = add = add_bad = 0
for line in open(sys.argv[1]):
    try:
        start, port, res = line.split()
    except ValueError:
        continue
    start = int(start)
    if port == "443":
        keep += 1
        keep_bad += res != "OK"
    elif start > t_done and port == "8443":
        rem += 1
        rem_bad += res != "EPERM"
    elif start > t_done and port == "9000":
        add += 1
        add_bad += res != "OK"
print(keep, keep_bad, rem, rem_bad, add, add_bad)
PY
}

sc_reload() {
        local conf=/etc/systemd/system/e2e-reload.service.d/policy.conf log=/run/cgpolicy-e2e/reload.log
        local inv pid t0 t1 st out rc res i dir
        check "e2e-reload.service starts" start_server e2e-reload.service e2e-reload
        inv=$(show e2e-reload.service InvocationID)
        expect e2e-reload connect tcp 127.0.0.1 443 OK
        expect e2e-reload connect tcp 127.0.0.1 8443 OK
        expect e2e-reload connect tcp 127.0.0.1 9000 EPERM

        # The edit, loaded by systemd but not in force yet: status marks it.
        printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyConnectAllow=tcp:443 tcp:9000\n' >"$conf"
        check "daemon-reload after editing the keys" systemctl daemon-reload
        expect e2e-reload connect tcp 127.0.0.1 9000 EPERM
        st=$(cgpolicy status e2e-reload.service 2>&1)
        check_contains "status marks the drift, with the command that fixes it" "cgpolicy reload e2e-reload.service" "$st"
        check_contains "status --json: drift is true" '"drift":true' "$(cgpolicy status --json e2e-reload.service 2>&1)"

        # The reload under traffic, from a client inside the unit's cgroup.
        dir=$(cgroup_dir e2e-reload.service)
        sh -c 'echo $$ >"$1/cgroup.procs" && exec /usr/lib/cgpolicy-e2e/reload-client.py "$2" 443 8443 9000' \
                sh "$dir" "$log" &
        pid=$!
        sleep 1
        t0=$(date +%s%N)
        out=$(cgpolicy reload e2e-reload.service 2>&1)
        rc=$?
        t1=$(date +%s%N)
        sleep 1
        kill "$pid"
        wait "$pid" 2>/dev/null
        check_eq "cgpolicy reload e2e-reload.service under traffic exits 0 ($(( (t1 - t0) / 1000000 )) ms)" 0 "$rc"
        [ "$rc" = 0 ] || diag "$out"
        read -r -a res <<<"$(reload_results "$log" "$t1")"
        if [ "${res[0]:-0}" -gt 20 ] && [ "${res[1]}" = 0 ]; then ok "reload: tcp:443, allowed before and after, never refused (${res[0]} attempts)"
        else not_ok "reload: tcp:443, allowed before and after, never refused" "attempts/refused: ${res[*]:0:2}" "$(grep -v ' 443 OK$' "$log" | grep ' 443 ' | head)"; fi
        if [ "${res[2]:-0}" -gt 3 ] && [ "${res[3]}" = 0 ]; then ok "reload: tcp:8443, removed, refused from the moment reload returned (${res[2]} attempts)"
        else not_ok "reload: tcp:8443, removed, refused from the moment reload returned" "attempts/not refused: ${res[*]:2:2}"; fi
        if [ "${res[4]:-0}" -gt 3 ] && [ "${res[5]}" = 0 ]; then ok "reload: tcp:9000, added, allowed from the moment reload returned (${res[4]} attempts)"
        else not_ok "reload: tcp:9000, added, allowed from the moment reload returned" "attempts/refused: ${res[*]:4:2}"; fi
        check_eq "e2e-reload.service was not restarted (same InvocationID)" "$inv" "$(show e2e-reload.service InvocationID)"
        expect e2e-reload connect tcp 127.0.0.1 9000 OK
        expect e2e-reload connect tcp 127.0.0.1 8443 EPERM
        check_not_contains "status: no drift after the reload" "drift:" "$(cgpolicy status e2e-reload.service 2>&1)"

        # Invalid new keys: the policy in force stays, the message names file, line and key.
        printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyConnectAlow=tcp:8443\n' >"$conf"
        systemctl daemon-reload
        out=$(cgpolicy reload e2e-reload.service 2>&1)
        check_eq "reload of invalid keys exits 1" 1 "$?"
        check_contains "reload of invalid keys prints FILE:LINE: KEY:" "$conf:3: X-CgPolicyConnectAlow" "$out"
        expect e2e-reload connect tcp 127.0.0.1 9000 OK
        expect e2e-reload connect tcp 127.0.0.1 8443 EPERM

        # 10,000 rules.
        {
                printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyConnectAllow=tcp:8443\n'
                for i in $(seq 0 9998); do
                        printf 'X-CgPolicyConnectAllow=10.%d.%d.1:%d\n' $((i / 250)) $((i % 250)) $((1000 + i))
                done
        } >"$conf"
        check "daemon-reload with 10,000 rules" systemctl daemon-reload
        t0=$(date +%s%N)
        out=$(cgpolicy reload e2e-reload.service 2>&1)
        rc=$?
        t1=$(date +%s%N)
        check_eq "reload of 10,000 rules exits 0 ($(( (t1 - t0) / 1000000 )) ms)" 0 "$rc"
        [ "$rc" = 0 ] || diag "$out"
        expect e2e-reload connect tcp 127.0.0.1 8443 OK
        expect e2e-reload connect tcp 127.0.0.1 9000 EPERM

        # Keys removed: reload without units finds the changed unit; everything is allowed
        # until it stops.
        rm -f "$conf"
        systemctl daemon-reload
        check "cgpolicy reload (every changed unit) after the keys were removed" cgpolicy reload
        expect e2e-reload connect tcp 127.0.0.1 9000 OK
        expect e2e-reload connect tcp 127.0.0.1 8443 OK
        check_contains "status shows the keys as removed" "keys removed" "$(cgpolicy status e2e-reload.service 2>&1)"

        # The opt-in follower: a daemon-reload alone puts new keys in force.
        check "systemctl start cgpolicy-reload.service" systemctl start cgpolicy-reload.service
        printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyConnectAllow=tcp:443\n' >"$conf"
        systemctl daemon-reload
        for i in $(seq 50); do
                [ "$("$probe" ctl e2e-reload connect tcp 127.0.0.1 9000)" = EPERM ] && break
                sleep 0.2
        done
        expect e2e-reload connect tcp 127.0.0.1 9000 EPERM
        expect e2e-reload connect tcp 127.0.0.1 443 OK
        check_contains "cgpolicy-reload.service logged the reload" "e2e-reload.service" "$(journal_of cgpolicy-reload.service)"
        systemctl stop cgpolicy-reload.service
        check_eq "cgpolicy-reload.service is off by default (no [Install]: static, wanted by nothing)" static \
                "$(systemctl is-enabled cgpolicy-reload.service 2>&1)"

        check "systemctl stop e2e-reload.service" systemctl stop e2e-reload.service
        check_eq "e2e-reload.service stopped cleanly (release)" success "$(show e2e-reload.service Result)"
        printf '[Service]\nX-CgPolicyConnectDeny=any\nX-CgPolicyConnectAllow=tcp:443 tcp:8443\n' >"$conf"
        systemctl daemon-reload
}

# ---------------------------------------------------------------------------------------
# Restarting the loader while services talk changes nothing for them.
sc_loader_restart() {
        local before after log=/run/cgpolicy-e2e/traffic.log pid bad inv_before
        before=$(attached e2e-server.service)
        inv_before=$(show e2e-server.service InvocationID)
        (
                end=$((SECONDS + 6))
                while [ $SECONDS -lt $end ]; do
                        echo "443 $("$probe" ctl e2e-server connect tcp 127.0.0.1 443)"
                        echo "9000 $("$probe" ctl e2e-server connect tcp 127.0.0.1 9000)"
                done >"$log"
        ) &
        pid=$!
        sleep 1
        check "systemctl restart cgpolicy-load.service under traffic" systemctl restart cgpolicy-load.service
        wait "$pid"
        check_eq "e2e-server.service kept running through the loader restart (same InvocationID)" \
                "$inv_before" "$(show e2e-server.service InvocationID)"
        bad=$(grep -v -e '^443 OK$' -e '^9000 EPERM$' "$log")
        check_eq "every request during the loader restart got its policy ($(wc -l <"$log") requests)" "" "$bad"
        after=$(attached e2e-server.service)
        check_eq "the programs attached to e2e-server.service are the same ones" "$before" "$after"
        expect e2e-server connect tcp ::1 9000 EPERM
        expect e2e-server connect tcp ::1 443 OK
        expect e2e-live connect tcp 127.0.0.1 9000 OK
        expect e2e-live connect tcp 127.0.0.1 443 EPERM
        check "a service started after the loader restart is policed: worker@b.service starts" start_server worker@b.service worker-b
        expect worker-b connect tcp 127.0.0.1 9000 EPERM
        expect worker-b connect tcp 127.0.0.1 443 OK
        systemctl stop worker@b.service
}

# ---------------------------------------------------------------------------------------
sc_audit() {
        check "e2e-audit.service (X-CgPolicyMode=audit) starts" start_server e2e-audit.service e2e-audit
        expect e2e-audit connect tcp 127.0.0.1 9000 OK
        expect e2e-audit connect tcp 127.0.0.1 443 OK
        local n
        n=$(cgpolicy status --json | /usr/lib/cgpolicy-e2e/status-count.py e2e-audit.service audit 2>&1)
        if [ "$n" -ge 1 ] 2>/dev/null; then ok "audit: the would-be denial is counted ($n)"; else not_ok "audit: the would-be denial is counted" "$n" "$(cgpolicy status --json e2e-audit.service 2>&1)"; fi
        n=$(cgpolicy status --json | /usr/lib/cgpolicy-e2e/status-count.py e2e-audit.service denied,refused 2>&1)
        check_eq "audit: nothing counted as refused" 0 "$n"
        check_contains "audit: cgpolicy denials lists the would-be denial" "e2e-audit.service" "$(timeout 10 cgpolicy denials 2>&1 | grep 9000)"
}

# ---------------------------------------------------------------------------------------
# cgpolicy-monitor.service (issue 11): denials in the unit's journal with their fields, at the
# monitor's rate with the count of what it did not write; a restart under load loses nothing
# silently; X-CgPolicyOnDenial= freezes and stops, spares a unit under its threshold, only
# logs in audit mode. The MESSAGE_IDs are cgpolicy-monitor.service(8)'s.
mon_denial=046d1b2c57a742b68b64ee71c6d581fd
mon_suppressed=73388cd6e10b418ebd91bd2782865874
mon_action=07d740ff358145bda0d0371e81dee072
mon_check=/usr/lib/cgpolicy-e2e/monitor-check.py

# mon_wait SECONDS COMMAND…: until COMMAND succeeds (every 0.5 s), at most SECONDS.
mon_wait() {
        local n=$(( $1 * 2 )) i
        shift
        for i in $(seq "$n"); do
                "$@" && return 0
                sleep 0.5
        done
        return 1
}
mon_journal_count() { "$mon_check" journal "$1" "$2" | head -n1 | cut -d' ' -f1; }
mon_has_journal() { [ "$(mon_journal_count "$1" "$2")" -ge "$3" ] 2>/dev/null; }
# The accounting of a unit's records is complete: denied = kernel-suppressed + read + lost,
# read = journaled + suppressed, and the journal holds what status says was written.
mon_accounted() {
        local s d ks rd jn sp lost ac jc js
        s=$("$mon_check" stream "$1") || return 1
        read -r d ks rd jn sp lost ac <<<"$s"
        read -r jc js <<<"$("$mon_check" journal "$1" "$mon_denial" | head -n1)"
        local sup
        sup=$("$mon_check" journal "$1" "$mon_suppressed" | head -n1 | cut -d' ' -f2)
        [ "$d" -gt 0 ] && [ "$d" -eq $(( ks + rd + lost )) ] && [ "$rd" -eq $(( jn + sp )) ] &&
                [ "$jc" -eq "$jn" ] && [ "${sup:-0}" -eq "$sp" ]
}
mon_accounting() {      # mon_accounting UNIT: a description of the numbers, for diagnostics
        echo "status (denied kernel-suppressed read journaled suppressed lost actions): $("$mon_check" stream "$1" 2>&1)"
        echo "journal denials: $("$mon_check" journal "$1" "$mon_denial" | head -n1) (count, -)"
        echo "journal suppressed lines: $("$mon_check" journal "$1" "$mon_suppressed" | head -n1) (lines, sum)"
}

sc_monitor() {
        local u=e2e-mon-flood.service j f pid
        if [ "$mode" = vm ]; then
                check_eq "the package enabled cgpolicy-monitor.service" enabled "$(systemctl is-enabled cgpolicy-monitor.service 2>&1)"
        else
                # nspawn: installed with meson install, not enabled: started here.
                systemctl start cgpolicy-monitor.service
        fi
        check_eq "cgpolicy-monitor.service is active (Type=notify: READY=1 once the ring buffer is open)" \
                notify/active "$(show cgpolicy-monitor.service Type)/$(show cgpolicy-monitor.service ActiveState)"
        check_eq "cgpolicy-monitor.service has a watchdog" 30s "$(show cgpolicy-monitor.service WatchdogUSec)"
        diag "systemd-analyze security cgpolicy-monitor.service: $(systemd-analyze security cgpolicy-monitor.service 2>&1 | tail -n1)"

        check "$u starts (300 denied connects at once)" systemctl start $u
        mon_wait 30 mon_has_journal $u "$mon_denial" 10
        j=$("$mon_check" journal $u "$mon_denial")
        diag "journalctl -u $u MESSAGE_ID=$mon_denial, the first:" "$j"
        pid=$(show $u MainPID)
        for f in "OBJECT_SYSTEMD_UNIT=$u" CGPOLICY_DIRECTION=connect CGPOLICY_PROTOCOL=tcp \
                 CGPOLICY_ADDRESS=127.0.0.1 CGPOLICY_PORT=9 CGPOLICY_MODE=enforce \
                 OBJECT_COMM=flood.py PRIORITY=4 _SYSTEMD_UNIT=cgpolicy-monitor.service; do
                check_contains "journalctl -u $u: the denial has $f" "$f" "$(sed -n '2,$p' <<<"$j")"
        done
        if [ "$mode" = nspawn ]; then
                # The kernel records the pid of the initial PID namespace, not the container's.
                skip "journalctl -u $u: the denial has OBJECT_PID=$pid" \
                        "the container has a PID namespace of its own: the pid is CGPOLICY_PID= of the host's namespace"
                check_contains "journalctl -u $u: the denial has CGPOLICY_PID= in a container" CGPOLICY_PID= "$j"
                check_not_contains "journalctl -u $u: and no OBJECT_PID= (journald would resolve it in the container)" \
                        OBJECT_PID= "$j"
                check_contains "journalctl -u $u shows the denial's message" \
                        "MESSAGE=$u: denied connect tcp 127.0.0.1:9 by flood.py[" "$j"
        else
                check_contains "journalctl -u $u: the denial has OBJECT_PID=$pid" "OBJECT_PID=$pid" "$j"
                check_contains "journalctl -u $u shows the denial's message" \
                        "MESSAGE=$u: denied connect tcp 127.0.0.1:9 by flood.py[$pid]" "$j"
        fi
        sleep 2
        check_eq "the flood is rate-limited: 10 denials written in the first 5 s" 10 "$(mon_journal_count $u "$mon_denial")"
        if mon_wait 20 mon_has_journal $u "$mon_suppressed" 1; then
                ok "a line with the number of denials not written follows when the 5 s end"
        else
                not_ok "a line with the number of denials not written follows when the 5 s end" "$(mon_accounting $u)"
        fi
        if mon_wait 20 mon_accounted $u; then
                ok "$u: every denial is journaled, counted as suppressed (in a journal line) or as lost: $(mon_accounting $u | head -n1)"
        else
                not_ok "$u: every denial is journaled or counted" "$(mon_accounting $u)"
        fi
        diag "cgpolicy status $u:" "$(cgpolicy status $u 2>&1)"
        check_contains "cgpolicy denials works as well" "$u" "$(timeout 10 cgpolicy denials 2>&1)"
        systemctl stop $u
}

sc_monitor_restart() {
        local u=e2e-mon-load.service p1 p2 s
        systemctl start cgpolicy-monitor.service
        p1=$(show cgpolicy-monitor.service MainPID)
        check "$u starts (1000 denials at 200/s)" systemctl start $u
        sleep 2
        check "restart cgpolicy-monitor.service under load" systemctl restart cgpolicy-monitor.service
        sleep 2
        check "restart it again" systemctl restart cgpolicy-monitor.service
        p2=$(show cgpolicy-monitor.service MainPID)
        if [ "$p1" != "$p2" ] && [ "$(show cgpolicy-monitor.service ActiveState)" = active ]; then
                ok "cgpolicy-monitor.service runs again (pid $p1 -> $p2)"
        else
                not_ok "cgpolicy-monitor.service runs again" "pid $p1 -> $p2, $(show cgpolicy-monitor.service ActiveState)"
        fi
        # Until the flood is over (status: 2000 denied) and every record is accounted for.
        mon_wait 60 sh -c "[ \"\$($mon_check stream $u | cut -d' ' -f1)\" -ge 1000 ]"
        if mon_wait 30 mon_accounted $u; then
                ok "restarted under load, nothing lost silently: $(mon_accounting $u | head -n1)"
        else
                not_ok "restarted under load, nothing lost silently" "$(mon_accounting $u)"
        fi
        diag "$(mon_accounting $u)"
        systemctl stop $u
}

# mon_action UNIT: "ACTION RESULT" of the monitor's action line for UNIT, or nothing.
mon_action() {
        "$mon_check" journal "$1" "$mon_action" | awk -F= '
                /^CGPOLICY_ACTION=/ { a = $2 } /^CGPOLICY_ACTION_RESULT=/ { r = $2 }
                END { if (a != "") print a, r }'
}
mon_has_action() { [ -n "$(mon_action "$1")" ]; }
mon_state_is() { [ "$(show "$1" "$2")" = "$3" ]; }

sc_monitor_actions() {
        local u a j
        systemctl start cgpolicy-monitor.service

        u=e2e-mon-under.service
        check "$u starts (10 denials, threshold 20/10s, kill)" systemctl start $u

        u=e2e-mon-freeze.service
        check "$u starts (50 denials, threshold 20/10s, freeze)" systemctl start $u
        mon_wait 30 mon_has_action $u
        a=$(mon_action $u)
        j=$("$mon_check" journal $u "$mon_action")
        diag "the action line of $u:" "$j"
        if mon_wait 15 mon_state_is $u FreezerState frozen; then
                ok "X-CgPolicyOnDenial=freeze: $u is frozen (FreezerState=frozen)"
                check_eq "one journal line says so (freeze done)" "freeze done" "$a"
        elif [ "$mode" = nspawn ] && [ "${a#freeze }" = failed ]; then
                # The cgroup v2 freezer may be unavailable to the container's systemd (the host
                # runs hybrid cgroups); the monitor asked and says why it failed.
                skip "X-CgPolicyOnDenial=freeze: $u is frozen" \
                        "systemd in this container cannot freeze: $(grep '^MESSAGE=' <<<"$j" | sed 's/.*could not/could not/')"
                check_eq "one journal line says the freeze was asked and failed" "freeze failed" "$a"
        else
                not_ok "X-CgPolicyOnDenial=freeze: $u is frozen" "FreezerState=$(show $u FreezerState)" "$j"
        fi
        check_contains "the line names the threshold" "CGPOLICY_THRESHOLD=20/10s" "$j"
        check_contains "the line names the denials that triggered it" \
                "CGPOLICY_LAST_DENIAL=connect tcp 127.0.0.1:9 by flood.py" "$j"
        check_eq "exactly one action line" 1 "$(mon_journal_count $u "$mon_action")"
        systemctl thaw $u >/dev/null 2>&1
        systemctl stop $u

        u=e2e-mon-stop.service
        check "$u starts (50 denials, threshold 20/10s, stop)" systemctl start $u
        if mon_wait 30 mon_state_is $u ActiveState inactive; then
                ok "X-CgPolicyOnDenial=stop: $u was stopped"
        else
                not_ok "X-CgPolicyOnDenial=stop: $u was stopped" "ActiveState=$(show $u ActiveState)"
        fi
        mon_wait 10 mon_has_action $u
        check_eq "one journal line says so (stop done)" "stop done" "$(mon_action $u)"
        check_contains "systemctl status $u shows the line" "more than X-CgPolicyOnDenialThreshold=20/10s: stopped the unit" \
                "$(journal_of $u)"

        u=e2e-mon-audit.service
        check "$u starts (audit mode, 20 would-be denials, threshold 5/10s, stop)" systemctl start $u
        mon_wait 30 mon_has_action $u
        check_eq "audit mode: the action is logged (stop audit)" "stop audit" "$(mon_action $u)"
        check_contains "audit mode: the line says it was not taken" "would have stopped the unit (audit mode: not taken)" \
                "$("$mon_check" journal $u "$mon_action")"
        check_eq "audit mode: $u is still running" active "$(show $u ActiveState)"
        systemctl stop $u

        u=e2e-mon-under.service
        check_eq "under the threshold: $u is still running" active/running \
                "$(show $u ActiveState)/$(show $u FreezerState)"
        check_eq "under the threshold: no action line" 0 "$(mon_journal_count $u "$mon_action")"
        check_eq "under the threshold: its 10 denials are in its journal" 10 "$(mon_journal_count $u "$mon_denial")"
        systemctl stop $u
}

# ---------------------------------------------------------------------------------------
# The operator's view after the scenarios above.
sc_status() {
        local st den
        st=$(cgpolicy status 2>&1)
        diag "cgpolicy status:" "$st"
        check_contains "cgpolicy status lists e2e-server.service" e2e-server.service "$st"
        if ran template; then check_contains "cgpolicy status lists worker@a.service" worker@a.service "$st"; fi
        if ran slice; then check_contains "cgpolicy status lists e2e-pol.slice" e2e-pol.slice "$st"; fi
        check_not_contains "cgpolicy status does not list e2e-plain.service" e2e-plain.service "$st"
        local js n
        js=$(cgpolicy status --json 2>&1)
        check "cgpolicy status --json is JSON" python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$js"
        n=$(/usr/lib/cgpolicy-e2e/status-count.py e2e-server.service denied,refused <<<"$js" 2>&1)
        if [ "$n" -gt 0 ] 2>/dev/null; then ok "status --json: e2e-server.service has $n denied requests"; else not_ok "status --json: e2e-server.service has denied requests" "$n" "$js"; fi
        n=$(/usr/lib/cgpolicy-e2e/status-count.py e2e-server.service allowed <<<"$js" 2>&1)
        if [ "$n" -gt 0 ] 2>/dev/null; then ok "status --json: e2e-server.service has $n allowed requests"; else not_ok "status --json: e2e-server.service has allowed requests" "$n" "$js"; fi
        den=$(timeout 10 cgpolicy denials 2>&1)
        diag "cgpolicy denials:" "$den"
        check_contains "cgpolicy denials shows e2e-server.service's refused attempts" e2e-server.service "$den"
        check_contains "cgpolicy denials shows refused port 9000" 9000 "$den"

        # The metrics unit, as an administrator with prometheus-node-exporter has it: skipped
        # without the textfile directory, writing cgpolicy.prom with it.
        local prom=/var/lib/prometheus/node-exporter/cgpolicy.prom v
        rm -rf /var/lib/prometheus/node-exporter
        systemctl start cgpolicy-metrics.service
        check_eq "cgpolicy-metrics.service is skipped without the textfile directory" "no" \
                "$(systemctl show -P ConditionResult cgpolicy-metrics.service)"
        mkdir -p /var/lib/prometheus/node-exporter
        check "cgpolicy-metrics.service runs with the directory" systemctl start cgpolicy-metrics.service
        v=$(awk '/^cgpolicy_requests_total\{unit="e2e-server.service",.*direction="connect",verdict="denied"\}/ { print $2 }' "$prom" 2>&1)
        if [ "$v" -gt 0 ] 2>/dev/null; then ok "$prom: e2e-server.service has $v denied connects"
        else not_ok "$prom: e2e-server.service has denied connects" "$v" "$(cat "$prom" 2>&1)"; fi
        check_eq "$prom is world-readable for the node exporter" 644 "$(stat -c %a "$prom" 2>&1)"
        rm -rf /var/lib/prometheus/node-exporter
}

# ---------------------------------------------------------------------------------------
# Connect rules by name (issue 14): the service looks names up with glibc's resolver
# (getaddrinfo(), from Python's connect()) against e2e-dns.service; the kernel learns the
# answers of the names its rules name, and nothing else.
sc_names() {
        local chk st j
        chk=$(cgpolicy check /usr/lib/systemd/system/e2e-names.service 2>&1)
        diag "cgpolicy check e2e-names.service:" "$chk" "hosts line: $(grep '^hosts:' /etc/nsswitch.conf 2>&1)"
        check_contains "cgpolicy check lists the name rule" \
                "names: tcp:allowed.e2e.test:9000 (the addresses" "$chk"
        check_not_contains "cgpolicy check: the lookups are seen on this machine" "allow nothing" "$chk"
        check "e2e-names.service starts" start_server e2e-names.service e2e-names
        check "e2e-dns.service runs" wait_active e2e-dns.service
        check_eq "e2e-names.service has the two DNS programs (dns_egress, dns_ingress)" 2 \
                "$(bpftool cgroup show "/sys/fs/cgroup$(show e2e-names.service ControlGroup)" 2>/dev/null | grep -c cgpolicy_dns)"
        check_eq "e2e-server.service (no name rules) has none" 0 \
                "$(bpftool cgroup show "/sys/fs/cgroup$(show e2e-server.service ControlGroup)" 2>/dev/null | grep -c cgpolicy_dns)"
        expect e2e-names connect tcp 127.0.0.1 9000 EPERM
        expect e2e-names connect tcp allowed.e2e.test 9000 OK
        expect e2e-names connect tcp 127.0.0.1 9000 OK
        expect e2e-names connect tcp allowed.e2e.test 443 EPERM
        expect e2e-names connect tcp unlisted.e2e.test 9000 EPERM
        st=$(cgpolicy status e2e-names.service 2>&1)
        diag "cgpolicy status e2e-names.service:" "$st"
        check_contains "cgpolicy status shows the address the name rule allows now" \
                "name: tcp:allowed.e2e.test:9000: 127.0.0.1 (" "$st"
        j=$(journal_of e2e-names.service)
        check_not_contains "no warning that the name rules allow nothing in the unit's journal" "allow nothing" "$j"

        # Learning proposes name rules where it saw the lookups: the same service in learn
        # mode looks allowed.e2e.test up and connects; the proposal, installed and enforced,
        # lets that through and refuses the address without a lookup.
        local d=/etc/systemd/system/e2e-names.service.d p
        mkdir -p "$d"
        printf '[Service]\nX-CgPolicyMode=learn\n' >"$d/zz-learn.conf"
        systemctl daemon-reload
        check "cgpolicy learn e2e-names.service --reset" cgpolicy learn e2e-names.service --reset
        check "e2e-names.service restarts in learn mode" restart_server e2e-names.service e2e-names
        expect e2e-names connect tcp allowed.e2e.test 9000 OK
        expect e2e-names connect tcp allowed.e2e.test 9000 OK
        check_contains "learn --records: the name looked up and its answer" \
                "e2e-names.service allowed.e2e.test ipv4 127.0.0.1 " "$(cgpolicy learn e2e-names.service --records 2>&1)"
        p=$(cgpolicy learn e2e-names.service 2>/dev/null)
        diag "cgpolicy learn e2e-names.service:" "$p"
        check_contains "the proposal has the name rule" "X-CgPolicyConnectAllow=tcp:allowed.e2e.test:9000" "$p"
        check_not_contains "the proposal has no address rule for the name's address" "=tcp:127.0.0.1:9000" "$p"
        check_contains "the proposal keeps the resolver as an address rule" "X-CgPolicyConnectAllow=udp:127.0.5.53:53" "$p"
        printf '%s\n' "$p" >"$d/zz-learn.conf"
        check "cgpolicy check accepts the proposal" cgpolicy check "$d/zz-learn.conf"
        systemctl daemon-reload
        check "e2e-names.service restarts under the proposal" restart_server e2e-names.service e2e-names
        expect e2e-names connect tcp 127.0.0.1 9000 EPERM
        expect e2e-names connect tcp allowed.e2e.test 9000 OK
        expect e2e-names connect tcp unlisted.e2e.test 9000 EPERM
        rm -rf "$d"
        systemctl daemon-reload
        cgpolicy learn e2e-names.service --reset >/dev/null 2>&1
        systemctl stop e2e-names.service e2e-dns.service
}

# ---------------------------------------------------------------------------------------
# After stop, nothing is left for the unit: not listed, nothing pinned, no state.
sc_stop() {
        local pins_before
        pins_before=$(pins)
        check "systemctl stop worker@a.service" systemctl stop worker@a.service
        check_not_contains "cgpolicy status no longer lists worker@a.service" worker@a.service "$(cgpolicy status 2>&1)"
        check_eq "cgpolicy status --json no longer lists worker@a.service" absent \
                "$(cgpolicy status --json | /usr/lib/cgpolicy-e2e/status-count.py worker@a.service denied 2>&1)"
        check_eq "nothing pinned for it (pins unchanged by its stop)" "$pins_before" "$(pins)"
        check_not_contains "no pin names it" "worker" "$(pins)"
        check_eq "its cgroup is gone" no "$([ -d /sys/fs/cgroup/system.slice/system-worker.slice/worker@a.service ] && echo yes || echo no)"
        check_not_contains "no runtime state names it" worker@a "$(grep -rl worker@a /run/cgpolicy 2>/dev/null; ls -R /run/cgpolicy 2>/dev/null)"
        check_contains "its journal shows the release" "release" "$(show worker@a.service ExecStopPost)"
}

# ---------------------------------------------------------------------------------------
# VM only: CPU and memory limits as the kernel holds them, and enforced.
sc_resources() {
        local d
        d=$(cgroup_dir e2e-server.service)
        check_eq "cpu.max of e2e-server.service (50%)" "50000 100000" "$(cat "$d/cpu.max" 2>&1)"
        check_eq "memory.max of e2e-server.service (256M)" 268435456 "$(cat "$d/memory.max" 2>&1)"

        check "e2e-cpuhog.service starts" systemctl start e2e-cpuhog.service
        d=$(cgroup_dir e2e-cpuhog.service)
        check_eq "cpu.max of e2e-cpuhog.service (20%)" "20000 100000" "$(cat "$d/cpu.max" 2>&1)"
        sleep 1
        local t0 t1 u0 u1 w0 w1
        t0=$(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat"); u0=$(awk '$1 == "usage_usec" { print $2 }' "$d/cpu.stat"); w0=$(date +%s%6N)
        sleep 4
        t1=$(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat"); u1=$(awk '$1 == "usage_usec" { print $2 }' "$d/cpu.stat"); w1=$(date +%s%6N)
        if [ "${t1:-0}" -gt "${t0:-0}" ]; then ok "the CPU hog is throttled: nr_throttled $t0 -> $t1 in 4 s"; else not_ok "the CPU hog is throttled" "nr_throttled $t0 -> $t1"; fi
        local pct=$(( (u1 - u0) * 100 / (w1 - w0) ))
        if [ "$pct" -le 30 ]; then ok "the CPU hog used $pct% of one CPU (quota 20%)"; else not_ok "the CPU hog stays near its 20% quota" "used $pct% of one CPU"; fi
        systemctl stop e2e-cpuhog.service

        check "e2e-memhog.service starts" systemctl start e2e-memhog.service
        d=$(cgroup_dir e2e-memhog.service)
        check_eq "memory.max of e2e-memhog.service (64M)" 67108864 "$(cat "$d/memory.max" 2>&1)"
        local i
        for i in $(seq 150); do
                [ "$(show e2e-memhog.service ActiveState)" = failed ] && break
                sleep 0.2
        done
        check_eq "the memory hog is OOM-killed" oom-kill "$(show e2e-memhog.service Result)"
        check_contains "its journal says so" "killed by the OOM killer" "$(journal_of e2e-memhog.service)"
        check_not_contains "it never got past 64M" "allocated 100M" "$(journal_of e2e-memhog.service)"
        check_eq "inside its cgroup only: e2e-server.service is still active" active "$(show e2e-server.service ActiveState)"
        check_eq "inside its cgroup only: e2e-sink.service is still active" active "$(show e2e-sink.service ActiveState)"
        expect e2e-server connect tcp 127.0.0.1 443 OK
}

# ---------------------------------------------------------------------------------------
# The Debian package (VM suite: installed with "dpkg -i" in a chroot into the image, where
# no systemd ran): installed, intact, set up by its maintainer scripts.
sc_package() {
        local deb
        deb=$(cat /usr/lib/cgpolicy-e2e/installed-from-deb 2>/dev/null)
        if [ -z "$deb" ]; then not_ok "cgpolicy was installed from its .deb (not meson install)"; return; fi
        diag "installed from $deb:" "$(cat /usr/lib/cgpolicy-e2e/dpkg-install.log)"
        check_eq "dpkg: cgpolicy is installed" "install ok installed" "$(dpkg-query -W -f='${Status}' cgpolicy 2>&1)"
        check "dpkg --verify cgpolicy: every file as packaged" dpkg --verify cgpolicy
        check_eq "dpkg -i in the chroot printed no error or warning" "" "$(grep -iE 'error|warning' /usr/lib/cgpolicy-e2e/dpkg-install.log)"
        check_eq "postinst (in the chroot) enabled cgpolicy-gc.timer" enabled "$(systemctl is-enabled cgpolicy-gc.timer 2>&1)"
        local g
        g=$(dpkg -L cgpolicy | grep '/system-generators/cgpolicy-generator$')
        check "the package's generator is $g, executable" test -x "$g"
        check "the packaged generator's output is there: $gen/e2e-server.service.d/zz-cgpolicy.conf" \
                test -f "$gen/e2e-server.service.d/zz-cgpolicy.conf"
}

# ---------------------------------------------------------------------------------------
# Two real Debian daemons under their ready drop-ins from /usr/share/cgpolicy/dropins,
# installed the way the drop-ins' headers tell an administrator to.
sc_daemons() {
        local d
        for d in nginx redis-server; do
                check_eq "$d.service is installed (Debian's package) and not running yet" inactive "$(show $d.service ActiveState)"
        done
        # Unpoliced first: joining the daemon's cgroup refuses nothing by itself.
        check "nginx.service starts without a policy" systemctl start nginx.service
        expect_in nginx.service connect tcp 127.0.0.1 9000 OK
        check_eq "nginx.service has no cgpolicy program yet" "" "$(attached nginx.service)"
        : >/var/log/nginx/error.log
        http_status http://127.0.0.1/ proxy.e2e >/dev/null
        check_not_contains "without the policy nginx reaches the upstream 127.0.0.1:9000 (no EPERM in error.log)" \
                "Operation not permitted" "$(cat /var/log/nginx/error.log)"

        for d in nginx redis-server; do
                mkdir -p /etc/systemd/system/$d.service.d
                cp /usr/share/cgpolicy/dropins/$d.service.conf /etc/systemd/system/$d.service.d/cgpolicy.conf
                check "cgpolicy check /etc/systemd/system/$d.service.d/cgpolicy.conf" \
                        cgpolicy check /etc/systemd/system/$d.service.d/cgpolicy.conf
        done
        # A policy added to a running daemon must not cut it off: the reload leaves it as it
        # was until it restarts (systemd.cgpolicy(5), ATTACHMENT).
        check "systemctl daemon-reload" systemctl daemon-reload
        check_eq "the running nginx still serves after the reload that added its policy (200)" 200 \
                "$(http_status http://127.0.0.1/)"
        expect_in nginx.service connect tcp 127.0.0.1 9000 OK
        # "cgpolicy reload" puts it in force for the running nginx, under load: not one
        # request fails.
        local load=/run/cgpolicy-e2e/nginx-load.log lpid
        python3 - "$load" <<'PY' &
import sys, time, urllib.request
end = time.time() + 4
with open(sys.argv[1], "w") as f:
    while time.time() < end:
        try:
            f.write(f"{urllib.request.urlopen('http://127.0.0.1/', timeout=5).status}\n")
        except Exception as e:
            f.write(f"ERR {e}\n")
PY
        lpid=$!
        sleep 1.5
        check "cgpolicy reload nginx.service (its first policy, while it serves)" cgpolicy reload nginx.service
        wait "$lpid"
        check_eq "every request to nginx during the reload got 200 ($(wc -l <"$load") requests)" "" "$(grep -v '^200$' "$load")"
        expect_in nginx.service connect tcp 127.0.0.1 9000 EPERM
        expect_in nginx.service sendto udp 127.0.0.1 53 OK
        check "systemctl stop nginx && systemctl start nginx" sh -c 'systemctl stop nginx && systemctl start nginx'
        check "systemctl start redis-server" systemctl start redis-server.service
        for d in nginx redis-server; do
                check_eq "$d.service is running" active/running "$(show $d.service ActiveState)/$(show $d.service SubState)"
                check "$d.service has the generated drop-in" test -f "$gen/$d.service.d/zz-cgpolicy.conf"
                check_contains "bpftool: connect4 is attached to $d.service's cgroup" "connect4 " "$(attached $d.service)"
                check_not_contains "$d.service: systemd found the pinned programs" "does not exist" "$(journal_of $d.service)"
        done

        # Their normal function, over loopback, from an unpoliced client.
        check_eq "nginx serves GET http://127.0.0.1/ (200)" 200 "$(http_status http://127.0.0.1/)"
        check_eq "nginx serves GET http://[::1]/ (200)" 200 "$(http_status 'http://[::1]/')"
        check_eq "redis-server answers PING on 127.0.0.1:6379" PONG "$(timeout 10 redis-cli -h 127.0.0.1 -p 6379 ping 2>&1)"
        check_eq "redis-server answers PING on [::1]:6379" PONG "$(timeout 10 redis-cli -h ::1 -p 6379 ping 2>&1)"
        check_eq "redis-server stores and returns a value" "OK e2e" \
                "$(timeout 10 redis-cli -h 127.0.0.1 set cgpolicy e2e 2>&1) $(timeout 10 redis-cli -h 127.0.0.1 get cgpolicy 2>&1)"

        # nginx itself, proxying to an upstream its policy does not allow, is refused.
        : >/var/log/nginx/error.log
        check_eq "nginx proxying to 127.0.0.1:9000 (not allowed) answers 502" 502 "$(http_status http://127.0.0.1/ proxy.e2e)"
        check_contains "nginx's error.log: connect() to the upstream failed with EPERM" \
                "connect() to 127.0.0.1:9000 failed (1: Operation not permitted)" "$(cat /var/log/nginx/error.log)"

        # Connects outside their policies, from inside their cgroups: EPERM.
        expect_in nginx.service connect tcp 127.0.0.1 6379 EPERM       # the web server cannot reach Redis
        expect_in nginx.service connect tcp ::1 9000 EPERM
        expect_in nginx.service connect tcp ::ffff:127.0.0.1 9000 EPERM
        expect_in nginx.service bind tcp 127.0.0.1 8081 EPERM
        expect_in nginx.service sendto udp 127.0.0.1 53 OK               # DNS is allowed
        expect_in redis-server.service connect tcp 127.0.0.1 80 EPERM
        expect_in redis-server.service connect tcp 127.0.0.1 9000 EPERM
        expect_in redis-server.service sendto udp 127.0.0.1 53 EPERM
        expect_in redis-server.service bind tcp ::1 6380 EPERM

        # Incident response: block the serving nginx, then unblock it (runtime only).
        check "cgpolicy block nginx.service" cgpolicy block nginx.service
        expect_in nginx.service sendto udp 127.0.0.1 53 EPERM
        expect_in nginx.service bind tcp 127.0.0.1 80 EPERM      # allowed, in use: EADDRINUSE unblocked
        check_eq "blocked nginx still answers on its listening socket (200)" 200 "$(http_status http://127.0.0.1/)"
        check_eq "blocked nginx cannot reach any upstream (502)" 502 "$(http_status http://127.0.0.1/ proxy.e2e)"
        check_contains "cgpolicy status shows nginx.service as blocked" "blocked: yes" "$(cgpolicy status nginx.service 2>&1)"
        check_contains "status --json: blocked is true" '"blocked":true' "$(cgpolicy status --json nginx.service 2>&1)"
        check "cgpolicy unblock nginx.service" cgpolicy unblock nginx.service
        expect_in nginx.service sendto udp 127.0.0.1 53 OK
        expect_in nginx.service bind tcp 127.0.0.1 80 EADDRINUSE
        check_not_contains "cgpolicy status no longer shows the block" "blocked: yes" "$(cgpolicy status nginx.service 2>&1)"
        check_eq "nginx serves after unblock (200)" 200 "$(http_status http://127.0.0.1/)"

        local st
        st=$(cgpolicy status 2>&1)
        diag "cgpolicy status:" "$st"
        check_contains "cgpolicy status lists nginx.service" nginx.service "$st"
        check_contains "cgpolicy status lists redis-server.service" redis-server.service "$st"
        check_contains "cgpolicy denials shows nginx.service's refused connect to 9000" 9000 \
                "$(timeout 10 cgpolicy denials 2>&1 | grep nginx.service)"
}

# ---------------------------------------------------------------------------------------
# Learning mode (issue 13): nginx proxying to a local upstream and a redis client, both in
# X-CgPolicyMode=learn, do their work; "cgpolicy learn" proposes their policies, which are
# installed as drop-ins (enforce mode) and put in force by a restart; the same work then runs
# with zero denials, and what they never did is refused.
learn_web() {           # learn_web N: N requests through the proxy; prints the statuses not 200
        local i
        for ((i = 0; i < $1; i++)); do
                http_status http://127.0.0.1:8088/
        done | grep -v '^200$'
}

learn_client_ok() {     # learn_client_ok: the client's answers since the log was emptied, all good?
        [ "$(grep -c '^[0-9][0-9]*$' /run/e2e-learn-client.log)" -ge 2 ] &&
                ! grep -qv '^[0-9][0-9]*$' /run/e2e-learn-client.log
}

sc_learn() {
        local u p
        : >/run/e2e-learn-client.log
        check "e2e-learn-web.service (nginx, X-CgPolicyMode=learn without rules) starts" \
                systemctl start e2e-learn-web.service
        check "e2e-learn-client.service (redis-cli, X-CgPolicyMode=learn) starts" \
                systemctl start e2e-learn-client.service
        check_contains "the helper line of a learning unit has --mode=learn" "--mode=learn" \
                "$(show e2e-learn-web.service ExecStartPre)"
        mon_wait 20 sh -c 'python3 -c "import socket; socket.create_connection((\"127.0.0.1\", 8088), 1)" 2>/dev/null'
        check_eq "learning: 5 requests through the proxy to its upstream all get 200" "" "$(learn_web 5)"
        mon_wait 20 learn_client_ok
        check "learning: the redis client's commands all succeed" learn_client_ok
        check_contains "cgpolicy status: e2e-learn-web.service learns" "mode: learn" \
                "$(cgpolicy status e2e-learn-web.service 2>&1)"
        for u in e2e-learn-web e2e-learn-client; do
                diag "cgpolicy learn $u.service --records:" "$(cgpolicy learn $u.service --records 2>&1)"
        done
        check_contains "learned: nginx's bind of 127.0.0.1:8088" "bind ipv4 tcp 127.0.0.1 8088" \
                "$(cgpolicy learn e2e-learn-web.service --records 2>&1)"
        check_contains "learned: nginx's connect to its upstream 127.0.0.1:9100" "connect ipv4 tcp 127.0.0.1 9100" \
                "$(cgpolicy learn e2e-learn-web.service --records 2>&1)"
        check_contains "learned: the client's connect to redis 127.0.0.1:6390" "connect ipv4 tcp 127.0.0.1 6390" \
                "$(cgpolicy learn e2e-learn-client.service --records 2>&1)"
        if grep -qw bpf /sys/kernel/security/lsm 2>/dev/null; then
                check_contains "learned (BPF LSM): the client's listen() on a port the kernel chose" \
                        "listen ipv4 tcp 0.0.0.0 0" "$(cgpolicy learn e2e-learn-client.service --records 2>&1)"
                check_contains "proposed (BPF LSM): every IPv4 TCP port, for that listen()" \
                        "X-CgPolicyBindAllow=ipv4:tcp" "$(cgpolicy learn e2e-learn-client.service 2>&1)"
        else
                skip "learned: listen() on a port the kernel chose" "the kernel has no BPF LSM"
        fi

        check_contains "learn --diff: against the unit file (learn mode, no rules) the upstream is added" \
                "+ X-CgPolicyConnectAllow=tcp:127.0.0.1:9100" "$(cgpolicy learn e2e-learn-web.service --diff 2>&1)"

        # Review (the proposal), then enforce: installed as the proposal says, put in force by
        # a restart.
        for u in e2e-learn-web e2e-learn-client; do
                p=$(cgpolicy learn $u.service 2>/dev/null)
                diag "cgpolicy learn $u.service:" "$p"
                check_contains "$u.service: the proposal is in enforce mode" "X-CgPolicyMode=enforce" "$p"
                mkdir -p /etc/systemd/system/$u.service.d
                printf '%s\n' "$p" >/etc/systemd/system/$u.service.d/cgpolicy.conf
                check "cgpolicy check accepts the proposal of $u.service" \
                        cgpolicy check /etc/systemd/system/$u.service.d/cgpolicy.conf
        done
        check "systemctl daemon-reload" systemctl daemon-reload
        : >/run/e2e-learn-client.log
        check "systemctl restart e2e-learn-web.service e2e-learn-client.service" \
                systemctl restart e2e-learn-web.service e2e-learn-client.service
        check_not_contains "enforcing: the helper line no longer learns" "--mode=learn" \
                "$(show e2e-learn-web.service ExecStartPre)"
        mon_wait 20 sh -c 'python3 -c "import socket; socket.create_connection((\"127.0.0.1\", 8088), 1)" 2>/dev/null'
        check_eq "enforcing the proposal: the same 5 requests through the proxy all get 200" "" "$(learn_web 5)"
        mon_wait 20 learn_client_ok
        check "enforcing the proposal: the redis client's commands all succeed" learn_client_ok
        for u in e2e-learn-web e2e-learn-client; do
                check_contains "$u.service is in enforce mode" "mode: enforce" "$(cgpolicy status $u.service 2>&1)"
                check_eq "$u.service: zero denials under its learned policy" 0 \
                        "$(cgpolicy status --json | /usr/lib/cgpolicy-e2e/status-count.py $u.service denied,audited 2>&1)"
        done
        check_eq "cgpolicy denials has nothing of them" "" \
                "$(timeout 10 cgpolicy denials 2>&1 | grep e2e-learn)"
        # What they never did is refused.
        expect_in e2e-learn-web.service connect tcp 127.0.0.1 6390 EPERM
        expect_in e2e-learn-web.service bind tcp 127.0.0.1 8089 EPERM
        expect_in e2e-learn-client.service connect tcp 127.0.0.1 9100 EPERM
        expect_in e2e-learn-client.service sendto udp 127.0.0.1 53 EPERM

        # The records outlive learning and go with --reset.
        check "cgpolicy learn e2e-learn-web.service --reset" cgpolicy learn e2e-learn-web.service --reset
        check_contains "after --reset nothing is learned" "0 records" \
                "$(cgpolicy learn e2e-learn-web.service --records 2>&1)"
        systemctl stop e2e-learn-web.service e2e-learn-client.service e2e-learn-upstream.service e2e-learn-redis.service
        rm -rf /etc/systemd/system/e2e-learn-web.service.d /etc/systemd/system/e2e-learn-client.service.d
        systemctl daemon-reload
}

# ---------------------------------------------------------------------------------------
# VM suite: "dpkg -i" of the package again with systemd running and policed services up
# (an upgrade for the maintainer scripts: postinst configure with the old version). postinst
# reloads systemd and re-runs the loader, which keeps the maps: nothing is restarted and every
# running service keeps its policy.
sc_upgrade() {
        local inv out
        [ -f /usr/lib/cgpolicy-e2e/cgpolicy.deb ] || { not_ok "the .deb is in the image"; return; }
        inv=$(show e2e-server.service InvocationID)
        out=$(dpkg -i /usr/lib/cgpolicy-e2e/cgpolicy.deb 2>&1)
        check_eq "dpkg -i of the package over itself succeeds (systemd running)" 0 "$?"
        diag "$out"
        check_eq "dpkg: cgpolicy is installed" "install ok installed" "$(dpkg-query -W -f='${Status}' cgpolicy 2>&1)"
        check_eq "cgpolicy-load.service is still active" active "$(show cgpolicy-load.service ActiveState)"
        check "the pins are there" test -e /sys/fs/bpf/cgpolicy/connect4
        check_eq "e2e-server.service was not restarted (same InvocationID)" "$inv" "$(show e2e-server.service InvocationID)"
        # postinst reloaded systemd: the running units keep their programs and policies.
        expect e2e-server connect tcp 127.0.0.1 9000 EPERM
        expect e2e-server connect tcp 127.0.0.1 443 OK
        if ran daemons; then
                expect_in nginx.service connect tcp 127.0.0.1 6379 EPERM
                check_eq "nginx still serves" 200 "$(http_status http://127.0.0.1/)"
                check "nginx stopped and started after the upgrade" sh -c 'systemctl stop nginx && systemctl start nginx'
                expect_in nginx.service connect tcp 127.0.0.1 6379 EPERM
                check_eq "nginx serves" 200 "$(http_status http://127.0.0.1/)"
        fi
}

# ---------------------------------------------------------------------------------------
# VM suite, last: "dpkg -r cgpolicy" with systemd running. No pinned object is left, the
# generated drop-ins are gone (postrm reloaded systemd), running units are not stopped, and
# systemd detached the programs from their cgroups at that reload: the policies are lifted,
# and no cgpolicy program or map is left in the kernel.
sc_remove() {
        local out
        [ -s /usr/lib/cgpolicy-e2e/installed-from-deb ] || { not_ok "cgpolicy was installed from its .deb"; return; }
        check "the pins exist before removal" test -e /sys/fs/bpf/cgpolicy/connect4
        out=$(dpkg -r cgpolicy 2>&1)
        check_eq "dpkg -r cgpolicy succeeds" 0 "$?"
        diag "$out"
        check_eq "dpkg: cgpolicy is removed" "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' cgpolicy 2>&1)"
        check_eq "no pinned object left: /sys/fs/bpf/cgpolicy is gone" gone "$([ -e /sys/fs/bpf/cgpolicy ] && echo present || echo gone)"
        check_eq "nothing left in /sys/fs/bpf" "" "$(pins)"
        check_eq "no runtime state left: /run/cgpolicy is gone" gone "$([ -e /run/cgpolicy ] && echo present || echo gone)"
        check_eq "the cgpolicy binary is gone" gone "$([ -e /usr/bin/cgpolicy ] && echo present || echo gone)"
        check_eq "postrm reloaded systemd: no generated drop-in left" "" "$(find /run/systemd/generator* -name zz-cgpolicy.conf 2>&1)"
        check_eq "e2e-server.service was not stopped" active "$(show e2e-server.service ActiveState)"
        check_eq "prerm's cgpolicy unload detached the programs from e2e-server.service's cgroup" "" "$(attached e2e-server.service)"
        expect e2e-server connect tcp 127.0.0.1 9000 OK        # the policy is lifted with the package
        # A program is gone from bpftool as soon as its last reference goes, but the maps it
        # used are released only when the kernel frees it, after an RCU grace period (for the
        # LSM programs, attached through trampolines, an RCU tasks one, which takes seconds
        # under TCG): wait for that, up to 60 s, and say how long it took.
        local i progs maps p holders
        for i in $(seq 300); do
                progs=$(bpftool prog show 2>&1 | grep -c ' name cgpolicy_')
                maps=$(bpftool map show 2>&1 | grep -c ' name cgp_')
                [ "$progs$maps" = 00 ] && break
                sleep 0.2
        done
        diag "programs and maps gone after about $((i / 5)) s"
        if [ "$progs$maps" != 00 ]; then
                holders=$(for p in /proc/[0-9]*; do
                        ls -l "$p/fd" 2>/dev/null | grep -q 'anon_inode:bpf-map' && echo "$(cat "$p/comm" 2>/dev/null) ${p#/proc/}"
                done)
                diag "maps left:" "$(bpftool map show 2>&1 | grep ' name cgp_')" "processes holding a map:" "$holders"
        fi
        check_eq "no cgpolicy program or map is left in the kernel (bpftool prog/map show)" "0 programs, 0 maps" "$progs programs, $maps maps"
        if ran daemons; then
                check_eq "nginx.service was not stopped" active "$(show nginx.service ActiveState)"
                check_eq "it still serves" 200 "$(http_status http://127.0.0.1/)"
        fi
        check "dpkg --purge cgpolicy succeeds" dpkg --purge cgpolicy
}

# ---------------------------------------------------------------------------------------
# Proves the machinery only (boot, probe, report): no cgpolicy involved.
sc_smoke() {
        check_eq "PID 1 is systemd" systemd "$(cat /proc/1/comm)"
        check "e2e-plain.service starts" start_server e2e-plain.service e2e-plain
        expect e2e-plain connect tcp 127.0.0.1 9000 OK
        expect e2e-plain connect tcp ::1 443 OK
        expect e2e-plain sendto udp ::ffff:127.0.0.1 53 OK
        check "the bpffs is mounted at /sys/fs/bpf" mountpoint -q /sys/fs/bpf
        check "cgroup2 at /sys/fs/cgroup" test -f /sys/fs/cgroup/cgroup.procs
}

if [ $# -gt 0 ]; then
        scenarios=("$@")
elif [ "$mode" = vm ]; then
        scenarios=(boot package show resources network_core restart attach_once socketbind prestart bad reload monitor monitor_restart monitor_actions daemons learn status names upgrade remove)
else
        scenarios=(boot show network restart attach_once prestart bad template slice live reload loader_restart audit monitor monitor_restart monitor_actions daemons learn status names stop)
fi

ran() { [[ " ${scenarios[*]} " == *" $1 "* ]]; }      # ran SCENARIO: is it in this run?

diag "mode $mode, scenarios: ${scenarios[*]}"
for s in "${scenarios[@]}"; do
        diag "--- $s"
        "sc_$s"
done
finish
