"""An ``--ipc shareable`` container's /dev/shm: a tmpfs mounted on the host, in its directory.

POSIX shared memory (shm_overview(7)) is files in /dev/shm. A container's /dev/shm is a
tmpfs its init mounts in its own mount namespace, and the kernel refuses a bind mount
whose source is a mount of another namespace (EINVAL), so to share it with a container
that joins its IPC namespace (``--ipc container:NAME``), docker mounts it on the host
first and binds it into both. ``mount`` does that, as ``<dir>/shm`` (mode 1777, nosuid,
nodev, noexec, the container's --shm-size); ``release`` unmounts it (MNT_DETACH: a
joiner that still binds it keeps its files until it goes) when the directory goes.

Read: shm_overview(7), tmpfs(5), mount(2), umount(2).
"""

from __future__ import annotations

import os

NAME = "shm"


def mount(cdir: str, size: str) -> str:
    """Mount the tmpfs at ``cdir``/shm (``size``: tmpfs's ``size=`` option); its path."""
    from . import syscalls as sc
    target = os.path.join(cdir, NAME)
    os.mkdir(target, 0o755)
    sc.mount("shm", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, f"mode=1777,{size}")
    return target


def shared(cdir: str) -> str | None:
    """The path of ``cdir``'s shareable /dev/shm, if it has one mounted."""
    p = os.path.join(cdir, NAME)
    return p if os.path.ismount(p) else None


def release(cdir: str) -> None:
    p = shared(cdir)
    if p:
        from . import syscalls as sc
        try:
            sc.umount2(p, sc.MNT_DETACH)
        except OSError:
            pass
