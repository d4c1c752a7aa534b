# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots a prepared rootfs in qemu (sourced; used by vm.sh and tools/demo.sh).
#
#   e2e_vm_run ROOT WORK TIMEOUT   turns ROOT into WORK/disk.img (raw ext4, mkfs.ext4 -d),
#                                  boots it with ROOT's own kernel and initrd under TCG (the
#                                  kernel and TCG mode chosen are in WORK/accel) and
#                                  waits for the VM to power itself off, at most TIMEOUT s.
#                                  The guest's /dev/ttyS1 lands in WORK/report, its console
#                                  (ttyS0) in WORK/console.log. Sets e2e_vm_timed_out=1 when
#                                  qemu had to be killed. ROOT may be unmounted afterwards.
#   e2e_vm_cleanup                 kills qemu if it still runs
#
# No network device (-nic none): the guest only has loopback.

e2e_vm_pid=
e2e_vm_timed_out=

e2e_vm_run() {
        local root=$1 work=$2 timeout=$3 kernel initrd start kver accel=tcg,thread=multi
        start=$(date +%s)
        kernel=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
        initrd=$(ls "$root"/boot/initrd.img-* 2>/dev/null | sort -V | tail -n1)
        if [ -z "$kernel" ] || [ -z "$initrd" ]; then echo "no kernel/initrd in the rootfs"; return 1; fi
        # Debian 13's 6.12 kernel under multi-threaded TCG (qemu 7.2, Debian 12) died with
        # "Oops: int3" in update_curr once cgroup BPF programs were attached: the kernel
        # patches its own code (static keys) with int3 breakpoints, and the other vCPU's
        # thread ran stale translated code. Kernels after 6.1 get one TCG thread for both
        # vCPUs. (6.1 has run under multi-threaded TCG throughout.)
        kver=${kernel##*/vmlinuz-}
        if [ "$(printf '%s\n' "$kver" 6.1.999 | sort -V | tail -n1)" = "$kver" ]; then
                accel=tcg,thread=single
        fi
        echo "$kver $accel" >"$work/accel"
        cp "$kernel" "$work/vmlinuz" && cp "$initrd" "$work/initrd" || return 1
        if ! mkfs.ext4 -q -F -L cgpolicy-e2e -d "$root" "$work/disk.img" 2G >"$work/mkfs.log" 2>&1; then
                echo "mkfs.ext4 -d failed:"; sed 's/^/  /' "$work/mkfs.log"; return 1
        fi
        : >"$work/report"
        qemu-system-x86_64 -accel "$accel" -cpu max -smp 2 -m 1024 \
                -nodefaults -display none -no-reboot -nic none \
                -kernel "$work/vmlinuz" -initrd "$work/initrd" \
                -append "root=/dev/vda rw console=ttyS0 panic=-1" \
                -drive "file=$work/disk.img,format=raw,if=virtio" \
                -serial "file:$work/console.log" -serial "file:$work/report" \
                </dev/null >"$work/qemu.log" 2>&1 &
        e2e_vm_pid=$!
        e2e_vm_timed_out=
        while kill -0 "$e2e_vm_pid" 2>/dev/null; do
                if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
                        e2e_vm_timed_out=1
                        kill -KILL "$e2e_vm_pid"
                        break
                fi
                sleep 1
        done
        wait "$e2e_vm_pid" 2>/dev/null
        e2e_vm_pid=
        return 0
}

e2e_vm_cleanup() {
        if [ -n "$e2e_vm_pid" ] && kill -0 "$e2e_vm_pid" 2>/dev/null; then
                kill -KILL "$e2e_vm_pid" 2>/dev/null
                wait "$e2e_vm_pid" 2>/dev/null
        fi
        e2e_vm_pid=
}
