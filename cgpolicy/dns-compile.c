/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy-compile.h"

_Static_assert(POLICY_NAME_RULES_MAX == CGP_DNS_MAX_RULES, "one bit per name rule");

void dns_name_key(const char *name, uint32_t policy, struct cgp_dns_name_key *ret) {
        uint8_t wire[CGP_DNS_NAME_BUF];
        size_t n = 0;

        /* "api.example.com" → 3 a p i 7 e x a m p l e 3 c o m. The parser allows at most 253
         * characters: at most 254 bytes here. */
        for (const char *l = name; *l;) {
                size_t len = strcspn(l, ".");

                wire[n++] = (uint8_t) len;
                memcpy(wire + n, l, len);
                n += len;
                l += len;
                if (*l == '.')
                        l++;
        }

        *ret = (struct cgp_dns_name_key) { .len = (uint32_t) n, .policy = policy };
        memcpy(ret->name + CGP_DNS_NAME_BUF - n, wire, n);
}

static uint8_t proto_class(int protocol) {
        return protocol == IPPROTO_TCP ? CGP_PROTO_TCP : protocol == IPPROTO_UDP ? CGP_PROTO_UDP : CGP_DNS_PROTO_ANY;
}

int dns_compile(const Policy *p, uint32_t policy, CompiledPolicy *c) {
        const PolicyRuleList *l = &p->rules[POLICY_CONNECT][POLICY_ALLOW];
        CgpDnsNameEntry *names = NULL;
        size_t n_names = 0;
        unsigned k = 0;

        c->dns_rules = (struct cgp_dns_rules) {};
        for (size_t i = 0; i < l->n; i++) {
                const PolicyRule *r = &l->rules[i];
                struct cgp_dns_name_key key;
                size_t j;

                if (!policy_rule_is_name(r))
                        continue;
                if (k >= CGP_DNS_MAX_RULES) {
                        free(names);
                        return -E2BIG;
                }

                c->dns_rules.rule[k] = (struct cgp_dns_rule) {
                        .family = (uint8_t) r->family,
                        .proto = proto_class(r->protocol),
                        .port_min = r->port_min,
                        .port_max = r->port_max,
                };

                /* Rules of the same name share an entry. */
                dns_name_key(r->name, policy, &key);
                for (j = 0; j < n_names; j++)
                        if (memcmp(&names[j].key, &key, sizeof key) == 0)
                                break;
                if (j == n_names) {
                        CgpDnsNameEntry *x = reallocarray(names, n_names + 1, sizeof(CgpDnsNameEntry));

                        if (!x) {
                                free(names);
                                return -ENOMEM;
                        }
                        names = x;
                        names[n_names++] = (CgpDnsNameEntry) { .key = key };
                }
                if (r->wildcard)
                        names[j].value.below |= 1u << k;
                else
                        names[j].value.exact |= 1u << k;
                k++;
        }

        c->dns_rules.n = k;
        c->names = names;
        c->n_names = n_names;
        return 0;
}
