/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cgpolicy-hooks.h"
#include "cgroup-util.h"
#include "macro.h"
#include "test-util.h"

/* What the exit path and the signal handler need; nothing else is global. */
static TestEnv *env_to_clean;
static volatile sig_atomic_t interrupted;
static bool cleaning;

static void on_signal(int sig) {
        interrupted = sig;
}

int test_interrupted(void) {
        return interrupted;
}

_Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cleaning = true;        /* the cleanup's own children must not exit again */
        exit(interrupted ? 128 + interrupted : EXIT_FAILURE);
}

void test_check_interrupted(void) {
        if (interrupted && !cleaning)
                die("Interrupted by signal %d, cleaning up.", (int) interrupted);
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        return s;
}

uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

/* ---- processes ---- */

pid_t test_fork(void) {
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
        pid_t parent = getpid(), pid;

        test_check_interrupted();
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0)
                return pid;

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                signal(sigs[i], SIG_DFL);
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(EXIT_FAILURE);
        return 0;
}

int test_wait(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return -errno;
                test_check_interrupted();
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static _Noreturn void run_child(char *const *argv, const RunOptions *o, int out_fd, int time_fd) {
        int in = open(o->stdin_path ?: "/dev/null", O_RDONLY | O_CLOEXEC);
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        uint64_t t_exec;

        if (in < 0 || null < 0 || dup2(in, STDIN_FILENO) < 0)
                _exit(125);
        if (out_fd >= 0 ? dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0 :
                          dup2(null, STDOUT_FILENO) < 0)
                _exit(125);
        if (o->cgroup && cgroup_join(o->cgroup) < 0)
                _exit(125);
        if (o->setup && o->setup(o->userdata) < 0)
                _exit(125);
        if (o->env && putenv((char *) o->env) != 0)
                _exit(125);
        t_exec = now_ns();
        if (write(time_fd, &t_exec, sizeof t_exec) != sizeof t_exec)
                _exit(125);
        execvp(argv[0], argv);
        _exit(127);
}

/* Read fd to EOF into buf (NUL-terminated), dropping what does not fit. */
static void read_all(int fd, char *buf, size_t size) {
        size_t len = 0;

        assert(size > 0);
        for (;;) {
                char scratch[4096];
                bool full = len + 1 >= size;
                ssize_t k = full ? read(fd, scratch, sizeof scratch) : read(fd, buf + len, size - 1 - len);

                if (k < 0 && errno == EINTR) {
                        test_check_interrupted();
                        continue;
                }
                if (k <= 0)
                        break;
                if (!full)
                        len += (size_t) k;
        }
        buf[len] = 0;
}

int test_cgpolicy_argv(const char *cgpolicy, const char *cg, char **out, uint64_t *exec_ns, const char *const *args) {
        _cleanup_free_ const char **argv = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        int r;

        while (args[n])
                n++;
        argv = calloc(n + 2, sizeof(char *));
        buf = malloc(1 << 20);
        if (!argv || !buf)
                die("out of memory");
        argv[0] = cgpolicy;
        memcpy(argv + 1, args, n * sizeof(char *));

        RunOptions o = { .cgroup = cg, .output = buf, .output_size = 1 << 20 };
        r = test_run((char *const *) argv, &o);
        if (exec_ns)
                *exec_ns = o.exec_ns;
        if (out)
                *out = strdup(buf);
        else if (r != 0) {
                printf("# cgpolicy %s: exit %d:\n", args[0] ?: "", r);
                for (const char *l = buf; *l; ) {
                        size_t k = strcspn(l, "\n");

                        printf("# %.*s\n", (int) k, l);
                        l += k + (l[k] == '\n');
                }
        }
        return r;
}

int test_cgpolicy(const char *cgpolicy, const char *cg, char **out, ...) {
        const char *a[64];
        size_t n = 0;
        va_list ap;

        va_start(ap, out);
        for (const char *s; n < 63 && (s = va_arg(ap, const char *)); )
                a[n++] = s;
        va_end(ap);
        a[n] = NULL;
        return test_cgpolicy_argv(cgpolicy, cg, out, NULL, a);
}

int test_proposal_to_args(const char *proposal, const char *unit, char ***ret) {
        static const struct {
                const char *key, *option;
        } keys[] = {
                { "X-CgPolicyMode=",         "--mode=" },
                { "X-CgPolicyBindAllow=",    "--bind-allow=" },
                { "X-CgPolicyBindDeny=",     "--bind-deny=" },
                { "X-CgPolicyConnectAllow=", "--connect-allow=" },
                { "X-CgPolicyConnectDeny=",  "--connect-deny=" },
                { "X-CgPolicySocketAllow=",  "--socket-allow=" },
        };
        _cleanup_free_ char *copy = strdup(proposal);
        char **a = calloc(256, sizeof(char *)), *line, *save = NULL;
        size_t n = 0;

        if (!copy || !a)
                die("out of memory");
        a[n++] = strdup("apply");
        a[n++] = xasprintf("--unit=%s", unit);
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                bool known = line[0] == '#' || line[0] == '[' || line[0] == 0;

                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        const char *v = startswith(line, keys[k].key);

                        if (!v)
                                continue;
                        known = true;
                        if (*v && n < 254)
                                a[n++] = xasprintf("%s%s", keys[k].option, v);
                }
                if (!known) {
                        printf("# unexpected line in the proposal: %s\n", line);
                        return -EBADMSG;
                }
        }
        *ret = a;
        return (int) n;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

double test_median(const double *v, size_t n) {
        _cleanup_free_ double *c = malloc(n * sizeof(double));

        assert(n > 0);
        if (!c)
                die("out of memory");
        memcpy(c, v, n * sizeof(double));
        qsort(c, n, sizeof(double), cmp_double);
        return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

int test_run(char *const *argv, RunOptions *o) {
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, time_r = -EBADF, time_w = -EBADF;
        uint64_t t0 = now_ns(), t_exec, t1;
        int p[2], r;
        pid_t pid;

        if (o->output) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                out_r = p[0];
                out_w = p[1];
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        time_r = p[0];
        time_w = p[1];

        pid = test_fork();
        if (pid < 0)
                return pid;
        if (pid == 0)
                run_child(argv, o, out_w, time_w);

        out_w = safe_close(out_w);
        time_w = safe_close(time_w);
        if (o->output)
                read_all(out_r, o->output, o->output_size);
        r = test_wait(pid);
        t1 = now_ns();
        if (read(time_r, &t_exec, sizeof t_exec) != sizeof t_exec)
                t_exec = t0;
        o->ns = t1 - t0;
        o->exec_ns = t1 - t_exec;
        return r;
}

/* ---- files and cgroups ---- */

static int write_string(const char *path, const char *s) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n = (ssize_t) strlen(s);

        if (fd < 0)
                return -errno;
        if (write(fd, s, (size_t) n) != n)
                return -errno;
        return 0;
}

static int rm_rf_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (remove(path) < 0 && errno != ENOENT)
                fprintf(stderr, "warning: cannot remove %s (%s): %m\n", path, flag == FTW_DP ? "directory" : "file");
        return 0;
}

/* rm -rf path, staying on its file system. */
static void rm_rf(const char *path) {
        (void) nftw(path, rm_rf_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int cgroup_join(const char *cg) {
        _cleanup_free_ char *p = xasprintf("%s/cgroup.procs", cg);
        char pid[32];

        snprintf(pid, sizeof pid, "%d\n", (int) getpid());
        return write_string(p, pid);
}

/* Kill the processes of the cgroup and its descendants: cgroup.kill (Linux >= 5.14), else
 * those in its own cgroup.procs. */
static void cgroup_kill(const char *cg) {
        _cleanup_free_ char *kill_path = xasprintf("%s/cgroup.kill", cg), *procs = xasprintf("%s/cgroup.procs", cg);
        _cleanup_fclose_ FILE *f = NULL;
        int pid;

        if (write_string(kill_path, "1") == 0)
                return;
        f = fopen(procs, "re");
        while (f && fscanf(f, "%d", &pid) == 1)
                (void) kill(pid, SIGKILL);
}

int cgroup_remove_tree(const char *cg) {
        _cleanup_(closedirp) DIR *d = opendir(cg);
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        cgroup_kill(cg);
        for (struct dirent *de; (de = readdir(d)); ) {
                _cleanup_free_ char *sub = NULL;
                int k;

                if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                sub = xasprintf("%s/%s", cg, de->d_name);
                k = cgroup_remove_tree(sub);
                if (k < 0 && r == 0)
                        r = k;
        }
        /* A cgroup whose last process just exited may be busy for a moment. */
        for (int i = 0; rmdir(cg) < 0; i++) {
                if (errno == ENOENT)
                        break;
                if (errno != EBUSY || i >= 100)
                        return -errno;
                usleep(20000);
        }
        return r;
}

/* ---- the environment ---- */

/* The PID in NAME = PREFIX-PID + SUFFIX when that run is over (no process PID exists any
 * more), else 0. */
static pid_t dead_run_pid(const char *name, const char *prefix, const char *suffix) {
        const char *e = startswith(name, prefix);
        char *end;
        long pid;

        if (!e || *e != '-')
                return 0;
        e++;
        pid = strtol(e, &end, 10);
        if (end == e || !streq(end, suffix) || pid <= 0)
                return 0;
        /* Our own PID: a run before us that had it, since we have created nothing yet. */
        if (pid != getpid() && (kill((pid_t) pid, 0) == 0 || errno != ESRCH))
                return 0;
        return (pid_t) pid;
}

/* What runs of this prefix that were killed (SIGKILL leaves no chance to clean up) left: the
 * cgroups PREFIX-PID and the directories /tmp/PREFIX-PID-{bpffs,run}, where no process PID
 * exists any more. (Their bpffs was mounted in their own mount namespace only.) */
static void remove_stale(const TestEnv *e, const char *prefix) {
        _cleanup_(closedirp) DIR *d = opendir(e->cg_mount), *t = opendir("/tmp");

        for (struct dirent *de; d && (de = readdir(d)); ) {
                _cleanup_free_ char *p = NULL;

                if (de->d_type != DT_DIR || !dead_run_pid(de->d_name, prefix, ""))
                        continue;
                p = xasprintf("%s/%s", e->cg_mount, de->d_name);
                fprintf(stderr, "removing %s, left over by a killed run\n", p);
                (void) cgroup_remove_tree(p);
        }
        for (struct dirent *de; t && (de = readdir(t)); ) {
                _cleanup_free_ char *p = NULL;

                if (de->d_type != DT_DIR)
                        continue;
                p = xasprintf("/tmp/%s", de->d_name);
                if (dead_run_pid(de->d_name, prefix, "-bpffs")) {
                        fprintf(stderr, "removing %s, left over by a killed run\n", p);
                        (void) rmdir(p);        /* empty unless mounted: then it stays */
                } else if (dead_run_pid(de->d_name, prefix, "-run")) {
                        fprintf(stderr, "removing %s, left over by a killed run\n", p);
                        rm_rf(p);
                }
        }
}

static void test_env_cleanup(void) {
        TestEnv *e = env_to_clean;
        int r;

        if (!e || getpid() != e->owner)
                return;         /* a child that called exit() */
        env_to_clean = NULL;
        cleaning = true;

        if (e->cleanup)
                e->cleanup(e->cleanup_userdata);
        for (size_t i = 0; i < e->n_children; i++) {
                (void) kill(e->children[i], SIGKILL);
                (void) test_wait(e->children[i]);
        }
        if (e->cg) {
                r = cgroup_remove_tree(e->cg);
                if (r < 0)
                        fprintf(stderr, "warning: cannot remove cgroup %s: %s\n", e->cg, strerror(-r));
        }
        if (e->bpffs) {
                (void) umount2(e->bpffs, MNT_DETACH);
                (void) rmdir(e->bpffs);
        }
        if (e->rundir)
                rm_rf(e->rundir);
}

static int setup_failed(int r, const char *what) {
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        return r;
}

int test_require_root(void) {
        if (geteuid() == 0)
                return 0;
        if (!getenv("CI")) {
                printf("1..0 # SKIP needs root\n");
                return 77;
        }
        printf("not ok 1 - needs root, and $CI is set\n1..1\n");
        return 1;
}

int test_start(TestEnv *e, const char *prefix) {
        int r = test_require_root();

        if (r != 0)
                return r;
        r = test_env_setup(e, prefix);
        if (r < 0) {
                printf("not ok 1 - set up the test's cgroup, bpffs and runtime directory: %s\n1..1\n", strerror(-r));
                return 1;
        }
        return 0;
}

int test_env_setup(TestEnv *e, const char *prefix) {
        struct sigaction sa = { .sa_handler = on_signal };      /* no SA_RESTART: EINTR */
        _cleanup_free_ char *bpffs = NULL, *rundir = NULL, *cg = NULL;
        int r;

        assert(!env_to_clean);
        *e = (TestEnv) {
                .owner = getpid(),
                .name = xasprintf("%s-%d", prefix, (int) getpid()),
        };

        r = cg_find_mount(&e->cg_mount, &e->cg_root);
        if (r < 0)
                return setup_failed(r, "no cgroup2 mount in /proc/self/mountinfo");
        remove_stale(e, prefix);

        /* A mount namespace of our own for the bpffs: it cannot outlive the run. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return setup_failed(-errno, "a mount namespace");

        env_to_clean = e;
        if (atexit(test_env_cleanup) != 0)
                return setup_failed(-ENOMEM, "atexit");
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* Each path is handed to the cleanup once it exists. Named by our PID, so that a later
         * run can tell them from those of a live run. */
        bpffs = xasprintf("/tmp/%s-bpffs", e->name);
        if (mkdir(bpffs, 0700) < 0)
                return setup_failed(-errno, bpffs);
        e->bpffs = TAKE_PTR(bpffs);
        if (mount("bpf", e->bpffs, "bpf", 0, NULL) < 0)
                return setup_failed(-errno, "mount a bpffs");
        e->pin_dir = xasprintf("%s/cgpolicy", e->bpffs);

        rundir = xasprintf("/tmp/%s-run", e->name);
        if (mkdir(rundir, 0700) < 0)
                return setup_failed(-errno, rundir);
        e->rundir = TAKE_PTR(rundir);

        if (setenv("CGPOLICY_BPFFS_DIR", e->pin_dir, 1) < 0 || setenv("CGPOLICY_RUNTIME_DIR", e->rundir, 1) < 0)
                return setup_failed(-errno, "setenv");

        cg = xasprintf("%s/%s", e->cg_mount, e->name);
        if (mkdir(cg, 0755) < 0)
                return setup_failed(-errno, cg);
        e->cg = TAKE_PTR(cg);
        e->cg_path = xasprintf("%s/%s", streq(e->cg_root, "/") ? "" : e->cg_root, e->name);
        return 0;
}

void test_env_add_child(TestEnv *e, pid_t pid) {
        assert(e->n_children < ELEMENTSOF(e->children));
        e->children[e->n_children++] = pid;
}

char *test_env_cgroup(const TestEnv *e, const char *name) {
        char *p = xasprintf("%s/%s", e->cg, name);

        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                die("mkdir %s: %m", p);
        return p;
}

/* ---- credentials ---- */

static int cap_last_cap(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        int n;

        if (!f || fscanf(f, "%d", &n) != 1 || n < 0 || n > 63)
                return 40;
        return n;
}

static int become_failed(char *err, size_t err_size, int r, const char *fmt, ...) _printf_(4, 5);
static int become_failed(char *err, size_t err_size, int r, const char *fmt, ...) {
        va_list ap;

        if (err && err_size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, err_size, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* The value of the field NAME ("CapEff") of /proc/self/status, without the tab after the colon. */
static int status_field(const char *name, char *buf, size_t size) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[512];
        size_t l = strlen(name);

        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f))
                if (strneq(line, name, l) && line[l] == ':') {
                        const char *v = line + l + 1;

                        v += strspn(v, " \t");
                        snprintf(buf, size, "%.*s", (int) strcspn(v, "\n"), v);
                        return 0;
                }
        return -ENOENT;
}

int test_become(const TestCred *c, char *err, size_t err_size) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        int last = cap_last_cap();
        uint64_t all = last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
        char want_ids[64], v[256];
        static const struct {
                const char *field;
                int which;      /* 0: the uids, 1: the gids, 2: caps, 3: no caps, 4: "1", 5: empty */
        } fields[] = {
                { "Uid", 0 }, { "Gid", 1 }, { "Groups", 5 }, { "CapInh", 3 }, { "CapPrm", 2 },
                { "CapEff", 2 }, { "CapBnd", 2 }, { "CapAmb", 3 }, { "NoNewPrivs", 4 },
        };

        if (setgroups(0, NULL) < 0)
                return become_failed(err, err_size, -errno, "setgroups: %m");
        for (int cap = 0; cap <= last; cap++)
                if (!(c->caps & TEST_CAP(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return become_failed(err, err_size, -errno, "PR_CAPBSET_DROP %d: %m", cap);
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return become_failed(err, err_size, -errno, "PR_SET_KEEPCAPS: %m");
        if (setresgid(c->uid, c->uid, c->uid) < 0 || setresuid(c->uid, c->uid, c->uid) < 0)
                return become_failed(err, err_size, -errno, "setresgid/setresuid %u: %m", (unsigned) c->uid);
        d[0].effective = d[0].permitted = (uint32_t) c->caps;
        d[1].effective = d[1].permitted = (uint32_t) (c->caps >> 32);
        if (syscall(SYS_capset, &h, d) < 0)
                return become_failed(err, err_size, -errno, "capset: %m");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return become_failed(err, err_size, -errno, "PR_CAP_AMBIENT_CLEAR_ALL: %m");
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return become_failed(err, err_size, -errno, "prctl: %m");

        /* What the kernel says we are now. */
        snprintf(want_ids, sizeof want_ids, "%u\t%u\t%u\t%u", (unsigned) c->uid, (unsigned) c->uid,
                 (unsigned) c->uid, (unsigned) c->uid);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                char want[64];
                int r = status_field(fields[i].field, v, sizeof v);

                if (r < 0)
                        return become_failed(err, err_size, r, "/proc/self/status has no %s", fields[i].field);
                switch (fields[i].which) {
                case 0:
                case 1:
                        snprintf(want, sizeof want, "%s", want_ids);
                        break;
                case 2:
                        snprintf(want, sizeof want, "%016" PRIx64, c->caps & all);
                        break;
                case 3:
                        snprintf(want, sizeof want, "%016" PRIx64, UINT64_C(0));
                        break;
                case 4:
                        snprintf(want, sizeof want, "1");
                        break;
                default:
                        want[0] = 0;
                }
                if (!streq(v, want))
                        return become_failed(err, err_size, -EPERM, "/proc/self/status: %s is '%s', not '%s'",
                                             fields[i].field, v, want);
        }
        return 0;
}

/* ---- network ---- */

int loopback_up(void) {
        struct ifreq ifr = { .ifr_name = "lo" };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

int netns_new(void) {
        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        return loopback_up();
}

int loopback_add_ipv6(const char *addr, unsigned prefixlen) {
        /* struct in6_ifreq of <linux/ipv6.h>, which does not mix with <netinet/in.h>. */
        struct {
                struct in6_addr addr;
                uint32_t prefixlen;
                int ifindex;
        } req = { .prefixlen = prefixlen };
        _cleanup_close_ int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (inet_pton(AF_INET6, addr, &req.addr) != 1)
                return -EINVAL;
        req.ifindex = (int) if_nametoindex("lo");
        if (req.ifindex == 0)
                return -errno;
        if (ioctl(fd, SIOCSIFADDR, &req) < 0)
                return -errno;
        return 0;
}

int sysctl_write(const char *name, const char *value) {
        _cleanup_free_ char *p = xasprintf("/proc/sys/%s", name);

        return write_string(p, value);
}

int sockaddr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len) {
        *ret = (struct sockaddr_storage) {};
        if (strchr(addr, ':')) {
                struct sockaddr_in6 *s = (struct sockaddr_in6 *) ret;

                s->sin6_family = AF_INET6;
                s->sin6_port = htons(port);
                if (inet_pton(AF_INET6, addr, &s->sin6_addr) != 1)
                        return -EINVAL;
                *ret_len = sizeof(*s);
                return AF_INET6;
        }

        struct sockaddr_in *s = (struct sockaddr_in *) ret;

        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &s->sin_addr) != 1)
                return -EINVAL;
        *ret_len = sizeof(*s);
        return AF_INET;
}

static int server_socket(const ServerSocket *s) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_storage ss;
        socklen_t sl;
        int family, one = 1, qlen = 16, rcvbuf = 4 << 20;

        family = sockaddr_parse(s->addr, s->port, &ss, &sl);
        if (family < 0)
                return family;
        fd = socket(family, s->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (s->type == SOCK_STREAM)
                (void) setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen);
        else
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (bind(fd, (const struct sockaddr *) &ss, sl) < 0)
                return -errno;
        if (s->type == SOCK_STREAM && listen(fd, 4096) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static _Noreturn void serve(const ServerSocket *sockets, struct pollfd *p, size_t n) {
        char buf[64];

        for (;;) {
                if (poll(p, n, -1) <= 0)
                        continue;
                for (size_t i = 0; i < n; i++) {
                        if (!(p[i].revents & POLLIN))
                                continue;
                        if (sockets[i].type == SOCK_STREAM)
                                for (int c; (c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0; )
                                        close(c);
                        else
                                while (recv(p[i].fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
                                        ;
                }
        }
}

pid_t server_start(const ServerSocket *sockets, size_t n) {
        struct pollfd p[8];
        size_t n_open = 0;
        pid_t pid;

        assert(n <= ELEMENTSOF(p));
        for (; n_open < n; n_open++) {
                int fd = server_socket(&sockets[n_open]);

                if (fd < 0) {
                        pid = fd;
                        goto finish;
                }
                p[n_open] = (struct pollfd) { .fd = fd, .events = POLLIN };
        }
        pid = test_fork();
        if (pid == 0)
                serve(sockets, p, n);
finish:
        for (size_t i = 0; i < n_open; i++)
                close(p[i].fd);
        return pid;
}

/* ---- our programs and maps ---- */

int test_pin_get(const TestEnv *e, const char *name) {
        _cleanup_free_ char *pin = xasprintf("%s/%s", e->pin_dir, name);
        int fd = bpf_obj_get(pin);

        return fd < 0 ? -errno : fd;
}

int test_attach(const TestEnv *e, const char *cg, unsigned dirs) {
        _cleanup_close_ int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (cgfd < 0)
                return -errno;
        FOREACH_CGP_HOOK(h) {
                _cleanup_close_ int pfd = -EBADF;

                /* The cgroup programs, attached beforehand as "cgpolicy apply" would (which then
                 * finds them in force); the LSM ones are left to apply. */
                if (!cgp_hook_needed(h, dirs) || h->prog_type == BPF_PROG_TYPE_LSM)
                        continue;
                pfd = test_pin_get(e, h->name);
                if (pfd < 0)
                        return pfd;
                if (bpf_prog_attach(pfd, cgfd, h->attach_type, BPF_F_ALLOW_MULTI) < 0)
                        return -errno;
        }
        return 0;
}

int test_detach(const TestEnv *e, const char *cg, const char *hook) {
        const CgpHook *h = cgp_hook_by_name(hook);
        _cleanup_close_ int cgfd = -EBADF, pfd = -EBADF;

        if (!h)
                return -EINVAL;
        cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0)
                return -errno;
        pfd = test_pin_get(e, h->name);
        if (pfd < 0)
                return pfd;
        if (bpf_prog_detach2(pfd, cgfd, h->attach_type) < 0)
                return -errno;
        return 0;
}

unsigned test_n_effective(const char *cg, const char *hook) {
        const CgpHook *h = cgp_hook_by_name(hook);
        _cleanup_close_ int cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        __u32 ids[64], cnt = ELEMENTSOF(ids), flags = 0;

        if (!h || cgfd < 0 || bpf_prog_query(cgfd, h->attach_type, BPF_F_QUERY_EFFECTIVE, &flags, ids, &cnt) < 0)
                return 0;
        return cnt;
}

long long test_map_entries(const TestEnv *e, const char *map) {
        _cleanup_free_ char *name = xasprintf("maps/%s", map);
        _cleanup_close_ int fd = test_pin_get(e, name);
        _cleanup_free_ void *k0 = NULL, *k1 = NULL;
        struct bpf_map_info info = {};
        __u32 len = sizeof info;
        long long n = 0;

        if (fd < 0)
                return fd;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
                return -errno;
        k0 = calloc(1, info.key_size);
        k1 = calloc(1, info.key_size);
        if (!k0 || !k1)
                return -ENOMEM;
        for (void *prev = NULL; bpf_map_get_next_key(fd, prev, k1) == 0; n++) {
                void *t = k0;

                k0 = k1;
                k1 = t;
                prev = k0;
        }
        return n;
}
