#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ExecStart= of e2e-vm-test.service: runs the VM scenarios with TAP going to the second
# serial port (/dev/ttyS1, the harness's report file), then a line "# e2e-vm: done" that
# tells the harness the report is complete. Exits non-zero when a scenario failed.
exec >/dev/ttyS1 2>&1
/usr/lib/cgpolicy-e2e/run-scenarios.sh vm $(cat /usr/lib/cgpolicy-e2e/vm-scenarios 2>/dev/null)
rc=$?
if [ $rc -ne 0 ]; then
        echo "# journal of the failed or cgpolicy units:"
        journalctl -b -q --no-pager -o short-monotonic -u 'cgpolicy*' -u 'e2e-*' | tail -n 80 | sed 's/^/#   /'
fi
if [ -f /usr/lib/cgpolicy-e2e/vm-latency ]; then
        /usr/lib/cgpolicy-e2e/latency.sh 20 2>&1 | sed 's/^/# /'
fi
echo "# e2e-vm: done rc=$rc"
sync
exit $rc
