/* The `pycontainer` command: start the RCU grace period of the first cgroup attach, then
 * exec Python. Everything pycontainer decides is decided in Python; this only gets a
 * head start on a kernel wait.
 *
 * Why: moving a process into a cgroup takes cgroup_threadgroup_rwsem for writing, and
 * the first writer after a quiet spell waits one RCU grace period (6-15 ms here; see
 * pycontainer/cgroups/attachlock.py for the kernel side). Python primes it from a thread,
 * but that thread can only start once the interpreter is up (~8 ms): the grace period then
 * ends after the runtime wants to make and join the container's cgroup. Started here, at
 * exec time, it is over before Python has read config.json.
 *
 * What: for `create`, `run` and `exec` (the verbs that attach a process), a grandchild
 * (double fork: it is nobody's child to wait for) writes its own pid into the cgroup.procs
 * of the cgroup it is already in -- the kernel moves nothing -- then again every 2 ms,
 * so the next attach finds the grace period passed, until the runtime closes the pipe
 * named by PYCONTAINER_PRIMER_FD (attachlock.finish) or 100 ms have gone. Any failure
 * only means no head start. Every other verb execs Python at once.
 *
 * Built by .ci/install.sh with PYTHON (the venv's interpreter) and SCRIPT (the Python
 * launcher) compiled in; argv is passed on unchanged. Read: cgroups(7), fork(2),
 * execve(2), and kernel/rcu/sync.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PYTHON
#error "build with -DPYTHON='\"/path/to/python\"' -DSCRIPT='\"/path/to/launcher.py\"'"
#endif

#define EVERY_MS 2
#define DEADLINE_MS 100

/* The verb: the first argument that is not a global option (or an option's value). */
static int attaches(int argc, char **argv)
{
    static const char *with_value[] = {"--root", "--log", "--log-format", "--trace-to", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            return !strcmp(a, "create") || !strcmp(a, "run") || !strcmp(a, "exec");
        for (const char **v = with_value; *v; v++)
            if (!strcmp(a, *v))
                i++;
    }
    return 0;
}

/* This process's cgroup.procs in one hierarchy: cgroup2 (pure, or hybrid's "unified"),
 * else name=systemd, else pids. Empty if none is writable. */
static void target(char *out, size_t n)
{
    char line[4096], v2[4096] = "", named[4096] = "", pids[4096] = "";
    out[0] = 0;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || strstr(c2, "/.."))
            continue;
        *c2 = 0;
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (!strcmp(ctrls, ""))
            snprintf(v2, sizeof v2, "%s", path);
        else if (!strcmp(ctrls, "name=systemd"))
            snprintf(named, sizeof named, "/sys/fs/cgroup/systemd%s/cgroup.procs", path);
        else if (!strcmp(ctrls, "pids"))
            snprintf(pids, sizeof pids, "/sys/fs/cgroup/pids%s/cgroup.procs", path);
    }
    fclose(f);
    char pure[4096 + 32], unified[4096 + 32];
    snprintf(pure, sizeof pure, "/sys/fs/cgroup%s/cgroup.procs", v2);
    snprintf(unified, sizeof unified, "/sys/fs/cgroup/unified%s/cgroup.procs", v2);
    const char *try[] = {v2[0] ? pure : "", v2[0] ? unified : "", named, pids};
    for (int i = 0; i < 4; i++)
        if (try[i][0] && access(try[i], W_OK) == 0) {
            snprintf(out, n, "%s", try[i]);
            return;
        }
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* The grandchild: write, then every EVERY_MS until the pipe closes or the deadline. */
static void prime(const char *path, int rd)
{
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d", getpid());
    long long end = now_ms() + DEADLINE_MS;
    for (;;) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        ssize_t w = write(fd, pid, len);
        close(fd);
        if (w != len)
            break;
        struct pollfd p = {.fd = rd, .events = POLLIN};
        long long left = end - now_ms();
        if (left <= 0 || poll(&p, 1, left < EVERY_MS ? (int)left : EVERY_MS) != 0)
            break;                  /* the runtime closed its end (or an error) */
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    if (attaches(argc, argv)) {
        char path[8192];
        int p[2];
        target(path, sizeof path);
        if (path[0] && pipe2(p, O_CLOEXEC) == 0) {
            pid_t child = fork();
            if (child == 0) {
                close(p[1]);
                if (fork() == 0)
                    prime(path, p[0]);
                _exit(0);
            }
            close(p[0]);
            if (child > 0) {
                waitpid(child, NULL, 0);
                char fd[16];
                snprintf(fd, sizeof fd, "%d", p[1]);
                fcntl(p[1], F_SETFD, 0);                /* the runtime holds it */
                setenv("PYCONTAINER_PRIMER_FD", fd, 1);
            } else {
                close(p[1]);
            }
        }
    }
    char **args = calloc(argc + 3, sizeof *args);
    if (!args)
        return 125;
    args[0] = PYTHON;
    args[1] = "-IS";
    args[2] = SCRIPT;
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    execv(PYTHON, args);
    perror("pycontainer: exec " PYTHON);
    return 125;
}
