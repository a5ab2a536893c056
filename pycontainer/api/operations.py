"""The operations the porcelain (``run IMAGE``, ``logs``, ``wait``, ``stop``) and the API share.

* forking ones, for a single-threaded process only (the CLI, or the API's
  helper, api/helper.py): ``op_create`` (``run -d``, ``containers.create``:
  the container under a monitor, detach.py), ``op_run`` (the foreground
  program on our stdio, with a timeout that kills its whole cgroup) and
  ``op_exec``;
* reading ones, for any process and thread: ``inspect`` (a docker-inspect
  record from the state and the container's directory), ``resolve_id``,
  ``follow_logs``, ``wait`` and ``stop``.

Each one raises pycontainer's errors (``errors.py``), which are the API's too.
"""

from __future__ import annotations

import os
import signal
import time

from .. import containerdir as cd
from ..errors import ContainerNotFound, PyContainerError
from .config import build


def op_create(root: str, cid: str, o: dict, *, start: bool, remove: bool = False,
              image_root=None) -> dict:
    """Build and create under a monitor (``run -d``, ``containers.create``); -> {id, pid}."""
    from .. import detach, lifecycle
    from ..container import Runtime
    cdir, plan = build(cid, dict(o, remove=remove), image_root=image_root, root=root)
    rt = Runtime(root)
    try:
        pid = detach.spawn(rt, cid, cdir, cdir, tty=bool(o.get("tty")), start=start, remove=remove,
                           interactive=bool(o.get("interactive")), overlay=plan,
                           on_delete=cd.delete_plan())
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)     # docker keeps a Created one (126/127)
        raise
    return {"id": cid, "pid": pid}


def op_run(root: str, cid: str, o: dict, *, remove: bool, timeout: float | None = None,
           image_root=None, forward_signals: bool = False, pull: str = "missing") -> dict:
    """Build, run in the foreground on our stdio, wait; -> {exit_code, oom_killed, timed_out, wall}.

    ``timeout`` (seconds from start) kills every process of the container's
    cgroup. The exit status is also written to the container's exit.json,
    so a kept container reports it later.
    """
    from .. import lifecycle
    from ..container import Runtime
    cdir, plan = build(cid, dict(o, remove=remove), image_root=image_root, pull=pull, root=root)
    rt = Runtime(root)
    try:
        record = rt.create(cid, cdir, overlay=plan, on_delete=cd.delete_plan(), autoremove=remove)
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)     # docker keeps a Created one (126/127)
        raise
    timed_out = False
    try:
        files = cd.oom_files(record)
        oom_before = cd.oom_kills(files)
        pid = record["pid"]
        t0 = time.monotonic()
        old = {}
        if forward_signals:         # as docker's sig-proxy: our signals go to the program
            from ..signals import forward_signal
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                      signal.SIGUSR2):
                old[s] = signal.signal(s, lambda n, _f: forward_signal(pid, n))
        rt.start(cid)
        pidfd = os.pidfd_open(pid)
        try:
            import select
            left = None if timeout is None else timeout - (time.monotonic() - t0)
            r, _, _ = select.select([pidfd], [], [], None if left is None else max(0.0, left))
            if not r:
                timed_out = True
                rt.cgroup_of(record).kill_all(signal.SIGKILL)
        finally:
            os.close(pidfd)
        from ..signals import wait_exit
        code = wait_exit(pid)
        for s, h in old.items():
            signal.signal(s, h)
        wall = time.monotonic() - t0
        oom = cd.oom_kills(files) > oom_before
        cd.write_exit(os.path.join(cdir, cd.EXIT), code, oom)
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)
        raise
    if remove:
        rt.delete(cid, force=True)
    else:
        lifecycle.release_network(root, cid)        # docker: a stopped container holds no IP/ports
    return {"id": cid, "exit_code": code, "oom_killed": oom, "timed_out": timed_out, "wall": wall}


def op_exec(root: str, cid: str, args, *, env=(), user=None, workdir=None, tty=False,
            interactive=False, privileged=False, detach=False) -> int:
    """``exec`` on our stdio; the exit status (0 once started with ``detach``)."""
    from ..container import Runtime
    rt = Runtime(root)
    caps = None
    if privileged:
        from ..capabilities import CAPS
        caps = sorted(CAPS)
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps)
    if tty and not detach:
        from .. import terminal
        return terminal.exec_(rt, cid, proc, interactive=interactive)
    return rt.exec(cid, proc, detach=detach)


def inspect(root: str, cid: str) -> dict:
    """docker-inspect-shaped record of a container, from its state and its directory."""
    from .. import inspect as insp
    return insp.record(root, cid)


def resolve_id(root: str, ref: str) -> str:
    """A full ID, a name (IDs are names here) or a unique ID prefix -> the ID."""
    from .. import inspect as insp
    ids = insp.list_ids(root)
    if ref in ids:
        return ref
    named = insp.find_name(root, ref)          # a name given by `rename`
    if named:
        return named
    matches = [i for i in ids if i.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise PyContainerError(f"container {ref!r} is ambiguous: {len(matches)} IDs start with it")
    raise ContainerNotFound(f"container {ref!r} does not exist")


# --- stop / wait / logs -f ---------------------------------------------------------------

def stop(root: str, cid: str, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """docker stop: ``sig`` (SIGTERM) to the init; after ``timeout`` SIGKILL to the cgroup."""
    from ..container import Runtime
    rt = Runtime(root)
    record = rt.record(cid)
    if rt.state(cid)["status"] in ("stopped",):
        return
    cdir = cd.of(record)
    try:
        rt.kill(cid, sig)
    except PyContainerError:
        pass
    if _wait_stopped(rt, cid, cdir, timeout):
        return
    try:
        rt.kill(cid, signal.SIGKILL, all_processes=True)
    except PyContainerError:
        pass
    _wait_stopped(rt, cid, cdir, 10)


def _wait_stopped(rt, cid, cdir, timeout) -> bool:
    from .. import state as st
    deadline = time.monotonic() + timeout
    if cdir and cd.monitor_pid(cdir):
        return cd.wait_monitor(cdir, timeout)
    record = rt.record(cid)
    while time.monotonic() < deadline:
        if st.status_of(record) == st.STOPPED:
            return True
        time.sleep(0.02)
    return st.status_of(record) == st.STOPPED


def wait(root: str, cid: str, timeout: float | None = None) -> tuple[int, bool]:
    """Until the program exits; (exit status, OOM-killed). -1 when nobody saw the status."""
    from .. import state as st
    from ..container import Runtime
    record = Runtime(root).record(cid)
    cdir = cd.of(record)
    deadline = None if timeout is None else time.monotonic() + timeout
    if cdir and cd.monitor_pid(cdir):
        # Until exit.json exists (with --rm the monitor then becomes `delete`) or
        # the monitor is gone; a pidfd wakes us at once when it exits.
        while cd.read_exit(cdir) is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise PyContainerError(f"wait {cid}: timed out after {timeout}s")
            if cd.wait_monitor(cdir, 0.05 if left is None else min(0.05, left)):
                break
    else:
        while st.status_of(record) != st.STOPPED:
            if deadline is not None and time.monotonic() > deadline:
                raise PyContainerError(f"wait {cid}: timed out after {timeout}s")
            time.sleep(0.05)
    ex = cd.read_exit(cdir) if cdir else None
    if ex is None:
        return -1, False
    return ex["exit_code"], bool(ex.get("oom_killed"))


def follow_logs(root: str, cid: str, cdir: str, *, stdout=True, stderr=True, timestamps=False,
                tail=None, poll: float = 0.1):
    """Yield (stream, bytes) as the log grows, until the monitor exits."""
    chunks, off = cd.read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                            tail=None if tail in (None, "all") else tail)
    yield from chunks
    while True:
        alive = bool(cd.monitor_pid(cdir))
        chunks, off = cd.read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                                since_offset=off)
        yield from chunks
        if not alive:
            return
        time.sleep(poll)
