/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns-visibility.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

static int why(char **ret, const char *s) {
        if (!ret)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* The sources of nsswitch.conf's "hosts:" line, in order, as one string ("files resolve dns"),
 * or NULL when the file or the line is missing (glibc's default then: "dns files"). */
static char *hosts_line(const char *path) {
        _cleanup_free_ char *text = NULL;
        char *line, *save = NULL;
        size_t size;

        if (read_full_file(path, &text, &size) < 0)
                return NULL;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                line += strspn(line, " \t");
                if (strncmp(line, "hosts:", 6) == 0)
                        return strdup(line + 6);
        }
        return NULL;
}

int dns_lookups_visible(const char *root, char **ret_why) {
        _cleanup_free_ char *nss = NULL, *nscd = NULL, *hosts = NULL;
        char *save = NULL;

        if (ret_why)
                *ret_why = NULL;
        if (!root)
                root = "";
        if (asprintf(&nss, "%s/etc/nsswitch.conf", root) < 0 || asprintf(&nscd, "%s/run/nscd/socket", root) < 0)
                return -ENOMEM;

        if (access(nscd, F_OK) >= 0)
                return why(ret_why, "nscd is running (/run/nscd/socket): it makes the lookups, not the unit") ?: 0;

        hosts = hosts_line(nss);
        if (!hosts)
                return 1;
        for (char *w = strtok_r(hosts, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                if (strcmp(w, "dns") == 0)
                        return 1;
                if (strcmp(w, "resolve") == 0)
                        return why(ret_why, "'resolve' before 'dns' on the hosts line of /etc/nsswitch.conf: glibc asks systemd-resolved "
                                   "over its Unix socket, the unit sends no DNS query") ?: 0;
        }
        return why(ret_why, "no 'dns' on the hosts line of /etc/nsswitch.conf: the unit sends no DNS query") ?: 0;
}

bool policy_names_resolver_reachable(const Policy *p) {
        const PolicyRuleList *allow = &p->rules[POLICY_CONNECT][POLICY_ALLOW];

        if (p->rules[POLICY_CONNECT][POLICY_DENY].n == 0)
                return true;
        for (size_t i = 0; i < allow->n; i++) {
                const PolicyRule *r = &allow->rules[i];

                if (policy_rule_is_name(r))
                        continue;
                if (r->any)
                        return true;
                if (r->protocol != 0 && r->protocol != IPPROTO_UDP)
                        continue;
                if ((r->port_min == 0 && r->port_max == 0) || (r->port_min <= 53 && 53 <= r->port_max))
                        return true;
        }
        return false;
}

void policy_names_log_visibility(const Policy *p, const char *unit) {
        _cleanup_free_ char *why = NULL;

        if (policy_n_names(p) == 0 || p->rules[POLICY_CONNECT][POLICY_DENY].n == 0)
                return;
        if (!policy_names_resolver_reachable(p))
                log_warning("%s: no connect allow rule allows udp port 53: the unit can ask no resolver, its name "
                            "rules allow nothing.", unit);
        if (dns_lookups_visible(NULL, &why) == 0)
                log_warning("%s: the unit's DNS lookups are not seen on this host: %s; its name rules allow nothing.",
                            unit, why ?: "out of memory");
}
