"""``exec_run`` in the helper's worker: an exec with a timeout that kills its process tree, a
pseudo-terminal of the container's own, user names from the container's passwd.

The exec itself is the OCI runtime's (``Runtime.exec``, process/execute.py:
setns(2) into the container's namespaces, its cgroup, its seccomp filter);
what this adds is the API's: ``timeout`` and a cancelled request (the
caller's reply socket closed) kill the process and its descendants
(/proc/PID/task/TID/children, proc(5)), never the container; ``tty`` gives
the process a terminal of the container's devpts (pts(4)) and relays it;
``mux`` (``exec_run(socket=True)`` without a tty) gives it pipes for stdout
and stderr and relays them onto our stdio, a socket, in docker's multiplexed
stream format (``frame``).
"""

from __future__ import annotations

import os
import signal
import socket
import time

from .. import containerdir as cd


def op_exec_timed(root: str, cid: str, args, *, env=(), user=None, workdir=None, privileged=False,
                  detach=False, timeout: float | None = None, cancel_fd: int | None = None,
                  oom: bool = False, tty: bool = False, mux: bool = False,
                  attach=(True, True, True)) -> dict:
    """``exec`` on our stdio for the API -> {exit_code, timed_out, oom_killed}.

    ``timeout`` or ``cancel_fd`` readable (the caller gave up or died) kills
    the exec's process tree (the process and its descendants, found through
    /proc/PID/task/TID/children), not the container. ``tty``: the process
    gets a pseudo-terminal (pty(7)) as its stdio; we copy its output to our
    stdout and our stdin to it (docker exec -t: one stream, CRLF line ends).
    ``mux`` (our stdio is the caller's socket, no tty): the process gets pipes
    as stdout and stderr (/dev/null for a stream not in ``attach``, which is
    (stdin, stdout, stderr)), the socket as stdin only if attached, and we
    write what the pipes give as docker's frames onto the socket (``relay_mux``).
    """
    import select
    from ..container import Runtime
    from ..signals import wait_exit
    rt = Runtime(root)
    caps = None
    if privileged:                  # every capability we hold (a host may lack some: capset
        from .config import all_caps  # refuses a permitted set beyond ours, EPERM)
        caps = all_caps()
    gids = ()
    if user and not all(p.isdigit() for p in user.split(":")):
        from ..lifecycle import exec_user       # docker exec's rule, the CLI's and the API's
        user, gids = exec_user(root, cid, user)
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps,
                           additional_gids=gids)
    record = rt.record(cid)
    cd.touch(cd.of(record))                 # activity, for idle_timeout (api/operations.py)
    files = cd.oom_files(record) if oom else []
    oom_before = cd.oom_kills(files) if oom else 0
    pid_file = f"/dev/shm/pycontainer-exec-{os.getpid()}.pid"       # tmpfs: no disk on the path
    master = -1
    pipes: dict = {}
    if tty and not detach:
        master, ours = _pty_stdio(record["pid"])
    elif mux and not detach:
        ours, pipes = _mux_stdio(attach)
    try:
        rt.exec(cid, proc, detach=True, pid_file=pid_file)
        with open(pid_file) as f:
            pid = int(f.read())
    finally:
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass
        if master >= 0 or pipes:
            null = os.open(os.devnull, os.O_RDWR)
            for i in (0, 1, 2):             # only the exec holds the terminal's other end now
                os.dup2(null, i)
            os.close(null)
    if detach:
        return {"exit_code": None, "timed_out": False}
    t0 = time.monotonic()
    pidfd = os.pidfd_open(pid)
    try:
        watch = [pidfd] if cancel_fd is None else [pidfd, cancel_fd]
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - t0))
        if master >= 0:
            r = _relay_tty(master, ours, pidfd, watch, None if left is None else t0 + timeout)
        elif pipes:
            r = relay_mux(pipes, ours, pid, pidfd, watch, None if left is None else t0 + timeout)
        else:
            r, _, _ = select.select(watch, [], [], left)
        timed_out = pidfd not in r
        if timed_out:
            kill_tree(pid)
    finally:
        os.close(pidfd)
    code = wait_exit(pid)
    cd.touch(cd.of(record))
    return {"exit_code": code, "timed_out": timed_out, "oom_killed": oom and cd.oom_kills(files) > oom_before}


def _pty_stdio(init_pid: int) -> tuple[int, tuple[int, int]]:
    """A pty of the container's own devpts (its /dev/ptmx, opened with openat2 RESOLVE_IN_ROOT
    from its root, so the terminal is /dev/pts/N in there) whose terminal end, opened with
    TIOCGPTPEER, becomes our fds 0-2 (the exec inherits them); (master, (our stdin, our
    stdout)) to relay through. See pts(4), ioctl_tty(2)."""
    import fcntl
    from .. import syscalls as sc
    ours = (os.dup(0), os.dup(1))
    root = os.open(f"/proc/{init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        master = sc.openat2(root, "dev/ptmx", os.O_RDWR | os.O_NOCTTY, 0,
                            sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(root)
    fcntl.ioctl(master, 0x40045431, b"\0\0\0\0")               # TIOCSPTLCK 0: unlock
    term = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)   # TIOCGPTPEER
    for i in (0, 1, 2):
        os.dup2(term, i)
    os.close(term)
    return master, ours


def _mux_stdio(attach) -> tuple[int, dict]:
    """Our fds 0-2 (the caller's socket) set up for a multiplexed exec: (the socket, {pipe read
    end: docker stream number}); the exec inherits 0-2."""
    sock = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    pipes = {}
    if not attach[0]:
        os.dup2(null, 0)
    for stream in (1, 2):
        if attach[stream]:
            r, w = os.pipe()
            os.dup2(w, stream)
            os.close(w)
            pipes[r] = stream
        else:
            os.dup2(null, stream)
    os.close(null)
    return sock, pipes


def frame(stream: int, data: bytes) -> bytes:
    """docker's multiplexed stream (the Engine API's attach/exec without a tty): an 8-byte header,
    the stream (1 stdout, 2 stderr) as one byte, three zero bytes, the payload's length as a
    big-endian uint32, then the payload."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


def relay_mux(pipes: dict, sock: int, pid: int, pidfd: int, watch: list, deadline) -> list:
    """Frame what the exec writes on its pipes onto ``sock`` until it has exited and both pipes
    ended (a descendant may keep them open: at most DRAIN seconds more), the deadline passes
    (the process tree is killed, its last output still framed) or ``watch`` other than the
    pidfd fires (the caller is gone). Never blocks on a slow reader: while more than LAG bytes
    wait for the socket the pipes are not read, so the program waits instead (docker's
    backpressure). Closes the fds; [pidfd] when the exec exited by itself, else []."""
    import select
    os.set_blocking(sock, False)
    pending = b""
    exited = timed_out = gone = False
    drain_until = None
    while (pipes or pending or not exited) and not gone:
        now = time.monotonic()
        if drain_until is not None and now >= drain_until:
            if timed_out:
                break                                # nor wait for a reader past the timeout
            for fd in pipes:                         # a descendant holds them: stop reading
                os.close(fd)
            pipes = {}
            drain_until = None
        if deadline is not None and not timed_out and now >= deadline:
            timed_out = True
            kill_tree(pid)
        ends = [t for t in (None if timed_out else deadline, drain_until) if t is not None]
        rd = [w for w in watch if not (w == pidfd and exited)] + \
            (list(pipes) if len(pending) < LAG else [])
        try:
            r, w, _ = select.select(rd, [sock] if pending else [], [],
                                    max(0.0, min(ends) - now) if ends else None)
        except InterruptedError:
            continue
        for fd in r:
            if fd == pidfd:
                exited = True
                drain_until = time.monotonic() + DRAIN
            elif fd in watch:
                gone = True                          # the caller gave up or died
            else:
                data = os.read(fd, 65536)
                if data:
                    pending += frame(pipes[fd], data)
                else:
                    os.close(fd)
                    del pipes[fd]
        if w:
            try:
                pending = pending[os.write(sock, pending):]
            except BlockingIOError:
                pass
            except OSError:                          # the caller closed its end
                gone = True
    if gone and not exited:
        kill_tree(pid)
    for fd in [*pipes, sock]:
        os.close(fd)
    return [pidfd] if exited and not timed_out else []


LAG = 1 << 20       # bytes framed but not yet taken by the caller before we stop reading
DRAIN = 2.0         # seconds the pipes may stay open after the exec exited


def _relay_tty(master: int, ours, pidfd: int, watch: list, deadline) -> list:
    """Copy the pty's output to our stdout and our stdin into it until the exec exits (then
    what it left in the pty), the deadline passes or ``watch`` fires; select's ready list."""
    import select
    stdin, stdout = ours
    rd = {master, stdin, *watch}
    ready: list = []
    while pidfd not in ready:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            ready = []
            break
        r, _, _ = select.select(list(rd), [], [], left)
        ready = [f for f in r if f in watch]
        if ready and pidfd not in ready:
            break                                   # the caller is gone
        if master in r:
            try:
                data = os.read(master, 65536)
            except OSError:                          # EIO: no process holds the terminal
                data = b""
            if data:
                os.write(stdout, data)
            else:
                rd.discard(master)
        if stdin in r:
            data = os.read(stdin, 65536)
            os.write(master, data or b"\x04")       # end of our input: ^D, the terminal's EOF
            if not data:
                rd.discard(stdin)
    while pidfd in ready and master in rd:           # the rest of its output, without waiting
        if not select.select([master], [], [], 0.05)[0]:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        os.write(stdout, data)
    for fd in (master, stdin, stdout):
        os.close(fd)
    return ready


class ExecSocket(socket.socket):
    """What ``exec_run(socket=True)`` returns: the caller's end of the exec's socket.

    A ``socket.socket`` (``recv``, ``sendall``, ``shutdown(SHUT_WR)``: the program's stdin
    ends), plus what docker-py's return value has: ``read``/``write`` as its
    ``socket.SocketIO`` and ``_sock``, the socket itself, so code written against
    docker-py (``sock._sock.sendall(...)``, ``docker.utils.socket.frames_iter(sock, tty)``)
    works unchanged. Without a tty what it reads is docker's multiplexed stream (``frame``)."""

    @property
    def _sock(self):
        return self

    def read(self, n: int = 4096) -> bytes:
        return self.recv(n)

    def write(self, data) -> int:
        self.sendall(data)
        return len(data)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant, stopping each first so none can fork away."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        seen.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
