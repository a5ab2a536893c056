"""Reading and writing cgroupfs files, with the kernel's errors made readable.

A cgroup file is written with one write(2) of the whole value: the kernel
parses each write on its own, so a value split across writes is two values.
A missing file means this kernel (or this hierarchy) lacks the feature; EINVAL
means the kernel refused the value; EBUSY on a limit usually means current
usage is above it; EBUSY on rmdir means processes are still inside.
Every write is one ``trace`` event naming the file and the value.
"""

from __future__ import annotations

import errno as _errno
import posix
import time

from .. import paths
from .. import trace
from ..errors import CgroupError

DEFAULT_PARENT = "/pycontainer"     # containers without a cgroupsPath live below it

_HINTS = {
    _errno.ENOENT: "this kernel or hierarchy has no such file (controller or feature missing)",
    _errno.EINVAL: "the kernel refused the value",
    _errno.EBUSY: "the cgroup is busy (usage above the new limit, or processes inside)",
    _errno.EOPNOTSUPP: "this kernel does not support it",
    _errno.EACCES: "permission denied (run as root, or delegate the cgroup)",
    _errno.EPERM: "operation not permitted (run as root, or delegate the cgroup)",
    _errno.ENOSPC: "no room (cpuset outside the parent's, or a controller without a parent)",
    _errno.ERANGE: "value out of range",
}


def error(op: str, path: str, e: OSError) -> CgroupError:
    hint = _HINTS.get(e.errno, e.strerror or "error")
    return CgroupError(f"{op} {path}: {hint} ({_errno.errorcode.get(e.errno, e.errno)})",
                       stage="cgroup", errno=e.errno)


def _write(path: str, data: bytes) -> None:
    fd = posix.open(path, posix.O_WRONLY | posix.O_TRUNC | posix.O_CLOEXEC)
    try:
        posix.write(fd, data)
    finally:
        posix.close(fd)


def write(path: str, value: str, field: str = "") -> None:
    """Write ``value`` to the cgroup file ``path``; raise CgroupError on failure."""
    try:
        if trace.enabled():
            with trace.step("write cgroup file", field, file=path, value=value):
                _write(path, value.encode())
        else:
            _write(path, value.encode())
    except OSError as e:
        raise error(f"write {value!r} to", path, e) from e


def read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise error("read", path, e) from e


def read_or(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def read_int(path: str, default: int = 0) -> int:
    s = read_or(path, "")
    try:
        return int(s)
    except ValueError:
        return default


def read_kv(path: str) -> dict[str, int]:
    """Parse a flat-keyed file ("key value" per line: memory.stat, cpu.stat)."""
    out: dict[str, int] = {}
    for line in read_or(path).splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out


def makedirs(path: str, stop: str) -> list[str]:
    """mkdir ``path`` and its missing parents below ``stop``; return what was made."""
    made: list[str] = []
    todo = []
    p = path
    while p != stop and not paths.isdir(p):
        todo.append(p)
        p = paths.dirname(p)
    for d in reversed(todo):
        try:
            with trace.step("mkdir cgroup", "linux.cgroupsPath", path=d):
                posix.mkdir(d, 0o755)
        except FileExistsError:
            continue
        except OSError as e:
            remove(made)
            raise error("mkdir", d, e) from e
        made.append(d)
    return made


def remove(dirs: list[str]) -> None:
    """rmdir what ``makedirs`` made, deepest first; quiet (used to roll back)."""
    for d in reversed(dirs):
        try:
            posix.rmdir(d)
        except OSError:
            pass


def rmtree(path: str, timeout: float = 2.0, deadline: float | None = None) -> None:
    """Remove a cgroup and its child cgroups, deepest first.

    Only directories are removed (rmdir(2)); the control files vanish with them.
    EBUSY is retried until ``timeout`` (or the monotonic ``deadline``): a
    process that was just killed leaves the cgroup a moment after the signal.
    """
    t = time.monotonic()
    try:
        posix.rmdir(path)               # the usual case, a leaf: no walk (a v1 dir lists ~30 files)
        trace.event("rmdir cgroup", "linux.cgroupsPath", (time.monotonic() - t) * 1000, path=path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass                         # child cgroups, processes still inside, not a directory
    if not paths.isdir(path):
        return
    dirs = tree(path)
    if deadline is None:
        deadline = time.monotonic() + timeout
    for d in sorted(dirs, key=len, reverse=True):
        while True:
            try:
                t = time.monotonic()
                posix.rmdir(d)
                trace.event("rmdir cgroup", "linux.cgroupsPath", (time.monotonic() - t) * 1000, path=d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno == _errno.EBUSY and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                raise error("rmdir", d, e) from e


def tree(path: str) -> list[str]:
    """``path`` and every directory below it, parents before children (symbolic links
    are not followed; a directory that cannot be read is listed, not descended into)."""
    out = [path]
    for d in out:                    # grows as it goes: breadth first
        try:
            with posix.scandir(d) as entries:
                out.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            pass
    return out


def read_procs(path: str, recursive: bool = True) -> list[int]:
    """The pids in a cgroup's cgroup.procs (and its child cgroups')."""
    pids: list[int] = []
    dirs = [path]
    if recursive:
        dirs = tree(path)
    for d in dirs:
        for line in read_or(paths.join(d, "cgroup.procs")).split():
            try:
                pids.append(int(line))
            except ValueError:
                pass
    return pids


def write_pid(path: str, pid: int) -> None:
    """Move ``pid`` into the cgroup at ``path`` (cgroup.procs).

    EINVAL can mean the task is still being forked (TASK_NEW), so runc retries
    a few times; so do we.
    """
    f = paths.join(path, "cgroup.procs")
    for attempt in range(5):
        try:
            with trace.step("write cgroup.procs", "linux.cgroupsPath", file=f, pid=pid):
                _write(f, str(pid).encode())
            return
        except OSError as e:
            if e.errno == _errno.EINVAL and attempt < 4:
                time.sleep(0.03)
                continue
            if e.errno == _errno.ESRCH:
                raise CgroupError(f"add pid {pid} to {f}: no such process", stage="cgroup",
                                  errno=e.errno) from e
            raise error(f"write pid {pid} to", f, e) from e
