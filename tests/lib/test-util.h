/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the programs that run cgpolicy against the real kernel share (tests/bpf/test-enforce,
 * bench/bench-enforce): a run's environment (a cgroup of its own, a private bpffs, a runtime
 * directory) removed at exit, child processes that die with the run, cgroups, loopback servers,
 * and the pinned programs attached (multi) as "cgpolicy apply" attaches them.
 *
 * Cleanup runs at exit() (atexit), never in a signal handler: SIGINT, SIGTERM and SIGHUP only
 * note the signal, and the next test_fork() or test_check_interrupted() exits. A run killed
 * with SIGKILL leaves no mount behind (the bpffs is mounted in a mount namespace of the run's
 * own), and the next run of the same name removes its cgroup and directories. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "macro.h"

#define TEST_MAX_CHILDREN 8

typedef struct TestEnv {
        char *name;             /* PREFIX-PID */
        char *cg_mount;         /* the cgroup2 mount point */
        char *cg_root;          /* the cgroup path of the mount's root ("/") */
        char *cg;               /* the run's cgroup, CG_MOUNT/NAME; NULL until created */
        char *cg_path;          /* the same as a cgroup path, for $CGPOLICY_CGROUP_ROOT */
        char *bpffs;            /* /tmp/NAME-bpffs, a private bpffs; NULL until mounted */
        char *pin_dir;          /* BPFFS/cgpolicy, $CGPOLICY_BPFFS_DIR */
        char *rundir;           /* /tmp/NAME-run, $CGPOLICY_RUNTIME_DIR; NULL until created */
        void (*cleanup)(void *userdata);        /* the caller's, run first at exit */
        void *cleanup_userdata;
        pid_t children[TEST_MAX_CHILDREN];      /* then killed and reaped */
        size_t n_children;
        pid_t owner;            /* the process that cleans up (not its children) */
} TestEnv;

/* Set up a run named PREFIX-PID (root): its mount namespace, bpffs, runtime directory (both
 * also in the environment for cgpolicy) and cgroup, after removing what killed runs of the same
 * prefix left. Registers the cleanup with atexit() and the signal handlers. Returns 0, or a
 * negative errno with what failed on stderr. */
int test_env_setup(TestEnv *e, const char *prefix);

/* The start of a TAP test that needs root: 0 as root; else "1..0 # SKIP" and 77, or under $CI
 * (where a missing privilege is a failure) "not ok" and 1: the status main() returns. */
int test_require_root(void);

/* test_require_root(), then test_env_setup() with a TAP failure when it fails: 0, or the status
 * main() returns. */
int test_start(TestEnv *e, const char *prefix);

/* Kill and reap pid at exit. */
void test_env_add_child(TestEnv *e, pid_t pid);

/* The fs path of the cgroup NAME below the run's (created unless it exists; its parent must
 * exist). Dies on errors. */
char *test_env_cgroup(const TestEnv *e, const char *name);

/* The signal that interrupted the run, or 0. */
int test_interrupted(void);

/* Exit (cleaning up) when a signal interrupted the run. A no-op during the cleanup. */
void test_check_interrupted(void);

/* Print the message to stderr and exit: 128 + the signal after an interrupt, else 1. */
_Noreturn void die(const char *fmt, ...) _printf_(1, 2);

char *xasprintf(const char *fmt, ...) _printf_(1, 2);

uint64_t now_ns(void);

/* close(fd) unless it is negative; returns -EBADF. */
int safe_close(int fd);

/* fork(), after test_check_interrupted(). The child has the default signal dispositions and
 * dies with its parent (PR_SET_PDEATHSIG), also when the parent died before it could ask.
 * Returns the PID, 0 in the child, or a negative errno. */
pid_t test_fork(void);

/* Wait for pid (through EINTR): its exit status, 128 + the signal that killed it, or a negative
 * errno. */
int test_wait(pid_t pid);

typedef struct RunOptions {
        const char *cgroup;             /* fs path of the cgroup to run in; NULL: the caller's */
        const char *env;                /* "NAME=VALUE" added to the environment, or NULL */
        const char *stdin_path;         /* NULL: /dev/null */
        char *output;                   /* stdout and stderr, NUL-terminated; NULL: stdout to
                                         * /dev/null, stderr the caller's */
        size_t output_size;
        int (*setup)(void *userdata);   /* in the child after joining the cgroup, before exec;
                                         * a negative return fails the child */
        void *userdata;
        uint64_t ns, exec_ns;           /* returned: fork to exit, execve() to exit */
} RunOptions;

/* Run argv (argv[0] looked up in $PATH) in a child process as o says. Returns its exit status
 * (125: the setup before execve() failed, 127: execve() failed), 128 + the signal that killed
 * it, or a negative errno. */
int test_run(char *const *argv, RunOptions *o);

/* Run the cgpolicy binary at path cgpolicy with the NULL-terminated args in the cgroup at fs path
 * cg (NULL: the caller's). With out, *out gets its stdout and stderr (the first MiB), newly
 * allocated; without, a failure's output is printed as TAP comments. *exec_ns (may be NULL) gets
 * the time from execve() to exit. Returns as test_run(). test_cgpolicy() takes the args as
 * variadic arguments, up to 63, ended by NULL. */
int test_cgpolicy_argv(const char *cgpolicy, const char *cg, char **out, uint64_t *exec_ns, const char *const *args);
int test_cgpolicy(const char *cgpolicy, const char *cg, char **out, ...) __attribute__((sentinel));

/* A proposal of "cgpolicy learn" (a drop-in) as the "cgpolicy apply" options that put it in force
 * for unit (the generator passes the same, from the drop-in's keys): "apply", "--unit=UNIT", then
 * each "X-CgPolicyKindAction=RULE" line one option, empty assignments (the resets at the top of
 * each list) none. *ret (NULL-terminated, to free with strv_free()) gets them; returns their number, or
 * -EBADMSG for a line that is no key, comment or section (printed as a TAP comment). */
int test_proposal_to_args(const char *proposal, const char *unit, char ***ret);

/* The median of v[0..n) (n >= 1): the middle value, or the mean of the two middle ones; v is
 * left as it is. */
double test_median(const double *v, size_t n);

/* Move the calling process into the cgroup at fs path cg. */
int cgroup_join(const char *cg);

/* Kill the processes in the cgroup tree at fs path cg and remove it, deepest first. */
int cgroup_remove_tree(const char *cg);

/* A process's identity: uid = gid, no supplementary groups, and exactly the capabilities in
 * caps (bit CAP_* set) as its effective, permitted and bounding sets; inheritable and ambient
 * empty; no_new_privs set. */
typedef struct TestCred {
        const char *name;       /* "uid 65534, no capabilities": for check names */
        uid_t uid;
        uint64_t caps;
} TestCred;

#define TEST_CAP(c) (UINT64_C(1) << (c))

/* Become c (the caller is root with full capabilities): setgroups, PR_CAPBSET_DROP,
 * PR_SET_KEEPCAPS, setresgid/setresuid, capset, ambient cleared, PR_SET_NO_NEW_PRIVS; then
 * check all of it in /proc/self/status. Returns 0, or a negative errno with what failed in
 * err (may be NULL). */
int test_become(const TestCred *c, char *err, size_t err_size);

/* Bring up "lo" of the current network namespace. */
int loopback_up(void);

/* A new network namespace with its loopback up. */
int netns_new(void);

/* Add the IPv6 address addr/prefixlen to "lo" (no DAD on loopback: usable at once). */
int loopback_add_ipv6(const char *addr, unsigned prefixlen);

/* Write value to /proc/sys/NAME (NAME as a path: "net/ipv4/ping_group_range"); net/ settings
 * are those of the caller's network namespace. */
int sysctl_write(const char *name, const char *value);

/* addr ("127.0.0.1", "::1", "::ffff:127.0.0.1") and port as a socket address. Returns the family. */
int sockaddr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len);

typedef struct ServerSocket {
        int type;               /* SOCK_STREAM or SOCK_DGRAM */
        const char *addr;
        uint16_t port;
} ServerSocket;

/* A loopback server in a child process (test_fork()) that accepts and closes TCP connections
 * (TCP Fast Open allowed) and reads and drops UDP datagrams, on the n sockets it binds first.
 * Returns its PID or a negative errno (a socket could not be bound). */
pid_t server_start(const ServerSocket *sockets, size_t n);

/* The pinned object PIN_DIR/NAME ("connect4", "maps/cgp_ports"): a file descriptor or a
 * negative errno. */
int test_pin_get(const TestEnv *e, const char *name);

/* Attach the pinned programs of the hooks that a policy with rules for the directions dirs
 * (CGP_DIRS()) needs to the cgroup at fs path cg, with BPF_F_ALLOW_MULTI: the cgroup programs
 * only (apply attaches the LSM ones). */
int test_attach(const TestEnv *e, const char *cg, unsigned dirs);

/* Detach the pinned program of hook (a pin name) from the cgroup at fs path cg. */
int test_detach(const TestEnv *e, const char *cg, const char *hook);

/* The number of programs in force for hook on the cgroup at fs path cg (attached there or to
 * an ancestor with BPF_F_ALLOW_MULTI), 0 when it cannot be queried. */
unsigned test_n_effective(const char *cg, const char *hook);

/* The number of entries of the pinned map NAME, or a negative errno. */
long long test_map_entries(const TestEnv *e, const char *map);
