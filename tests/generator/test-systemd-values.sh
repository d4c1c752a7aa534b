#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Differential tests against the running system's systemd parser (systemd-analyze verify;
# systemd 252 on Debian 12, 257 on Debian 13):
#
# - X-CgPolicyCPUQuota=/X-CgPolicyMemoryMax= take what CPUQuota=/MemoryMax= take. For every
#   value below, a unit with the X-CgPolicy key goes through cgpolicy-generator, and a twin
#   unit with the systemd key and the same raw value goes through systemd-analyze verify.
#   The generator must accept the value exactly when systemd does, and what it writes must
#   be accepted by systemd without a message.
# - The rule grammar is a superset of SocketBindAllow=: every value systemd takes there is
#   taken as X-CgPolicyBindAllow= (no fail-closed drop-in), and for rules without an address
#   the canonical spelling the generator writes is again taken by SocketBindAllow=.
#   One difference is deliberate and named (systemd.cgpolicy(5)): systemd 257 (Debian 13)
#   takes port 0 in a rule ("0", "tcp:0", "0-1023": a rule for binds to port 0, the
#   ephemeral port), where systemd 252 refused it; cgpolicy refuses it in both cases, since
#   a bind to port 0 is matched by no cgpolicy rule.
#
#   test-systemd-values.sh GENERATOR
set -u

generator=$(realpath "$1")

if ! command -v systemd-analyze >/dev/null; then
        echo "1..0 # SKIP systemd-analyze is not installed"
        exit 77
fi

cpu_values=(50% 200% 050% 12.5% 12.50% 0.01% 1% 100% 1000000% 21474836.47% 21474836.48%
            0% 0.001% 12.345% 50 50%% -5% +5% .5% 5.% abc% "" 1e3% " 50%")
mem_values=(1 4096 1K 1M 1G 1T 1P 1E 15E 16E 1.5G 0.5K 1B 2KB 512MB 20% 100% 100.5% 0% 0.01%
            12.345% infinity 0 18446744073709551614 18446744073709551615 99999999999999999999
            17179869184G -1 1.G .5G 1Q abc 1g "1 G" 1.0000000001G +1G +5% 1.5 0.1K 1G512M "1G 1M" 1KiB)

rule_values=(any tcp:443 ipv6:udp:5353 8000-8100 ipv4 ipv6:tcp tcp udp:any ipv4:any ipv4:tcp:any
             tcp:1-65535 ipv4:tcp:80-80 +80 +80-+90 80-+90 TCP:80 Udp:53 ipv6:TCP:1-2 1-1 65535
             0 65536 tcp:0 0-1023 ipv6:udp:0-0 80-70 ipv6:ipv4 udp:tcp:1 080 IPV4 ANY tcp:ANY ipv6: tcp: :80 any:80)

tmp=$(mktemp -d /tmp/test-systemd-values.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/twins" "$tmp/out"

n=0 failed=0
ok() {
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}

i=0
declare -A key value
for v in "${cpu_values[@]}"; do
        i=$((i + 1)); key[$i]=CPUQuota value[$i]=$v
done
for v in "${mem_values[@]}"; do
        i=$((i + 1)); key[$i]=MemoryMax value[$i]=$v
done
count=$i

for v in "${rule_values[@]}"; do
        i=$((i + 1)); key[$i]=SocketBindAllow value[$i]=$v
done
count=$i

for i in $(seq 1 "$count"); do
        if [ "${key[$i]}" = SocketBindAllow ]; then
                printf '[Service]\nExecStart=/bin/true\nX-CgPolicyBindAllow=%s\n' "${value[$i]}" > "$tmp/units/r$i.service"
        else
                printf '[Service]\nExecStart=/bin/true\nX-CgPolicy%s=%s\n' "${key[$i]}" "${value[$i]}" > "$tmp/units/r$i.service"
        fi
        printf '[Service]\nExecStart=/bin/true\n%s=%s\n' "${key[$i]}" "${value[$i]}" > "$tmp/twins/t$i.service"
done

SYSTEMD_UNIT_PATH=$tmp/units "$generator" "$tmp/out" "$tmp/out" "$tmp/out" 2> "$tmp/gen.log"
ok $? "generator exits 0"

cd "$tmp" || exit 1

# One systemd-analyze run per phase; every message names the file it is about.
twins=() rs=()
for i in $(seq 1 "$count"); do
        twins+=("t$i.service")
        # Rule units get the helper and the loader; test-verify.sh checks those drop-ins.
        [ "${key[$i]}" = SocketBindAllow ] || rs+=("r$i.service")
done
SYSTEMD_UNIT_PATH=$tmp/twins: systemd-analyze verify --man=no "${twins[@]}" > "$tmp/twins.log" 2>&1
SYSTEMD_UNIT_PATH=$tmp/out:$tmp/units: systemd-analyze verify --man=no "${rs[@]}" > "$tmp/ours.log" 2>&1

# Canonical spellings of the rules systemd takes, checked as SocketBindAllow= in one run too.
canons=()
for i in $(seq 1 "$count"); do
        [ "${key[$i]}" = SocketBindAllow ] || continue
        grep -q "/t$i\.service:" "$tmp/twins.log" && continue
        canon=$(sed -n 's/.*--bind-allow=\([^ ]*\).*/\1/p' "$tmp/out/r$i.service.d/zz-cgpolicy.conf" 2>/dev/null)
        printf '[Service]\nExecStart=/bin/true\nSocketBindAllow=%s\n' "$canon" > "$tmp/twins/c$i.service"
        canons+=("c$i.service")
done
SYSTEMD_UNIT_PATH=$tmp/twins: systemd-analyze verify --man=no "${canons[@]}" > "$tmp/canon.log" 2>&1

for i in $(seq 1 "$count"); do
        k=${key[$i]} v=${value[$i]}
        # systemd's verdict on the raw value: silent means accepted. An empty value is a
        # reset for both, so it is "accepted" and produces no line.
        sd=$(grep "/t$i\.service:" "$tmp/twins.log")
        if [ -z "$sd" ]; then sd_ok=1; else sd_ok=0; fi

        f=$tmp/out/r$i.service.d/zz-cgpolicy.conf
        if [ "$k" = SocketBindAllow ]; then
                # A superset: systemd's rules must be taken; others may be (addresses).
                if [ -f "$f" ] && grep -q -- "--bind-allow=" "$f" && ! grep -q -- "--error=" "$f"; then
                        ours=1
                else
                        ours=0
                fi
                if [ $sd_ok -eq 1 ] && [ $ours -eq 0 ] && [[ $v =~ (^|:)0+(-|$) ]]; then
                        ok 0 "SocketBindAllow='$v': documented difference, port 0: taken by this systemd (a rule for binds to port 0), refused by cgpolicy (a bind to port 0 is matched by no rule)"
                elif [ $sd_ok -eq 1 ]; then
                        [ $ours -eq 1 ]
                        ok $? "SocketBindAllow='$v' is taken by systemd, and as X-CgPolicyBindAllow= by cgpolicy"
                        canon=$(sed -n 's/^SocketBindAllow=//p' "$tmp/twins/c$i.service" 2>/dev/null)
                        out=$(grep "/c$i\.service:" "$tmp/canon.log")
                        [ -n "$canon" ] && [ -z "$out" ]
                        ok $? "the canonical spelling '$canon' of '$v' is taken by SocketBindAllow= too"
                        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
                else
                        echo "# SocketBindAllow='$v' is refused by systemd; cgpolicy $( [ $ours -eq 1 ] && echo takes || echo refuses ) it"
                fi
                continue
        fi
        if [ -f "$f" ] && grep -q "^$k=" "$f"; then ours=1; else ours=0; fi
        [ -z "$v" ] && ours=1

        [ $ours -eq $sd_ok ]
        ok $? "$k='$v': systemd $( [ $sd_ok -eq 1 ] && echo accepts || echo refuses ) it, and so does cgpolicy"
        [ $ours -eq $sd_ok ] || { echo "# systemd: $sd"; grep "r$i.service" "$tmp/gen.log" | sed 's/^/# cgpolicy: /'; }

        if [ $ours -eq 1 ] && [ -f "$f" ]; then
                written=$(sed -n "s/^$k=//p" "$f")
                out=$(grep -e "/r$i\.service:" -e "/r$i\.service\.d/" "$tmp/ours.log")
                [ -z "$out" ]
                ok $? "$k='$v' is written as '$written', which systemd accepts"
                [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
        fi
        if [ $ours -eq 0 ]; then
                grep -q "r$i.service:3: X-CgPolicy$k: .*, ignoring\.$" "$tmp/gen.log"
                ok $? "$k='$v': the generator says FILE:LINE: KEY: why, and ignores it"
        fi
done

# Nothing in the runs that is not about one file (e.g. a unit that does not load).
stray=$(cat "$tmp/twins.log" "$tmp/ours.log" "$tmp/canon.log" | grep -v -e "^$tmp/twins/[tc][0-9]*\.service:" \
        -e "^$tmp/units/r[0-9]*\.service:" -e "^$tmp/out/r[0-9]*\.service\.d/")
[ -z "$stray" ]
ok $? "systemd-analyze said nothing else"
[ -n "$stray" ] && printf '%s\n' "$stray" | sed 's/^/# /'

echo "1..$n"
[ "$failed" -eq 0 ]
