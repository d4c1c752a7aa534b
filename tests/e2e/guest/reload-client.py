#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A client that loops over TCP connects until it is killed (e2e scenario "reload").

  reload-client.py LOG PORT...
        Connects to 127.0.0.1:PORT for each PORT in turn, again and again, and writes one line
        per attempt to LOG: "START_NS PORT RESULT", START_NS the CLOCK_REALTIME nanoseconds
        before the connect(), RESULT OK or the errno name. Run inside a unit's cgroup.
"""
import errno
import socket
import sys
import time


def main(argv):
    log, ports = argv[1], [int(p) for p in argv[2:]]
    with open(log, "w", buffering=1) as f:
        while True:
            for port in ports:
                start = time.time_ns()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=3):
                        res = "OK"
                except OSError as e:
                    res = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
                f.write(f"{start} {port} {res}\n")


if __name__ == "__main__":
    main(sys.argv)
