#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Denial generator of the cgpolicy end-to-end suites (runs as a policed service).

  flood.py COUNT PER_SECOND [PORT]
        Makes COUNT TCP connects to 127.0.0.1:PORT (default 9, which the units deny),
        PER_SECOND a second (0: as fast as it can), prints how many were refused with
        EPERM, then sleeps until stopped, so that the unit stays active (or frozen).
"""
import errno
import socket
import sys
import time


def main(argv):
    count, rate = int(argv[1]), float(argv[2])
    port = int(argv[3]) if len(argv) > 3 else 9
    refused = 0
    start = time.monotonic()
    for i in range(count):
        if rate > 0:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        with socket.socket() as s:
            try:
                s.connect(("127.0.0.1", port))
            except OSError as e:
                if e.errno == errno.EPERM:
                    refused += 1
    print(f"flood: {refused} of {count} connects to port {port} refused with EPERM", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
