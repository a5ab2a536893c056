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
 * so the next attach finds the grace period passed. One primer serves every runtime that
 * starts while it runs: the lock is system-wide, so any writer keeps it primed. It listens
 * on an abstract unix socket (PRIMER_NAME, unix(7): no file, gone with the process); a
 * launcher first connects there, and only when nobody listens starts a primer itself
 * (bind, listen, connect, double fork). Its connection, named by PYCONTAINER_PRIMER_FD, is
 * the runtime's: closing it (attachlock.finish) says "attached". A primer lives as long as
 * one run's did before it was shared: until its own launcher's connection (told by the
 * peer's pid) is closed, or 100 ms; then it exits, and the runtimes that joined it meanwhile attach as
 * they would without it (or a later launcher starts another). So it never outlives its
 * own runtime's attach by more than a poll, and never holds its cgroup longer than one
 * run's primer did. With 50 runs at once that is a primer or two instead of 50 (each a
 * double fork and ~50 writes: ~0.6 ms of CPU per container, bench/roles.py). Any
 * failure only means no head start. Every other verb execs Python at once.
 *
 * Built by .ci/install.sh with PYTHON (the venv's interpreter) and SCRIPT (the Python
 * launcher) compiled in (and PRIMER_NAME, DEADLINE_MS and LISTEN_PAUSE_MS, for tests); argv
 * is passed on unchanged. Read: cgroups(7), fork(2), execve(2), unix(7), poll(2),
 * kernel/rcu/sync.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PYTHON
#error "build with -DPYTHON='\"/path/to/python\"' -DSCRIPT='\"/path/to/launcher.py\"'"
#endif

#ifndef PRIMER_NAME
#define PRIMER_NAME "pycontainer/attach-primer"
#endif

#define EVERY_MS 2
#ifndef DEADLINE_MS
#define DEADLINE_MS 100     /* a primer lives this long at most (tests build it longer) */
#endif
#define MAX_CLIENTS 256     /* more at once are accepted and closed: not primed */

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

/* The primer's abstract address: sun_path starts with a NUL (unix(7)). */
static socklen_t address(struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, PRIMER_NAME, strlen(PRIMER_NAME));
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(PRIMER_NAME));
}

/* A connection to the running primer, or -1 when none listens. */
static int join(void)
{
    struct sockaddr_un a;
    socklen_t len = address(&a);
    /* non-blocking: a listener that never accepts (its backlog full) fails the connect
     * with EAGAIN instead of holding the command */
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, len) == 0)
        return s;
    if (s >= 0)
        close(s);
    return -1;
}

/* The primer keeps nothing of the command that started it: it serves others too, and
 * must not hold its caller's pipes (a reader waiting for EOF), inherited fds or working
 * directory. -> the listener, at its new number. */
static int detach(int listener)
{
    int l = fcntl(listener, F_DUPFD_CLOEXEC, 3);
    if (l < 0)
        _exit(0);
    for (int fd = 0; fd < 3; fd++)
        close(fd);
    if ((l > 3 && close_range(3, l - 1, 0) != 0) || close_range(l + 1, ~0U, 0) != 0)
        for (int fd = 3; fd < 1024; fd++)       /* a kernel without close_range(2) */
            if (fd != l)
                close(fd);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);   /* 0: fds 0-2 are closed */
    if (null == 0) {
        dup2(0, 1);
        dup2(0, 2);
    }
    if (chdir("/") != 0)
        _exit(0);
    return l;
}

/* Whether connection c comes from process pid: its peer's credentials, taken by the
 * kernel at connect(2) (SO_PEERCRED, unix(7)); exec keeps the pid. */
static int from(int c, pid_t pid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    return getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == pid;
}

/* The grandchild: write, then every EVERY_MS until its own launcher's connection (the
 * runtime that started it, pid owner) is closed or DEADLINE_MS old; accept (and hold) the
 * others meanwhile. Its launcher's connection is told by its pid, not by coming first:
 * another launcher can connect between our listen and our own connect. */
static void prime(const char *path, int listener, pid_t owner)
{
    struct pollfd p[1 + MAX_CLIENTS];
    int n = 1, first = -1;
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d", getpid());
    long long born = now_ms(), last = born - EVERY_MS;
    p[0] = (struct pollfd){.fd = detach(listener), .events = POLLIN};
    for (;;) {
        long long now = now_ms();
        if (now - last >= EVERY_MS) {   /* every EVERY_MS, not at every connect or close */
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0)
                break;
            ssize_t w = write(fd, pid, len);
            close(fd);
            if (w != len)
                break;
            last = now;
        }
        long long wait = last + EVERY_MS - now_ms();
        if (poll(p, n, wait > 0 ? (int)wait : 0) < 0)
            break;
        for (int i = 1; i < n; i++)     /* closed by its runtime (EOF) */
            if (p[i].revents) {
                if (p[i].fd == first)
                    _exit(0);           /* our own runtime has attached */
                close(p[i].fd);
                p[i--] = p[--n];
            }
        if (p[0].revents & POLLIN)      /* new runtimes (the first: our launcher's) */
            for (int c; (c = accept4(p[0].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;) {
                if (n == 1 + MAX_CLIENTS) {
                    close(c);           /* (the listener is non-blocking: EAGAIN ends this) */
                    continue;
                }
                if (first < 0 && from(c, owner))
                    first = c;
                p[n++] = (struct pollfd){.fd = c, .events = POLLIN};
            }
        if (now_ms() - born >= DEADLINE_MS)
            break;                      /* our own runtime is late (or its connect was lost) */
    }
    _exit(0);
}

/* Join the running primer, or start one (its address, then the double fork) and join it.
 * -> the connection for the runtime, or -1 (no priming). */
static int primer(void)
{
    int s = join();
    if (s >= 0)
        return s;
    char path[8192];
    target(path, sizeof path);
    if (!path[0])
        return -1;
    struct sockaddr_un a;
    socklen_t len = address(&a);
    int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l < 0)
        return -1;
    if (bind(l, (struct sockaddr *)&a, len) != 0 || listen(l, 128) != 0) {
        close(l);
        return join();                  /* another launcher bound it first: join that one */
    }
#ifdef LISTEN_PAUSE_MS                   /* tests: widen the window before our connect */
    usleep(LISTEN_PAUSE_MS * 1000);
#endif
    s = join();                         /* queued until the primer accepts it */
    pid_t owner = getpid(), child = s >= 0 ? fork() : -1;
    if (child == 0) {
        close(s);
        if (fork() == 0)
            prime(path, l, owner);
        _exit(0);
    }
    close(l);
    if (child < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    waitpid(child, NULL, 0);
    return s;
}

int main(int argc, char **argv)
{
    if (attaches(argc, argv)) {
        int s = primer();
        if (s >= 0) {
            char fd[16];
            snprintf(fd, sizeof fd, "%d", s);
            fcntl(s, F_SETFD, 0);                   /* the runtime holds it */
            setenv("PYCONTAINER_PRIMER_FD", fd, 1);
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
