/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What the helper needs to change policies, and how it keeps its state out of reach of a
 * process without it.
 *
 * The pin directory and the runtime directory are made private: owned by the pin user (nobody
 * runs as it; $CGPOLICY_PIN_OWNER, a user name or uid, overrides, for tests) with mode 0000. A
 * process reaches what is inside only with CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH, whatever its
 * uid; uid 0 without them is refused like anybody else, and it cannot chmod them back, since it
 * is not their owner. (Root-owned 0600 pins would be open to any uid-0 process by the owner's
 * permission bits, with no capability at all.) */

/* Does the effective capability set hold what changing a policy needs: CAP_BPF or
 * CAP_SYS_ADMIN (the maps), CAP_NET_ADMIN (querying and attaching cgroup programs) and
 * CAP_DAC_OVERRIDE (the private directories)? 0 when it does; -EPERM, logged with what is
 * missing and "refusing to change anything", when not; another negative errno when the set
 * cannot be read. verb names the command for the message. */
int require_policy_privileges(const char *verb);

/* The uid the private directories belong to. */
int private_owner(uid_t *ret);

/* Create path (its parents must exist) if missing, and make it private: owned by owner, mode
 * 0000. Returns 1 when it changed something, 0 when path was private already. */
int dir_make_private(const char *path, uid_t owner);

/* Make an existing file private (owner and mode 0000); for the pins. */
int file_make_private(const char *path, uid_t owner);
