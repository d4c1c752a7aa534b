# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots a prepared rootfs with systemd-nspawn (sourced; used by nspawn.sh and tools/demo.sh).
#
#   e2e_nspawn_boot ROOT WORK      sets e2e_nspawn_leader (the container's PID 1, as seen
#                                  from here) and returns once systemd finished booting
#   e2e_in_guest CMD…              runs CMD in the container (nsenter into every namespace)
#   e2e_nspawn_poweroff            powers off and waits up to 30 s
#   e2e_nspawn_cleanup             kills what is left, removes cgroups and the bpffs mount
#
# The container runs in cgroups created here (on the cgroup2 mount and, when the host has
# it, on the name=systemd hierarchy, both found in /proc/self/mountinfo), with a private
# bpffs mounted on WORK/bpffs as its /sys/fs/bpf. Console output goes to WORK/console.log.

e2e_nspawn_pid=
e2e_nspawn_leader=
e2e_nspawn_cg=cgpolicy-e2e-nspawn-$$
e2e_nspawn_work=

e2e_nspawn_boot() {
        local root=$1 work=$2 cg2 cgsd p state start
        e2e_nspawn_work=$work
        start=$(date +%s)
        cg2=$(e2e_cgroup_mount cgroup2)
        cgsd=$(e2e_cgroup_mount cgroup name=systemd)
        [ -n "$cg2" ] || { echo "no cgroup2 mount in /proc/self/mountinfo"; return 1; }
        mkdir -p "$work/bpffs"
        mount -t bpf bpf "$work/bpffs" || { echo "cannot mount a private bpffs"; return 1; }
        mkdir "$cg2/$e2e_nspawn_cg" || { echo "cannot create cgroup $cg2/$e2e_nspawn_cg"; return 1; }
        if [ -n "$cgsd" ]; then
                mkdir "$cgsd/$e2e_nspawn_cg" || { echo "cannot create cgroup $cgsd/$e2e_nspawn_cg"; return 1; }
        fi

        # systemd-nspawn, started inside our cgroups; it creates payload/ and supervisor/ below.
        (
                echo "$BASHPID" >"$cg2/$e2e_nspawn_cg/cgroup.procs" || exit 1
                if [ -n "$cgsd" ]; then echo "$BASHPID" >"$cgsd/$e2e_nspawn_cg/cgroup.procs" || exit 1; fi
                SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet --boot \
                        --directory="$root" --machine="cgpolicy-e2e-$$" \
                        --register=no --keep-unit --private-network --capability=all \
                        --system-call-filter='bpf perf_event_open' \
                        --bind="$work/bpffs:/sys/fs/bpf" --console=pipe \
                        </dev/null >"$work/console.log" 2>&1
        ) &
        e2e_nspawn_pid=$!

        # The container's PID 1: the process in our cgroup whose PID in its own namespace is 1.
        for _ in $(seq 150); do
                for p in $(find "$cg2/$e2e_nspawn_cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                        if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$p/status" 2>/dev/null; then
                                e2e_nspawn_leader=$p
                                break 2
                        fi
                done
                kill -0 "$e2e_nspawn_pid" 2>/dev/null || break
                sleep 0.2
        done
        if [ -z "$e2e_nspawn_leader" ]; then
                echo "the container did not start:"
                sed 's/^/  /' "$work/console.log"
                return 1
        fi

        # Until systemd's private bus socket exists, systemctl cannot even ask.
        state=
        for _ in $(seq 600); do
                state=$(timeout 120 nsenter -t "$e2e_nspawn_leader" -a systemctl is-system-running --wait 2>&1)
                case $state in
                running|degraded|maintenance|stopping) break ;;
                esac
                kill -0 "$e2e_nspawn_pid" 2>/dev/null || break
                [ $(( $(date +%s) - start )) -lt 150 ] || break
                sleep 0.2
        done
        e2e_nspawn_state=$state
        case $state in
        running|degraded) return 0 ;;
        esac
        echo "the container did not finish booting ($state):"
        tail -n 40 "$work/console.log" | sed 's/^/  /'
        return 1
}

e2e_in_guest() { nsenter -t "$e2e_nspawn_leader" -a "$@"; }

e2e_nspawn_poweroff() {
        [ -n "$e2e_nspawn_pid" ] || return 0
        e2e_in_guest systemctl poweroff --no-block >/dev/null 2>&1
        for _ in $(seq 150); do kill -0 "$e2e_nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$e2e_nspawn_pid" 2>/dev/null; then
                echo "# the container did not power off within 30 s; killing it"
                return 1
        fi
        wait "$e2e_nspawn_pid"
        e2e_nspawn_pid=
}

e2e_nspawn_cleanup() {
        local cg2 cgsd d
        if [ -n "$e2e_nspawn_pid" ] && kill -0 "$e2e_nspawn_pid" 2>/dev/null; then
                kill -TERM "$e2e_nspawn_pid" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$e2e_nspawn_pid" 2>/dev/null || break; sleep 0.2; done
                kill -KILL "$e2e_nspawn_pid" 2>/dev/null
                wait "$e2e_nspawn_pid" 2>/dev/null
        fi
        e2e_nspawn_pid=
        cg2=$(e2e_cgroup_mount cgroup2)
        cgsd=$(e2e_cgroup_mount cgroup name=systemd)
        # Anything still in our cgroups (there should be nothing) is killed before removal.
        for d in "${cg2:+$cg2/$e2e_nspawn_cg}" "${cgsd:+$cgsd/$e2e_nspawn_cg}"; do
                [ -n "$d" ] && [ -d "$d" ] || continue
                find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
                e2e_rmdir_cgroup "$d"
        done
        if [ -n "$e2e_nspawn_work" ] && mountpoint -q "$e2e_nspawn_work/bpffs"; then
                umount "$e2e_nspawn_work/bpffs"
        fi
}
