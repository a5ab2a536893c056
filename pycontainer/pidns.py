"""The PID namespace of the init, chosen by the runtime itself.

A PID namespace is not entered like the others. unshare(CLONE_NEWPID) and
setns(fd, CLONE_NEWPID) leave the caller where it is and choose the
namespace of its *next children* (``/proc/PID/ns/pid_for_children``,
pid_namespaces(7)); the first process forked into a new one is its pid 1,
and the namespace ends with it. So, when no user namespace has to own the
new one first, the runtime makes the container's init directly: point its
own children at the container's PID namespace, fork, point them back.

runc (nsexec.c) and a user namespace need an intermediate process instead
(stage 1, process/init.py): a new user namespace can only be made by a
single-threaded process, must own the PID namespace made after it, and its
maps are written by its parent. The time namespace is chosen for children
the same way, but its offsets must be written before anyone enters it, so
it goes that way too (``needs_stage1``).

The switch is per thread (the kernel keeps ``pid_ns_for_children`` in each
thread's nsproxy): the runtime's other threads (the attach priming,
pyroute2's preload) keep creating threads in the host's namespace, and only
the main thread must switch back before it forks anything else, or makes a
thread: clone(2) refuses CLONE_THREAD into another PID namespace (EINVAL).

The two calls come from ``pycontainer._nscalls`` (csrc/nscalls.c; Python
3.11 has neither ``os.unshare`` nor ``os.setns``), not from the cffi
extension, which the runtime's own process does not load (its peak memory).
"""

from __future__ import annotations

import posix

from . import trace
from .errors import NamespaceError

CLONE_NEWPID = 0x20000000


def needs_stage1(namespaces: list[dict]) -> bool:
    """A user or time namespace (new or joined): the init comes from an intermediate process."""
    return any(n["type"] in ("user", "time") for n in namespaces)


def for_children(namespaces: list[dict]) -> int | None:
    """Make the calling thread's next child the pid 1 of a new PID namespace, or a member
    of a joined one (``path``), as ``linux.namespaces`` asks; return an fd of the caller's
    own namespace for ``back``, or None when the config shares the host's."""
    pid = [n for n in namespaces if n["type"] == "pid"]
    if not pid:
        return None
    from . import _nscalls
    path = pid[0].get("path")
    own = posix.open("/proc/self/ns/pid", posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        if path:
            try:
                fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
            except OSError as exc:
                raise NamespaceError(f"join pid namespace {path!r}: {exc.strerror}",
                                     stage="namespaces", errno=exc.errno) from None
            try:
                with trace.step("setns", "linux.namespaces", type="pid", nstype="CLONE_NEWPID",
                                note="for the children: the init is forked next"):
                    _nscalls.setns(fd, CLONE_NEWPID)
            finally:
                posix.close(fd)
        else:
            with trace.step("unshare", "linux.namespaces", flags="CLONE_NEWPID",
                            note="for the children: the init is forked next, as its pid 1"):
                _nscalls.unshare(CLONE_NEWPID)
    except OSError as exc:
        posix.close(own)
        what = f"join pid namespace {path!r}" if path else "new pid namespace (unshare CLONE_NEWPID)"
        raise NamespaceError(f"{what}: {exc.strerror}",
                             stage="namespaces", errno=exc.errno) from None
    except BaseException:
        posix.close(own)
        raise
    return own


def back(own: int | None) -> None:
    """Point the calling thread's children at its own PID namespace again (``own``, from
    ``for_children``) and close it."""
    if own is None:
        return
    from . import _nscalls
    try:
        _nscalls.setns(own, CLONE_NEWPID)
    finally:
        posix.close(own)
