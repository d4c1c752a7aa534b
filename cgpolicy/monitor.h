/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* "cgpolicy monitor" (cgpolicy-monitor.service): follow the denial stream until SIGTERM, write
 * each denial to the journal, carry out X-CgPolicyOnDenial=. 0 at a clean stop, else a negative
 * errno (logged). */
int monitor_run(void);
