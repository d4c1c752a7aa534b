#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the machine output of "cgpolicy status" (python3 standard library only).

  check-status-output.py --fields
      print the JSON fields this script checks, "PATH TYPE" per line; the docs suite compares
      them with the JSON OUTPUT section of cgpolicy(8), so that page and check cannot differ
  check-status-output.py --metrics
      print the metrics this script checks, "NAME TYPE LABEL,LABEL…" ("-": no labels), for
      the same comparison with PROMETHEUS METRICS
  check-status-output.py json STATUS.json
      the output of "status --json" has every documented field with its type and no other
  check-status-output.py prom STATUS.prom STATUS.json
      the output of "status --prometheus" (taken right after the JSON, without traffic in
      between) has one series per unit and cgroup whose values equal the JSON counters

Exits 0 when the output is right, 1 with one line per problem on stdout otherwise."""

import json
import re
import sys

SCHEMA_VERSION = 1

# The schema of "cgpolicy status --json", as cgpolicy(8) documents it: PATH, TYPE. Members of
# the objects in an array are PATH[].MEMBER.
SCHEMA = [
    ("schema_version", "integer"),
    ("denials_logged", "integer"),
    ("denials_suppressed", "integer"),
    ("orphaned_entries", "integer"),
    ("stream", "object"),
    ("stream.read", "integer"),
    ("stream.journaled", "integer"),
    ("stream.suppressed", "integer"),
    ("stream.lost", "integer"),
    ("stream.actions", "integer"),
    ("no_policy_denied", "object"),
    ("no_policy_denied.bind", "integer"),
    ("no_policy_denied.connect", "integer"),
    ("no_policy_denied.socket", "integer"),
    ("units", "array of objects"),
    ("units[].unit", "string"),
    ("units[].cgroup", "string"),
    ("units[].cgroup_id", "integer"),
    ("units[].mode", "string"),
    ("units[].rules", "object"),
    ("units[].rules.bind_allow", "array of strings"),
    ("units[].rules.bind_deny", "array of strings"),
    ("units[].rules.connect_allow", "array of strings"),
    ("units[].rules.connect_deny", "array of strings"),
    ("units[].rules.socket_allow", "array of strings"),
    ("units[].names", "array of objects"),
    ("units[].names[].rule", "string"),
    ("units[].names[].addresses", "array of objects"),
    ("units[].names[].addresses[].address", "string"),
    ("units[].names[].addresses[].expires_in_s", "integer"),
    ("units[].allowed", "object"),
    ("units[].allowed.bind", "integer"),
    ("units[].allowed.connect", "integer"),
    ("units[].allowed.socket", "integer"),
    ("units[].denied", "object"),
    ("units[].denied.bind", "integer"),
    ("units[].denied.connect", "integer"),
    ("units[].denied.socket", "integer"),
    ("units[].audited", "object"),
    ("units[].audited.bind", "integer"),
    ("units[].audited.connect", "integer"),
    ("units[].audited.socket", "integer"),
    ("units[].suppressed", "integer"),
    ("units[].stream", "object"),
    ("units[].stream.read", "integer"),
    ("units[].stream.journaled", "integer"),
    ("units[].stream.suppressed", "integer"),
    ("units[].stream.lost", "integer"),
    ("units[].stream.actions", "integer"),
    ("units[].blocked", "boolean"),
    ("units[].keys_removed", "boolean"),
    ("units[].drift", "boolean"),
    ("units[].learning", "boolean"),
    ("units[].learn_records", "integer"),
    ("units[].learn_evicted", "integer"),
]

DIRECTIONS = ("bind", "connect", "socket")
# Prometheus verdict label → JSON counter object of a unit.
VERDICTS = {"allowed": "allowed", "denied": "denied", "audited": "audited"}
# The metrics of "cgpolicy status --prometheus", as cgpolicy(8) documents them: name → (type,
# labels of every sample).
METRICS = {
    "cgpolicy_policed_cgroups": ("gauge", ()),
    "cgpolicy_unit_info": ("gauge", ("unit", "cgroup", "mode")),
    "cgpolicy_requests_total": ("counter", ("unit", "cgroup", "direction", "verdict")),
    "cgpolicy_no_policy_denied_total": ("counter", ("direction",)),
    "cgpolicy_denials_suppressed_total": ("counter", ("unit", "cgroup")),
    "cgpolicy_denials_logged_total": ("counter", ()),
    "cgpolicy_denials_streamed_total": ("counter", ("unit", "cgroup", "outcome")),
    "cgpolicy_on_denial_actions_total": ("counter", ("unit", "cgroup")),
    "cgpolicy_denials_stream_lost_total": ("counter", ()),
    "cgpolicy_orphaned_entries": ("gauge", ()),
    "cgpolicy_unit_blocked": ("gauge", ("unit", "cgroup")),
    "cgpolicy_unit_drift": ("gauge", ("unit", "cgroup")),
}


def type_ok(value, typ):
    if typ == "integer":
        # Counters and ids are unsigned 64-bit integers (bool is an int in Python: exclude it).
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array of objects":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if typ == "array of strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise ValueError(typ)


def check_json(doc, problems):
    schema = dict(SCHEMA)

    def walk(value, path, where):
        typ = schema[path]
        if not type_ok(value, typ):
            problems.append(f"{where}: {json.dumps(value)} is not of type {typ}")
            return
        if typ == "object":
            members = {p[len(path) + 1:] for p in schema if p.startswith(path + ".") and "." not in p[len(path) + 1:]}
            visit(value, path + ".", where + ".", members)
        elif typ == "array of objects":
            members = {p[len(path) + 3:] for p in schema if p.startswith(path + "[].") and "." not in p[len(path) + 3:]}
            for i, v in enumerate(value):
                visit(v, path + "[].", f"{where}[{i}].", members)

    def visit(obj, prefix, where, members):
        for k in sorted(members - obj.keys()):
            problems.append(f"{where}{k}: missing")
        for k in sorted(obj.keys() - members):
            problems.append(f"{where}{k}: not documented in cgpolicy(8)")
        for k in sorted(members & obj.keys()):
            walk(obj[k], prefix + k, where + k)

    if not isinstance(doc, dict):
        problems.append("the output is not a JSON object")
        return
    visit(doc, "", "", {p for p in schema if "." not in p and "[" not in p})
    if problems:
        return
    if doc["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version is {doc['schema_version']}, not {SCHEMA_VERSION}")
    for i, u in enumerate(doc["units"]):
        if u["mode"] not in ("enforce", "audit", "learn"):
            problems.append(f"units[{i}].mode: {u['mode']!r} is not enforce, audit or learn")
        if u["cgroup_id"] == 0:
            problems.append(f"units[{i}].cgroup_id is 0")
        if not u["cgroup"].startswith("/"):
            problems.append(f"units[{i}].cgroup: {u['cgroup']!r} is not a cgroup path")


# ---- the Prometheus text exposition format, version 0.0.4 ----

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"


def parse_labels(s, lineno):
    """Parses 'a="x",b="y"' (the text between the braces); returns a dict."""
    labels = {}
    i = 0
    while i < len(s):
        m = re.compile(LABEL_NAME + r'="').match(s, i)
        if not m:
            raise ValueError(f"line {lineno}: bad label at {s[i:]!r}")
        name = m.group(0)[:-2]
        i = m.end()
        value = []
        while True:
            if i >= len(s):
                raise ValueError(f"line {lineno}: unterminated label value")
            c = s[i]
            if c == "\\":
                e = s[i + 1:i + 2]
                if e not in ("\\", '"', "n"):
                    raise ValueError(f"line {lineno}: invalid escape \\{e} in a label value")
                value.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise ValueError(f"line {lineno}: label {name} twice")
        labels[name] = "".join(value)
        if i < len(s):
            if s[i] != ",":
                raise ValueError(f"line {lineno}: expected ',' at {s[i:]!r}")
            i += 1
    return labels


def parse_prometheus(text):
    """Returns (types, helps, samples): samples are (name, labels, value)."""
    types, helps, samples = {}, {}, []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"# (HELP|TYPE) (" + NAME + r") (.*)", line)
        if m:
            (helps if m.group(1) == "HELP" else types)[m.group(2)] = m.group(3)
            continue
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"(" + NAME + r")(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        if not m:
            raise ValueError(f"line {lineno}: not a sample: {line!r}")
        samples.append((m.group(1), parse_labels(m.group(2) or "", lineno), float(m.group(3))))
    return types, helps, samples


def check_prom(text, doc, problems):
    try:
        types, helps, samples = parse_prometheus(text)
    except ValueError as e:
        problems.append(str(e))
        return

    for name, (typ, _) in METRICS.items():
        if types.get(name) != typ:
            problems.append(f"# TYPE {name} is {types.get(name)!r}, not {typ}")
        if not helps.get(name):
            problems.append(f"{name} has no # HELP")
    seen = set()
    by_name = {}
    for name, labels, value in samples:
        if name not in METRICS:
            problems.append(f"undocumented metric {name}")
        elif set(labels) != set(METRICS[name][1]):
            problems.append(f"{name}{labels}: the labels are not {', '.join(METRICS[name][1]) or 'none'}")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append(f"series {name}{labels} written twice")
        seen.add(key)
        by_name.setdefault(name, []).append((labels, value))

    def one(name, **labels):
        found = [v for l, v in by_name.get(name, []) if l == labels]
        if len(found) != 1:
            problems.append(f"{name}{labels}: {len(found)} samples, expected 1")
            return None
        return found[0]

    # Units by series: the entries of one unit and cgroup (a stale policy next to the current
    # one, until gc) are one series, with the values of one of them.
    series = {}
    for u in doc["units"]:
        series.setdefault((u["unit"], u["cgroup"]), []).append(u)

    v = one("cgpolicy_policed_cgroups")
    if v is not None and v != len(series):
        problems.append(f"cgpolicy_policed_cgroups is {v}, the JSON has {len(series)} units")
    for (unit, cgroup), entries in sorted(series.items()):
        info = [(l, v) for l, v in by_name.get("cgpolicy_unit_info", [])
                if l.get("unit") == unit and l.get("cgroup") == cgroup]
        prom_values = {}
        for d in DIRECTIONS:
            for verdict in VERDICTS:
                prom_values[(d, verdict)] = one("cgpolicy_requests_total", unit=unit, cgroup=cgroup,
                                                direction=d, verdict=verdict)
        matches = [e for e in entries
                   if all(prom_values[(d, verdict)] == e[VERDICTS[verdict]][d]
                          for d in DIRECTIONS for verdict in VERDICTS)]
        if not matches:
            problems.append(f"{unit} ({cgroup}): cgpolicy_requests_total {prom_values} differs from the JSON "
                            f"counters {[{k: e[k] for k in VERDICTS.values()} for e in entries]}")
        if len(info) != 1 or info[0][1] != 1 or set(info[0][0]) != {"unit", "cgroup", "mode"}:
            problems.append(f"{unit} ({cgroup}): cgpolicy_unit_info is {info}, expected one sample 1 "
                            "with the labels unit, cgroup, mode")
        elif not any(e["mode"] == info[0][0]["mode"] for e in (matches or entries)):
            problems.append(f"{unit} ({cgroup}): cgpolicy_unit_info has mode {info[0][0]['mode']}, "
                            f"the JSON {[e['mode'] for e in entries]}")
    n_units = sum(1 for l, _ in by_name.get("cgpolicy_requests_total", []))
    if n_units != len(series) * len(DIRECTIONS) * len(VERDICTS):
        problems.append(f"{n_units} cgpolicy_requests_total samples for {len(series)} units")
    for d in DIRECTIONS:
        v = one("cgpolicy_no_policy_denied_total", direction=d)
        if v is not None and v != doc["no_policy_denied"][d]:
            problems.append(f"cgpolicy_no_policy_denied_total{{direction={d}}} is {v}, "
                            f"JSON no_policy_denied.{d} is {doc['no_policy_denied'][d]}")
    v = one("cgpolicy_denials_logged_total")
    if v is not None and v != doc["denials_logged"]:
        problems.append(f"cgpolicy_denials_logged_total is {v}, JSON denials_logged is {doc['denials_logged']}")
    v = one("cgpolicy_orphaned_entries")
    if v is not None and v != doc["orphaned_entries"]:
        problems.append(f"cgpolicy_orphaned_entries is {v}, JSON orphaned_entries is {doc['orphaned_entries']}")
    v = one("cgpolicy_denials_stream_lost_total")
    if v is not None and v != doc["stream"]["lost"]:
        problems.append(f"cgpolicy_denials_stream_lost_total is {v}, JSON stream.lost is {doc['stream']['lost']}")
    for (unit, cgroup), entries in sorted(series.items()):
        for outcome in ("journaled", "suppressed", "lost"):
            v = one("cgpolicy_denials_streamed_total", unit=unit, cgroup=cgroup, outcome=outcome)
            if v is not None and not any(v == e["stream"][outcome] for e in entries):
                problems.append(f"{unit} ({cgroup}): cgpolicy_denials_streamed_total{{outcome={outcome}}} is {v}, "
                                f"the JSON {[e['stream'][outcome] for e in entries]}")
        v = one("cgpolicy_on_denial_actions_total", unit=unit, cgroup=cgroup)
        if v is not None and not any(v == e["stream"]["actions"] for e in entries):
            problems.append(f"{unit} ({cgroup}): cgpolicy_on_denial_actions_total is {v}, the JSON "
                            f"{[e['stream']['actions'] for e in entries]}")
    for (unit, cgroup), entries in sorted(series.items()):
        v = one("cgpolicy_denials_suppressed_total", unit=unit, cgroup=cgroup)
        if v is not None and not any(v == e["suppressed"] for e in entries):
            problems.append(f"{unit} ({cgroup}): cgpolicy_denials_suppressed_total is {v}, the JSON "
                            f"{[e['suppressed'] for e in entries]}")
        for metric, field in (("cgpolicy_unit_blocked", "blocked"), ("cgpolicy_unit_drift", "drift")):
            v = one(metric, unit=unit, cgroup=cgroup)
            if v is not None and not any(v == int(e[field]) for e in entries):
                problems.append(f"{unit} ({cgroup}): {metric} is {v}, the JSON {field} "
                                f"{[e[field] for e in entries]}")


def main(argv):
    problems = []
    if argv[1:] == ["--fields"]:
        for path, typ in SCHEMA:
            print(path, typ)
        return 0
    if argv[1:] == ["--metrics"]:
        for name, (typ, labels) in METRICS.items():
            print(name, typ, ",".join(labels) or "-")
        return 0
    if len(argv) == 3 and argv[1] == "json":
        with open(argv[2], encoding="utf-8") as f:
            check_json(json.load(f), problems)
    elif len(argv) == 4 and argv[1] == "prom":
        with open(argv[3], encoding="utf-8") as f:
            doc = json.load(f)
        check_json(doc, problems)
        if not problems:
            with open(argv[2], encoding="utf-8") as f:
                check_prom(f.read(), doc, problems)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
