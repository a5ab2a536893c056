"""The monitor of a detached container (what conmon is to podman).

``run -d`` must return at once, yet someone has to keep the container's
output and learn its exit status. Only the *parent* of a process can read
its exit status (wait(2)), so the process that created the container (stage
0, a child subreaper whose child the init became) turns itself into the
monitor with execve(2): the init stays its child across execve, and so does
the subreaper flag (prctl(2) PR_SET_CHILD_SUBREAPER "is preserved across
execve"). ``pycontainer.detach.spawn`` does that; this file is what it execs.

It runs as ``python -I -S -c BOOT PKGDIR --pid N --log F --exit F --fd stdout=3 ...``: no site, no click, no
pycontainer import (it and containerdir.py are run as files, by path), only
``os``, ``select``, ``time``, ``_json``: ~3.7 MiB of private memory per container,
of which ~2.5 MiB is the interpreter's own floor (``python -IS`` doing nothing).
So where it was built, ``pycontainer-monitor`` beside this file (csrc/monitor.c,
~0.2 MiB) runs instead, with the same arguments, writing the same files:
``command`` picks one. All the decisions stay in detach.py; both only carry
them out.

It writes, in the container's directory (formats: containerdir.py):

* ``json.log``: docker's json-file format, one JSON object per line,
  ``{"log": "text\\n", "stream": "stdout"|"stderr", "time": RFC3339Nano}``;
  lines longer than 16 KiB are split, as docker does; rotated at
  ``--log-max-size`` into json.log.1 .. (``--log-opt max-size/max-file``);
* ``exit.json`` when the init has exited: ``{"exit_code", "signal",
  "oom_killed", "finished_at"}`` (written to a temp file and renamed);

then, for ``run -d --rm``, execs the ``rm`` command it was given.
"""

import os
import select
import sys
import time

try:
    from . import containerdir as cd          # imported as pycontainer.monitor
except ImportError:
    import containerdir as cd                 # run by BOOT: a top-level module beside this one


class Attach:
    """``attach.sock`` (SOCK_SEQPACKET: one message = one chunk, no framing needed).

    monitor -> client: ``b"1" + data`` (stdout, or the tty), ``b"2" + data`` (stderr).
    client -> monitor: ``b"0" + data`` (stdin), ``b"c"`` (stdin closed),
    ``b"w" + rows,cols`` (window size, 2x uint16). A client that cannot take a
    message yet holds the output back: the streams are not read until it has
    taken it or gone, so the program blocks on its full pipe, as under docker
    attach, and no client misses a byte. After the init exited, one that has
    read nothing for READ_GRACE (10 s; SIOCOUTQ tells), or still reads after
    TAIL_MAX (60 s), is dropped (``give_up_waiting``): exit.json must not wait
    for a stopped reader. The other way, input the program has not read yet is
    held up to STDIN_MAX (1 MiB); past that the clients are not read.
    """

    def __init__(self, listen_fd: int, stdin_fd: int, tty: bool):
        import _socket
        self._socket = _socket
        self.listen = _socket.socket(fileno=listen_fd) if listen_fd >= 0 else None
        if self.listen is not None:
            self.listen.setblocking(False)
        self.clients = {}
        self.waiting = set()        # the clients that have not taken ``held`` yet
        self.held = b""
        self.patient = True         # False once the init exited and the waiters were given up
        self.outq_seen = {}         # what each client had yet to read at the last look
        self.resent = False         # a waiting client made room for ``held`` since then
        self.stdin = stdin_fd
        self.tty = tty
        self.pending = b""
        self.stdin_eof = False      # the client ended stdin: close it once ``pending`` is out
        if stdin_fd >= 0 and not tty:
            os.set_blocking(stdin_fd, False)

    def fds(self) -> list:
        # input the program has not read: STDIN_MAX at most, then the clients wait in turn
        return ([self.listen.fileno()] if self.listen is not None else []) + \
            (list(self.clients) if len(self.pending) < STDIN_MAX else [])

    def wfds(self) -> list:
        return ([self.stdin] if self.pending and self.stdin >= 0 else []) + list(self.waiting)

    def resend(self, fd: int) -> None:
        """A waiting client has room: the message it could not take."""
        try:
            self.clients[fd].send(self.held)
        except BlockingIOError:
            return
        except OSError:
            self.drop(fd)
            return
        self.waiting.discard(fd)
        self.resent = True

    def waiters_reading(self) -> bool:
        """Has a waiting client read anything since the last look (its queue, SIOCOUTQ, went
        down, or it made room for ``held``)?"""
        import fcntl
        import struct
        import termios
        took, self.resent = self.resent, False
        for fd in self.clients:
            try:
                q = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0" * 4))[0]
            except OSError:
                q = 0
            if fd in self.waiting and q < self.outq_seen.get(fd, 1 << 31):
                took = True
            self.outq_seen[fd] = q
        return took

    def give_up_waiting(self) -> None:
        self.patient = False
        for fd in list(self.waiting):
            self.drop(fd)

    def handle(self, fd: int) -> None:
        if self.listen is not None and fd == self.listen.fileno():
            while True:                 # every connection waiting in the backlog
                try:
                    cfd, _ = self.listen._accept()
                except OSError:
                    return
                c = self._socket.socket(fileno=cfd)
                c.setblocking(False)
                self.clients[cfd] = c
        c = self.clients.get(fd)
        if c is None:                 # dropped by a send in this round
            return
        try:
            msg = c.recv(65536 + 1)     # the kind byte + a 64 KiB read
        except BlockingIOError:
            return
        except OSError:
            msg = b""
        if not msg:
            self.drop(fd)
            return
        kind, data = msg[:1], msg[1:]
        if kind == b"0" and self.stdin >= 0:
            self.pending += data
        elif kind == b"c" and self.stdin >= 0:
            if self.tty:
                self.pending += b"\x04"
            elif self.pending:
                self.stdin_eof = True   # what came before the end goes in first
            else:
                self.close_stdin()
        elif kind == b"w" and self.tty and len(data) == 4:
            import fcntl
            import termios
            try:
                fcntl.ioctl(self.stdin, termios.TIOCSWINSZ, data + b"\0\0\0\0")
            except OSError:
                pass

    def write_stdin(self) -> None:
        try:
            n = os.write(self.stdin, self.pending)
            self.pending = self.pending[n:]
            if not self.pending and self.stdin_eof:
                self.close_stdin()
        except BlockingIOError:
            pass
        except OSError:
            self.pending = b""
            if not self.tty:
                self.close_stdin()

    def close_stdin(self) -> None:
        if self.stdin >= 0 and not self.tty:
            os.close(self.stdin)
        self.stdin = -1
        self.pending = b""

    def send(self, stream: str, data: bytes) -> None:
        msg = (b"2" if stream == "stderr" else b"1") + data
        for fd in list(self.clients):
            try:
                self.clients[fd].send(msg)
            except BlockingIOError:   # a slow reader: it gets it when it has room
                if not self.patient:
                    self.drop(fd)
                    continue
                self.held = msg
                self.waiting.add(fd)
            except OSError:           # gone
                self.drop(fd)

    def drop(self, fd: int) -> None:
        self.waiting.discard(fd)
        self.outq_seen.pop(fd, None)
        c = self.clients.pop(fd, None)
        if c is not None:
            c.close()

    def close(self) -> None:
        for fd in list(self.clients):
            self.drop(fd)
        if self.listen is not None:
            self.listen.close()


def main(cfg: dict) -> None:
    pid = cfg["pid"]
    streams = {fd: name for name, fd in cfg["fds"].items()}
    for fd in streams:
        os.set_blocking(fd, False)
    log = cd.Log(cfg["log"], int(cfg.get("log-max-size", 0)), int(cfg.get("log-max-file", 1)))
    tty = cfg.get("tty") == "1"
    stdin = cfg.get("stdin", "-1")        # "tty": the pty master; a pipe's write end; or -1
    stdin_fd = cfg["fds"]["stdout"] if stdin == "tty" else int(stdin)
    att = Attach(int(cfg.get("attach", -1)), stdin_fd, tty)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = -1
    oom_before = cfg.get("oom_before", 0)
    status = None
    deadline = exited_at = read_at = None
    while streams or status is None or att.waiting:
        # the streams wait while a client has not taken the last message (Attach)
        rd = ([] if att.waiting else list(streams)) + \
            ([pidfd] if pidfd >= 0 and status is None else []) + att.fds()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if pidfd < 0 and status is None:
            timeout = 0.2          # no pidfd: poll waitpid
        try:
            r, w, _ = select.select(rd, att.wfds(), [], timeout)
        except InterruptedError:
            continue
        if att.listen is not None and att.listen.fileno() in r:
            # clients first: one that connected before the program started (run -it, start -a)
            # gets its first output, which this same select may have found ready too
            att.handle(att.listen.fileno())
        for fd in w:
            if fd in att.waiting:
                att.resend(fd)
            elif fd == att.stdin:
                att.write_stdin()
        for fd in r:
            if fd == pidfd:
                continue
            if fd not in streams:
                if att.listen is None or fd != att.listen.fileno():
                    att.handle(fd)
                continue
            if att.waiting:         # the other stream's send made a client wait
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:         # EIO: every pty slave closed
                data = b""
            if data:
                log.feed(streams[fd], data)
                att.send(streams[fd], data)
            else:
                if fd == att.stdin:
                    att.stdin = -1
                os.close(fd)
                del streams[fd]
        if status is None:
            status = _reap(pid)
            if status is not None:
                # Processes that outlive pid 1 are killed by the kernel; give
                # the pipes a moment to reach EOF, then stop reading.
                exited_at = read_at = time.monotonic()
                deadline = exited_at + 2.0
                att.waiters_reading()                   # from here on
        else:
            _reap(pid)
        if deadline is not None and time.monotonic() >= deadline:
            if not att.waiting:
                break
            # a slow reader still reading keeps its place (a message is 64 KiB: 10 s is a
            # link of 6.4 KB/s), for a minute at most; exit.json must not wait for a stopped one
            if att.waiters_reading():
                read_at = time.monotonic()
            if time.monotonic() - read_at >= READ_GRACE or time.monotonic() - exited_at >= TAIL_MAX:
                att.give_up_waiting()
            deadline = time.monotonic() + 2.0
    att.close()
    log.flush()
    if status is None or status == LOST:
        code, sig = -1, 0
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        code = 128 + sig
    else:
        code, sig = os.WEXITSTATUS(status), 0
    cd.write_exit(cfg["exit"], code, cd.oom_kills(cfg.get("oom", [])) > oom_before, sig)
    if cfg.get("then"):
        os.execv(cfg["then"][0], cfg["then"])


STDIN_MAX = 1 << 20  # bytes of input held for the program at most
READ_GRACE = 10.0   # after the init exited: s a waiting attach client may read nothing
TAIL_MAX = 60.0     # ... and s it may take for the rest


def _reap(init: int):
    """Reap every exited child (we are a subreaper); the init's wait status, or None."""
    found = None
    while True:
        try:
            wpid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found if found is not None else (LOST if not _alive(init) else None)
        if wpid == 0:
            return found
        if wpid == init:
            found = st


LOST = -1      # the init is not our child (cannot happen unless misused): status unknown


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def parse_args(argv: list) -> dict:
    """``--pid N --log P [--log-max-size B --log-max-file N] --exit P --fd NAME=FD... [--tty 1]
    [--stdin FD|tty] [--attach FD]
    [--oom FILE...] [--oom-before N] [-- THEN...]``."""
    cfg = {"fds": {}, "oom": [], "then": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            cfg["then"] = argv[i + 1:]
            break
        v = argv[i + 1]
        if a == "--fd":
            name, _, fd = v.partition("=")
            cfg["fds"][name] = int(fd)
        elif a == "--oom":
            cfg["oom"].append(v)
        elif a in ("--pid", "--oom-before"):
            cfg[a[2:].replace("-", "_")] = int(v)
        else:
            cfg[a[2:]] = v
        i += 2
    return cfg


def run(argv: list) -> None:
    import signal
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(s, signal.SIG_IGN)
    main(parse_args(argv))


def command(pkgdir: str) -> list:
    """The monitor's program, its arguments to follow: the C loop ``pycontainer-monitor`` in
    ``pkgdir`` when it was built (setup.py build_ext), else this file under ``python -I -S``.
    ``PYCONTAINER_MONITOR=python`` picks this one anyway (tests run both)."""
    exe = os.path.join(pkgdir, "pycontainer-monitor")
    if os.environ.get("PYCONTAINER_MONITOR") != "python" and os.access(exe, os.X_OK):
        return [exe]
    return [sys.executable, "-I", "-S", "-c", BOOT, pkgdir]


# What detach.py execs: this file imported as a top-level module ``monitor``
# from the package directory, so its cached bytecode is used (compiling the
# source instead would leave ~1.3 MiB more heap in every monitor).
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); import monitor; monitor.run(sys.argv[2:])"

if __name__ == "__main__":
    run(sys.argv[1:])
