#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Golden tests of cgpolicy-generator, as systemd's test-fstab-generator does them: for every
# fixture directory, run the generator on the fixture's unit tree and compare the list of
# files it wrote and every file with the fixture's expected/ tree.
#
#   test-generator.sh GENERATOR FIXTURES_DIR CGPOLICY_BINARY_PATH BPFFS_DIR [FIXTURE…]
#
# A fixture is a directory with:
#   units/{etc,run,usr}/   the unit directories, searched in that order
#                          ($SYSTEMD_UNIT_PATH=units/etc:units/run:units/usr)
#   env                    optional: VAR=VALUE lines for the generator's environment
#                          ("@UNITS@" is replaced by the fixture's units/ path)
#   expected/              the files expected in the NORMAL directory (missing: none)
#   expected.log           optional: the generator's stderr, expected line by line
#   exec-start-pre         optional: "UNIT" on the first line, then the ExecStartPre=
#                          command lines systemd will run for UNIT, in order. Checked by
#                          replaying systemd's ExecStartPre= semantics (append, empty
#                          resets) over the unit file and ALL its drop-ins including the
#                          generated one, sorted by file name.
# In the generator's output the fixture path is replaced by @UNITS@, the helper's path by
# @CGPOLICY@, the bpffs directory by @BPFFS@ and the NORMAL directory by @NORMAL@ before
# comparing. $SYSTEMD_SCOPE and $SYSTEMD_LOG_LEVEL are unset unless env sets them.
# Output is TAP. Set CGPOLICY_UPDATE_FIXTURES=1 to rewrite expected/ from the output (then
# review the diff with git before committing).
set -u

generator=$1 fixtures=$2 binary=$3 bpffs=$4
shift 4
if [ $# -gt 0 ]; then
        list=("$@")
else
        list=()
        for d in "$fixtures"/*/; do list+=("$(basename "$d")"); done
fi

n=0 failed=0
ok() {  # ok COND_STATUS MESSAGE
        n=$((n + 1))
        if [ "$1" -eq 0 ]; then
                echo "ok $n - $2"
        else
                echo "not ok $n - $2"
                failed=$((failed + 1))
        fi
}

tmp=$(mktemp -d /tmp/test-generator.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

normalize() {   # normalize UNITS NORMAL < in > out
        sed -e "s|$1|@UNITS@|g" -e "s|$2|@NORMAL@|g" -e "s|$binary|@CGPOLICY@|g" -e "s|$bpffs|@BPFFS@|g"
}

for name in "${list[@]}"; do
        f=$fixtures/$name
        units=$f/units
        out=$tmp/$name
        mkdir -p "$out/normal" "$out/early" "$out/late"

        envs=("SYSTEMD_UNIT_PATH=$units/etc:$units/run:$units/usr")
        if [ -f "$f/env" ]; then
                while IFS= read -r line; do
                        [ -n "$line" ] && envs+=("${line//@UNITS@/$units}")
                done < "$f/env"
        fi

        env -u SYSTEMD_SCOPE -u SYSTEMD_LOG_LEVEL "${envs[@]}" "$generator" "$out/normal" "$out/early" "$out/late" \
                2> "$out/stderr.raw"
        rc=$?
        ok $rc "$name: generator exits 0"
        normalize "$units" "$out/normal" < "$out/stderr.raw" > "$out/stderr"

        # Nothing outside NORMAL.
        [ -z "$(find "$out/early" "$out/late" -mindepth 1)" ]
        ok $? "$name: nothing written to EARLY and LATE"

        # Normalize every output file in place (a copy), then compare lists and contents.
        mkdir -p "$out/got"
        (cd "$out/normal" && find . -type f) | sort > "$out/got.list"
        while read -r p; do
                mkdir -p "$(dirname "$out/got/$p")"
                normalize "$units" "$out/normal" < "$out/normal/$p" > "$out/got/$p"
        done < "$out/got.list"

        if [ -n "${CGPOLICY_UPDATE_FIXTURES:-}" ]; then
                rm -rf "$f/expected"
                [ -s "$out/got.list" ] && cp -r "$out/got" "$f/expected"
                cp "$out/stderr" "$f/expected.log"
                [ -s "$f/expected.log" ] || rm -f "$f/expected.log"
        fi

        if [ -d "$f/expected" ]; then
                (cd "$f/expected" && find . -type f) | sort > "$out/want.list"
        else
                : > "$out/want.list"
        fi
        diff -u "$out/want.list" "$out/got.list" | sed 's/^/# /'
        ok "${PIPESTATUS[0]}" "$name: the generator wrote exactly the expected files"

        while read -r p; do
                [ -f "$out/got/$p" ] || continue
                diff -u "$f/expected/$p" "$out/got/$p" | sed 's/^/# /'
                ok "${PIPESTATUS[0]}" "$name: ${p#./} as expected"
        done < "$out/want.list"

        if [ -f "$f/expected.log" ]; then
                diff -u "$f/expected.log" "$out/stderr" | sed 's/^/# /'
                ok "${PIPESTATUS[0]}" "$name: log as expected"
        else
                [ ! -s "$out/stderr" ]
                rc=$?
                sed 's/^/# unexpected log: /' "$out/stderr"
                ok $rc "$name: nothing logged"
        fi

        if [ -f "$f/exec-start-pre" ]; then
                unit=$(head -n1 "$f/exec-start-pre")
                # Every file systemd reads for UNIT: the unit file of the highest directory,
                # then all drop-ins (including the generated one) by file name, the highest
                # directory winning for equal names.
                frag=
                for d in "$units/etc" "$units/run" "$units/usr"; do
                        if [ -z "$frag" ] && [ -f "$d/$unit" ]; then frag=$d/$unit; fi
                done
                declare -A seen=()
                dropins=()
                for d in "$units/etc" "$units/run" "$out/normal" "$units/usr"; do
                        for c in "$d/$unit.d"/*.conf "$d/service.d"/*.conf; do
                                [ -f "$c" ] || continue
                                b=$(basename "$c")
                                [ -n "${seen[$b]:-}" ] && continue
                                seen[$b]=$c
                                dropins+=("$b")
                        done
                done
                files=("$frag")
                while read -r b; do files+=("${seen[$b]}"); done < <(printf '%s\n' "${dropins[@]}" | sort)
                unset seen
                awk '
                        /^\[/ { sec = $0; next }
                        sec == "[Service]" && /^ExecStartPre=/ {
                                v = substr($0, length("ExecStartPre=") + 1)
                                if (v == "") n = 0; else cmd[n++] = v
                        }
                        END { for (i = 0; i < n; i++) print cmd[i] }' "${files[@]}" |
                        normalize "$units" "$out/normal" > "$out/exec-start-pre"
                tail -n +2 "$f/exec-start-pre" | diff -u - "$out/exec-start-pre" | sed 's/^/# /'
                ok "${PIPESTATUS[1]}" "$name: $unit runs the helper first, then its own ExecStartPre= in systemd's order"
        fi
done

# Exit status: non-zero only when the generator cannot write at all, or is called wrongly.
if [ $# -eq 0 ] || printf '%s\n' "${list[@]}" | grep -qx basic; then
        units=$fixtures/basic/units
        SYSTEMD_UNIT_PATH=$units/etc:$units/run:$units/usr "$generator" /proc/cgpolicy-test/normal \
                /proc/cgpolicy-test/early /proc/cgpolicy-test/late 2> "$tmp/unwritable.log"
        [ $? -ne 0 ] && grep -q 'cgpolicy-generator: Cannot create /proc/cgpolicy-test/normal' "$tmp/unwritable.log"
        ok $? "exits non-zero, and says why, when it cannot write at all"

        "$generator" "$tmp/a" "$tmp/b" 2> /dev/null
        [ $? -ne 0 ]
        ok $? "exits non-zero when called with two arguments"

        mkdir -p "$tmp/empty" "$tmp/none"
        SYSTEMD_UNIT_PATH=$tmp/empty "$generator" "$tmp/none" "$tmp/none" "$tmp/none" 2> "$tmp/empty.log"
        [ $? -eq 0 ] && [ ! -s "$tmp/empty.log" ] && [ -z "$(ls -A "$tmp/none")" ]
        ok $? "exits 0, silently, with nothing to do"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
