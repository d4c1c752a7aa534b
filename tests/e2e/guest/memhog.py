#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Allocates (and touches) memory 1 MiB at a time, saying how far it got, up to 512 MiB.
import time

time.sleep(2)           # time for the test to read memory.max while it runs
blocks = []
for i in range(1, 513):
    blocks.append(bytearray(1 << 20))
    if i % 10 == 0:
        print(f"allocated {i}M", flush=True)
print("allocated everything", flush=True)
time.sleep(60)
