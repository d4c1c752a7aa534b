#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What cgpolicy-monitor.service wrote, for the "monitor" scenarios (runs inside the test machine).

  monitor-check.py journal UNIT MESSAGE_ID
        The entries of this boot with MESSAGE_ID that "journalctl -u UNIT" shows: prints
        "COUNT SUM-OF-CGPOLICY_SUPPRESSED", then the first entry's fields as KEY=VALUE lines.
  monitor-check.py stream UNIT
        From "cgpolicy status --json", summed over UNIT's entries: "DENIED KERNEL-SUPPRESSED
        READ JOURNALED SUPPRESSED LOST ACTIONS" (DENIED: denied + audited, all directions).
"""
import json
import subprocess
import sys


def journal(unit, message_id):
    out = subprocess.run(["journalctl", "-b", "-u", unit, f"MESSAGE_ID={message_id}", "-o", "json",
                          "--no-pager"], capture_output=True, text=True, check=False).stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    suppressed = sum(int(e.get("CGPOLICY_SUPPRESSED", 0)) for e in entries)
    print(len(entries), suppressed)
    for k, v in sorted((entries[0] if entries else {}).items()):
        if not k.startswith("__"):
            print(f"{k}={v}")


def stream(unit):
    doc = json.loads(subprocess.run(["cgpolicy", "status", "--json"], capture_output=True, text=True,
                                    check=True).stdout)
    units = [u for u in doc["units"] if u["unit"] == unit]
    denied = sum(u[v][d] for u in units for v in ("denied", "audited") for d in ("bind", "connect", "socket"))
    fields = [denied, sum(u["suppressed"] for u in units)]
    fields += [sum(u["stream"][k] for u in units) for k in ("read", "journaled", "suppressed", "lost", "actions")]
    print(*fields)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "journal":
        journal(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "stream":
        stream(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
