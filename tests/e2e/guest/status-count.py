#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reads `cgpolicy status --json` on stdin and prints, for UNIT, the sum of its counters
# whose key contains WORD (e.g. "denied", "allowed"; several words separated by "," mean
# any of them), or "absent" when UNIT is not listed.
#   cgpolicy status --json | status-count.py UNIT WORD[,WORD…]
import json
import sys

unit, words = sys.argv[1], sys.argv[2].split(",")
doc = json.load(sys.stdin)


def total(node, inside):
    if isinstance(node, bool):
        return 0
    if isinstance(node, (int, float)):
        return node if inside else 0
    if isinstance(node, dict):
        return sum(total(v, inside or any(w in k for w in words)) for k, v in node.items())
    if isinstance(node, list):
        return sum(total(v, inside) for v in node)
    return 0


entries = [u for u in doc.get("units", []) if unit in (u.get("unit"), u.get("name"), u.get("slice"))]
print(sum(total(u, False) for u in entries) if entries else "absent")
