"""CVE-2024-21626 and the fd classes: which file descriptors may enter a container.

runtime-linux.md: the container's process gets fds 0, 1, 2 and the
``--preserve-fds`` ones (3 .. 3+N-1), nothing else. The init closes every
other fd right before exec (``close_range``), but it lives much longer than
that: it builds the rootfs, pivots and waits at the start barrier, and a
host fd it inherited from its caller (runc 1.1.11 leaked one of its own to
/sys/fs/cgroup) is a handle on the host for all that time — through
``/proc/self/fd/N`` as a cwd, or a hook, or anything that reaches its fd
table.

Which fds are the caller's? Python opens every fd of its own close-on-exec
(PEP 446), so in a child of the runtime an fd at or above ``keep`` that is
*not* close-on-exec can only have been inherited from whoever started
pycontainer. ``close_inherited`` closes exactly those, in stage 1 and in
exec's joiner (never in stage 0: in the Python API that is the caller's own
process). Cost: one listdir of /proc/self/fd and an fcntl per fd, ~6 µs.
"""

from __future__ import annotations

import fcntl
import posix


def close_inherited(keep: int) -> list[int]:
    """Close every fd >= ``keep`` that is not close-on-exec; return their numbers."""
    closed = []
    for name in posix.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < keep:
            continue
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                posix.close(fd)
                closed.append(fd)
        except OSError:
            continue              # the listdir's own fd, already gone
    return closed
