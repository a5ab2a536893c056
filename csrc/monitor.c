/* The detached container's monitor loop, in C: pycontainer/monitor.py's twin.
 *
 * Why C: the monitor lives as long as its container, one per container, and a
 * Python interpreter doing nothing holds ~2.5 MiB of private memory (the floor
 * of any Python monitor; conmon's is 1-2 MiB). This loop holds ~0.2 MiB.
 *
 * No policy lives here. detach.py decides everything and passes it as the
 * same arguments monitor.py takes (monitor.parse_args):
 *
 *   --pid N --log P [--log-max-size B --log-max-file N] --exit P --fd NAME=FD...
 *   [--tty 0|1] [--stdin FD|tty|-1] [--attach FD] [--oom FILE...] [--oom-before N]
 *   [--id ID] [-- THEN...]
 *
 * and this does what monitor.py does, byte for byte the same files:
 *  - relays the init's output to json.log (jsonlog.c: docker's json-file
 *    format, as containerdir.Log writes it);
 *  - serves attach.sock (SOCK_SEQPACKET: b"1"/b"2" + data out; b"0" + data,
 *    b"c", b"w" + rows,cols in; monitor.Attach). A client that cannot take a
 *    message yet holds the output back: the streams are not read until it has
 *    taken it (or gone), so the program blocks on its full pipe, as under
 *    docker attach, and no client misses a byte. After the init exited, one
 *    that has read nothing for 10 s (SIOCOUTQ), or still reads after 60, is
 *    dropped. The other way, input the program has not read yet is held up to
 *    1 MiB; past that the clients are not read, so they wait in turn;
 *  - reaps (it is a subreaper; the init is its child), waits up to 2 s for
 *    the pipes after the init exited, writes exit.json through a temp file
 *    and rename(2), with oom_killed from the cgroup's oom_kill counters;
 *  - then execv(2)s THEN (delete --force, or release-network).
 * tests/integration/test_monitor_c.py runs both on the same input and
 * compares what they wrote.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "jsonlog.h"

#define MAX_CLIENTS 64
#define MAX_OOM 4
#define CHUNK 65536
#define STDIN_MAX (1 << 20) /* input held for the program at most: then clients wait */
#define READ_GRACE 10.0     /* after the init exited: s a waiting client may read nothing */
#define TAIL_MAX 60.0       /* ... and s it may take for the rest */

/* --- attach.sock (monitor.Attach) ------------------------------------------------------ */

static int listen_fd = -1, stdin_fd = -1, tty, stdin_eof;  /* eof: close once pending is out */
static int clients[MAX_CLIENTS], nclients;
static struct buf pending;
/* The message the clients marked waiting[] could not take yet (send(2): EAGAIN). While any
 * waits, the streams are not read, so there is only ever one such message. */
static char held[CHUNK + 1];
static size_t held_n;
static int waiting[MAX_CLIENTS], nwaiting;
static int patient = 1;         /* 0 once the init exited and the waiters were given up */
static int outq_seen[MAX_CLIENTS], resent;  /* what the clients had yet to read at the last
                                               look (SIOCOUTQ), and a held message taken */

static void drop_client(int i)
{
    close(clients[i]);
    nwaiting -= waiting[i];
    clients[i] = clients[--nclients];
    waiting[i] = waiting[nclients];
    outq_seen[i] = outq_seen[nclients];
    waiting[nclients] = 0;
}

static void close_stdin(void)
{
    if (stdin_fd >= 0 && !tty)
        close(stdin_fd);
    stdin_fd = -1;
    pending.n = 0;
}

static void attach_accept(void)            /* every connection waiting in the backlog */
{
    int c;
    while ((c = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (nclients == MAX_CLIENTS) {
            close(c);
            continue;
        }
        waiting[nclients] = 0;
        outq_seen[nclients] = INT32_MAX;
        clients[nclients++] = c;
    }
}

static void attach_client(int i, char *msg)
{
    ssize_t n = recv(clients[i], msg, CHUNK + 1, MSG_DONTWAIT);    /* the kind byte + 64 KiB */
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop_client(i);
        return;
    }
    if (msg[0] == '0' && stdin_fd >= 0) {
        put(&pending, msg + 1, n - 1);
    } else if (msg[0] == 'c' && stdin_fd >= 0) {
        if (tty)
            put(&pending, "\x04", 1);
        else if (pending.n)
            stdin_eof = 1;              /* what came before the end goes in first */
        else
            close_stdin();
    } else if (msg[0] == 'w' && tty && n == 5) {
        struct winsize ws = {0};
        memcpy(&ws, msg + 1, 4);        /* rows, cols: two native uint16 */
        ioctl(stdin_fd, TIOCSWINSZ, &ws);
    }
}

static void write_stdin(void)
{
    ssize_t n = write(stdin_fd, pending.p, pending.n);
    if (n >= 0) {
        drop_front(&pending, n);
        if (!pending.n && stdin_eof)
            close_stdin();
    } else if (errno != EAGAIN && errno != EINTR) {
        pending.n = 0;
        if (!tty)
            close_stdin();
    }
}

/* msg: one byte of room, then the n bytes read */
static void attach_send(const char *stream, char *msg, size_t n)
{
    msg[0] = strcmp(stream, "stderr") == 0 ? '2' : '1';
    for (int i = nclients - 1; i >= 0; i--) {
        if (send(clients[i], msg, n + 1, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)(n + 1))
            continue;
        if (errno == EAGAIN && patient) {   /* a slow reader: it gets it when it has room */
            if (!nwaiting) {
                memcpy(held, msg, n + 1);
                held_n = n + 1;
            }
            waiting[i] = 1;
            nwaiting++;
        } else {
            drop_client(i);                 /* gone (or given up) */
        }
    }
}

static void attach_resend(int i)            /* POLLOUT on a waiting client */
{
    if (send(clients[i], held, held_n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)held_n) {
        waiting[i] = 0;
        nwaiting--;
        resent = 1;
    } else if (errno != EAGAIN && errno != EINTR) {
        drop_client(i);
    }
}

/* 1 if a waiting client has read anything since the last look (its queue went down, or it
 * made room for the held message) */
static int waiters_reading(void)
{
    int took = resent;
    resent = 0;
    for (int i = 0; i < nclients; i++) {
        int q = 0;
        if (ioctl(clients[i], SIOCOUTQ, &q) < 0)
            q = 0;
        if (waiting[i] && q < outq_seen[i])
            took = 1;
        outq_seen[i] = q;
    }
    return took;
}

static void give_up_waiting(void)           /* the init exited and they still wait */
{
    patient = 0;
    for (int i = nclients - 1; i >= 0; i--)
        if (waiting[i])
            drop_client(i);
}

/* --- exit.json ------------------------------------------------------------------------- */

static long long oom_kills(char **files, int n)
{
    long long total = 0;
    char line[256];
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "oom_kill ", 9) == 0)
                total += atoll(line + 9);
        fclose(f);
    }
    return total;
}

static void write_exit(const char *path, int code, int oom, int sig)
{
    char now[40], body[256], tmp[4096];
    rfc3339(now);
    int n = snprintf(body, sizeof body,
                     "{\"exit_code\":%d,\"signal\":%d,\"oom_killed\":%s,\"finished_at\":\"%s\"}\n",
                     code, sig, oom ? "true" : "false", now);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t w = write(fd, body, n);
    close(fd);
    if (w == n)
        rename(tmp, path);
}

/* --- the loop (monitor.main) ----------------------------------------------------------- */

#define LOST (-1)

static int reap(pid_t init, int *status)      /* 1: the init's status is in *status */
{
    int found = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (!found && kill(init, 0) < 0 && errno == ESRCH) {
                *status = LOST;
                return 1;
            }
            return found;
        }
        if (w == 0)
            return found;
        if (w == init) {
            *status = st;
            found = 1;
        }
    }
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    pid_t pid = 0;
    const char *exit_path = NULL, *stdin_arg = "-1", *log_path = NULL;
    long long max_size = 0;
    int max_file = 1;
    char *oom[MAX_OOM];
    int noom = 0;
    long long oom_before = 0;
    struct stream streams[2];
    int nstreams = 0;
    char **then = NULL;

    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            then = argv + i + 1;
            break;
        }
        if (i + 1 >= argc)
            break;
        const char *v = argv[i + 1];
        if (strcmp(a, "--pid") == 0) pid = atoi(v);
        else if (strcmp(a, "--log") == 0) log_path = v;
        else if (strcmp(a, "--log-max-size") == 0) max_size = atoll(v);
        else if (strcmp(a, "--log-max-file") == 0) max_file = atoi(v) > 0 ? atoi(v) : 1;
        else if (strcmp(a, "--exit") == 0) exit_path = v;
        else if (strcmp(a, "--oom-before") == 0) oom_before = atoll(v);
        else if (strcmp(a, "--tty") == 0) tty = strcmp(v, "1") == 0;
        else if (strcmp(a, "--stdin") == 0) stdin_arg = v;
        else if (strcmp(a, "--attach") == 0) listen_fd = atoi(v);
        else if (strcmp(a, "--oom") == 0 && noom < MAX_OOM) oom[noom++] = (char *)v;
        else if (strcmp(a, "--fd") == 0 && nstreams < 2) {
            const char *eq = strchr(v, '=');
            if (!eq)
                continue;
            struct stream *s = &streams[nstreams++];
            memset(s, 0, sizeof *s);
            s->name = strncmp(v, "stderr=", 7) == 0 ? "stderr" : "stdout";
            s->fd = atoi(eq + 1);
        }
    }
    if (!pid || !log_path || !exit_path) {
        fprintf(stderr, "pycontainer-monitor: --pid, --log and --exit are required\n");
        return 2;
    }
    for (int i = 0; i < nstreams; i++)
        fcntl(streams[i].fd, F_SETFL, fcntl(streams[i].fd, F_GETFL) | O_NONBLOCK);
    jsonlog_open(log_path, max_size, max_file);
    if (strcmp(stdin_arg, "tty") == 0)
        stdin_fd = nstreams ? streams[0].fd : -1;
    else
        stdin_fd = atoi(stdin_arg);
    if (stdin_fd >= 0 && !tty)
        fcntl(stdin_fd, F_SETFL, fcntl(stdin_fd, F_GETFL) | O_NONBLOCK);
    if (listen_fd >= 0)
        fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    static char data[CHUNK + 1];
    int have_status = 0, status = 0, fed = 0;
    double deadline = 0, exited_at = 0, read_at = 0;
    int open_streams = nstreams;
    while (open_streams || !have_status || nwaiting) {
        struct pollfd p[2 + 2 + MAX_CLIENTS + 1];
        int np = 0, slot[2] = {-1, -1};
        for (int i = 0; i < nstreams; i++)
            if (streams[i].fd >= 0 && !nwaiting) {     /* none held back by a slow client */
                slot[i] = np;
                p[np++] = (struct pollfd){streams[i].fd, POLLIN, 0};
            }
        if (pidfd >= 0 && !have_status)
            p[np++] = (struct pollfd){pidfd, POLLIN, 0};
        int first_attach = np;
        if (listen_fd >= 0)
            p[np++] = (struct pollfd){listen_fd, POLLIN, 0};
        for (int i = 0; i < nclients; i++)
            p[np++] = (struct pollfd){clients[i], (pending.n < STDIN_MAX ? POLLIN : 0) |
                                                  (waiting[i] ? POLLOUT : 0), 0};
        int end_attach = np, stdin_slot = -1;
        if (pending.n && stdin_fd >= 0) {
            stdin_slot = np;
            p[np++] = (struct pollfd){stdin_fd, POLLOUT, 0};
        }
        int timeout = -1;
        if (deadline) {
            double left = deadline - mono();
            timeout = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        if (pidfd < 0 && !have_status)
            timeout = 200;                      /* no pidfd: poll waitpid */
        if (poll(p, np, timeout) < 0 && errno != EINTR)
            break;
        if (stdin_slot >= 0 && p[stdin_slot].revents)
            write_stdin();
        /* clients first: one that connected before the program started (run -it, start -a)
         * gets its first output, which this same poll may have found ready too */
        if (listen_fd >= 0 && p[first_attach].revents)
            attach_accept();
        for (int i = 0; i < nstreams; i++) {
            struct stream *s = &streams[i];
            if (slot[i] < 0 || !p[slot[i]].revents || nwaiting)   /* the other stream's */
                continue;                               /* send made a client wait */
            ssize_t n = read(s->fd, data + 1, CHUNK);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n > 0) {
                if (!s->fed)
                    s->fed = ++fed;             /* Log.flush goes in this order */
                log_feed(s, data + 1, n, 0);
                attach_send(s->name, data, n);
            } else {                            /* EOF, or EIO: every pty slave closed */
                if (s->fd == stdin_fd)
                    stdin_fd = -1;
                close(s->fd);
                s->fd = -1;
                open_streams--;
            }
        }
        for (int k = first_attach; k < end_attach; k++) {
            if (!p[k].revents)
                continue;
            if (p[k].fd == listen_fd)
                continue;                       /* accepted above */
            for (int i = 0; i < nclients; i++)  /* still there: a send may have dropped it */
                if (clients[i] == p[k].fd) {
                    if (waiting[i] && (p[k].revents & POLLOUT))
                        attach_resend(i);
                    if (i < nclients && clients[i] == p[k].fd && (p[k].revents & ~POLLOUT))
                        attach_client(i, data);
                    break;
                }
        }
        if (!have_status) {
            have_status = reap(pid, &status);
            if (have_status) {      /* what outlives pid 1 is killed: a moment for the pipes */
                exited_at = read_at = mono();
                deadline = exited_at + 2.0;
                waiters_reading();              /* from here on */
            }
        } else {
            int ignored;
            reap(pid, &ignored);
        }
        if (deadline && mono() >= deadline) {
            if (!nwaiting)
                break;
            /* a slow reader still reading keeps its place (a message is 64 KiB: 10 s is a
             * link of 6.4 KB/s), for a minute at most; exit.json must not wait for a
             * stopped one */
            if (waiters_reading())
                read_at = mono();
            if (mono() - read_at >= READ_GRACE || mono() - exited_at >= TAIL_MAX)
                give_up_waiting();
            deadline = mono() + 2.0;
        }
    }
    while (nclients)
        drop_client(nclients - 1);
    if (listen_fd >= 0)
        close(listen_fd);
    /* Log.flush: the partial lines, in the order their streams were first fed */
    for (int order = 1; order <= fed; order++)
        for (int i = 0; i < nstreams; i++)
            if (streams[i].fed == order && streams[i].partial.n)
                log_feed(&streams[i], "", 0, 1);
    int code, sig = 0;
    if (!have_status || status == LOST) {
        code = -1;
    } else if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        code = 128 + sig;
    } else {
        code = WEXITSTATUS(status);
    }
    write_exit(exit_path, code, oom_kills(oom, noom) > oom_before, sig);
    if (stdin_fd >= 0 && !tty)
        close(stdin_fd);                /* the follow-up command gets none of ours */
    if (then && then[0]) {
        execv(then[0], then);
        return 127;
    }
    return 0;
}
