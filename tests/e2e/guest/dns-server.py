#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tiny DNS server of the cgpolicy end-to-end suites (runs inside the test machine, unpoliced).

  dns-server.py ADDR
        Answers A queries over UDP on ADDR port 53 from a fixed table (NAMES below), with a
        TTL of 300 s; any other question gets an empty answer (NOERROR, no records).
"""
import socket
import struct
import sys

NAMES = {
    "allowed.e2e.test": "127.0.0.1",
    "unlisted.e2e.test": "127.0.0.2",
}


def question(msg):
    """The question's name (lowercase, dotted), type, and the offset after it."""
    labels, off = [], 12
    while msg[off] != 0:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace").lower())
        off += 1 + n
    qtype = struct.unpack("!H", msg[off + 1:off + 3])[0]
    return ".".join(labels), qtype, off + 5


def answer(msg):
    name, qtype, end = question(msg)
    records = b""
    count = 0
    if qtype == 1 and name in NAMES:
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + socket.inet_aton(NAMES[name])
        count = 1
    header = msg[:2] + struct.pack("!HHHHH", 0x8180, 1, count, 0, 0)
    return header + msg[12:end] + records


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 53))
    while True:
        msg, peer = s.recvfrom(1500)
        try:
            s.sendto(answer(msg), peer)
        except (IndexError, struct.error):
            pass


if __name__ == "__main__":
    main()
