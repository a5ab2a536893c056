"""``exec_run`` in the helper's worker: an exec with a timeout that kills its process tree, a
pseudo-terminal of the container's own, user names from the container's passwd.

The exec itself is the OCI runtime's (``Runtime.exec``, process/execute.py:
setns(2) into the container's namespaces, its cgroup, its seccomp filter);
what this adds is the API's: ``timeout`` and a cancelled request (the
caller's reply socket closed) kill the process and its descendants
(/proc/PID/task/TID/children, proc(5)), never the container; ``tty`` gives
the process a terminal of the container's devpts (pts(4)) and relays it.
"""

from __future__ import annotations

import json
import os
import signal
import time

from .. import containerdir as cd


def op_exec_timed(root: str, cid: str, args, *, env=(), user=None, workdir=None, privileged=False,
                  detach=False, timeout: float | None = None, cancel_fd: int | None = None,
                  oom: bool = False, tty: bool = False) -> dict:
    """``exec`` on our stdio for the API -> {exit_code, timed_out, oom_killed}.

    ``timeout`` or ``cancel_fd`` readable (the caller gave up or died) kills
    the exec's process tree (the process and its descendants, found through
    /proc/PID/task/TID/children), not the container. ``tty``: the process
    gets a pseudo-terminal (pty(7)) as its stdio; we copy its output to our
    stdout and our stdin to it (docker exec -t: one stream, CRLF line ends).
    """
    import select
    from ..container import Runtime
    from ..signals import wait_exit
    rt = Runtime(root)
    caps = None
    if privileged:
        from ..capabilities import CAPS
        caps = sorted(CAPS)
    gids = ()
    if user and not all(p.isdigit() for p in user.split(":")):
        user, gids = exec_user(rt, cid, user)
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps,
                           additional_gids=gids)
    files = cd.oom_files(rt.record(cid)) if oom else []
    oom_before = cd.oom_kills(files) if oom else 0
    pid_file = f"/dev/shm/pycontainer-exec-{os.getpid()}.pid"       # tmpfs: no disk on the path
    master = -1
    if tty and not detach:
        master, ours = _pty_stdio(rt.record(cid)["pid"])
    try:
        rt.exec(cid, proc, detach=True, pid_file=pid_file)
        with open(pid_file) as f:
            pid = int(f.read())
    finally:
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass
        if master >= 0:
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
        else:
            r, _, _ = select.select(watch, [], [], left)
        timed_out = pidfd not in r
        if timed_out:
            kill_tree(pid)
    finally:
        os.close(pidfd)
    code = wait_exit(pid)
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


def exec_user(rt, cid: str, user: str) -> tuple[str, list[int]]:
    """A user/group name -> ("UID:GID", supplementary gids), from the container's /etc/passwd and
    /etc/group: its image's layers with its own changes on top (as docker exec resolves it)."""
    from ..image.overlay import ANNOTATION, OverlayPlan
    from ..image.runconfig import resolve_user
    with open(os.path.join(rt.record(cid).get("bundle", ""), "config.json")) as f:
        plan = OverlayPlan.from_json(json.load(f).get("annotations", {}).get(ANNOTATION) or "{}")
    u = resolve_user(plan.lower + ([plan.upper] if plan.upper else []), user)
    return f"{u['uid']}:{u['gid']}", u.get("additionalGids", [])


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
