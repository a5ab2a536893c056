"""Ending a container's processes: its init, then whatever is left in its cgroup;
and the foreground's side of a program's end: forwarding our signals to it
and reaping it (wait(2): exit status, or 128+N for signal N, as shells say).

A pid alone may have been reused (the init exited and another process got
its number), so the init is signalled only while /proc/PID/stat's start
time is still the one recorded at create (proc(5), field 22), as runc
does. What else runs in the container is found through its cgroup
(cgroup.procs); a frozen cgroup is thawed first, or SIGKILL would wait for
the thaw (cgroups(7), Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst).
"""

from __future__ import annotations

import posix       # os without its Python helpers: kill and delete --force import this (paths.py)
import time

from . import state as st
from . import trace
from .errors import PyContainerError


def kill_init(record: dict, then=None) -> None:
    """SIGKILL to the init, if it is still the process create recorded, and wait (10 s at
    most) until it is gone. ``then()`` right after the signal: a paused container's thaw,
    without which the init would not die (as runc's delete --force)."""
    pid = record.get("pid") or 0
    if pid > 0 and st.proc_start_time(pid) == record.get("pid_start"):
        # _signal, the C module: `signal` builds enums (enum, functools, collections: ~3 ms
        # of a `delete --force`) for the one number we need
        from _signal import SIGKILL
        try:
            posix.kill(pid, SIGKILL)
        except ProcessLookupError:
            return
        if then is not None:
            try:
                then()
            except PyContainerError:
                pass
        deadline = time.monotonic() + 10
        while st.proc_start_time(pid) == record.get("pid_start") and time.monotonic() < deadline:
            try:
                posix.waitpid(pid, posix.WNOHANG)   # ours if we are its (sub)reaper
            except ChildProcessError:
                pass
            time.sleep(0.002)


def kill_cgroup(cg) -> None:
    try:
        if cg.frozen():
            cg.thaw()
    except PyContainerError:
        pass
    deadline = time.monotonic() + 10
    try:
        while cg.pids() and time.monotonic() < deadline:
            cg.kill_all(9)                       # SIGKILL
            time.sleep(0.005)
    except PyContainerError:
        pass


def forward_signal(pid: int, signum: int) -> None:
    try:
        posix.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_exit(pid: int) -> int:
    """Reap our child ``pid``; its exit status, 128+N if signal N killed it (0 if not ours)."""
    while True:
        try:
            wpid, status = posix.waitpid(pid, 0)
        except ChildProcessError:
            return 0
        if wpid == pid:
            code = 128 + posix.WTERMSIG(status) if posix.WIFSIGNALED(status) else posix.WEXITSTATUS(status)
            trace.event("exit", "process.args (the program ended)", pid=pid, status=code,
                        signal=posix.WTERMSIG(status) if posix.WIFSIGNALED(status) else None)
            return code


def parse_signal(text: str | int) -> int:
    """``9``, ``KILL``, ``SIGKILL``, ``sigkill`` -> 9 (runc kill's rules).

    From ``_signal``, the C module: its SIG* names are plain ints (``signal`` wraps them
    in enums, ~3 ms of every ``kill``); SIG_DFL, SIG_BLOCK and the like are not signals.
    """
    import _signal
    if isinstance(text, int):
        return text
    t = text.strip()
    if t.isdigit():
        n = int(t)
        if not 0 < n < _signal.NSIG:
            raise PyContainerError(f"invalid signal {text!r}")
        return n
    name = t.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    value = getattr(_signal, name, None) if "_" not in name and name.isalnum() else None
    if not isinstance(value, int):
        raise PyContainerError(f"invalid signal {text!r}")
    return value
