"""Device nodes in the container's /dev.

A device node is a special file naming a kernel driver by (type, major,
minor): ``/dev/null`` is character device 1:3 (mknod(2), makedev(3)). The
OCI spec (config-linux.md, "Default Devices") gives every container
null, zero, full, random, urandom, tty, a private /dev/pts with ptmx, and the
symlinks /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr (and runc adds
/dev/core). Nothing else of the host's /dev is visible.

As real root the runtime ``mknod``s them in the container's /dev tmpfs; in a
user namespace mknod is not allowed, so the host's nodes are bind-mounted
instead (runc and crun do the same).
"""

from __future__ import annotations

import posix
import stat

from . import paths
from . import mounts
from . import syscalls as sc
from . import trace
from .errors import MountError

DEFAULT_DEVICES = [
    # path, type, major, minor, mode
    ("/dev/null", "c", 1, 3, 0o666),
    ("/dev/zero", "c", 1, 5, 0o666),
    ("/dev/full", "c", 1, 7, 0o666),
    ("/dev/random", "c", 1, 8, 0o666),
    ("/dev/urandom", "c", 1, 9, 0o666),
    ("/dev/tty", "c", 5, 0, 0o666),
]

SYMLINKS = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("/proc/kcore", "/dev/core"),
]


def create_devices(root_fd: int, devices: list[dict], *, bind: bool) -> None:
    """Create the default devices plus ``linux.devices`` under the rootfs's /dev."""
    wanted = {d[0]: {"path": d[0], "type": d[1], "major": d[2], "minor": d[3], "fileMode": d[4],
                     "uid": 0, "gid": 0} for d in DEFAULT_DEVICES}
    for d in devices:
        d = dict(d, path=paths.normpath(d["path"]))     # "/dev/foo/" is /dev/foo (runc)
        wanted[d["path"]] = d
    old = posix.umask(0)
    try:
        for d in wanted.values():
            _create_one(root_fd, d, bind)
    finally:
        posix.umask(old)


def _create_one(root_fd: int, d: dict, bind: bool) -> None:
    path = d["path"]
    kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d["type"]]
    parent, name = paths.split(path)
    mounts.mkdir_in_root(root_fd, parent)
    pfd = mounts.open_in_root(root_fd, parent, posix.O_PATH | posix.O_DIRECTORY)
    try:
        if bind:
            # user namespace: mknod is refused; bind the host's node (it must exist)
            try:
                posix.close(posix.open(name, posix.O_CREAT | posix.O_WRONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW,
                                 0o000, dir_fd=pfd))
            except FileExistsError:
                pass
            fd = mounts.open_in_root(root_fd, path)
            try:
                with trace.step("mount", "linux.devices", type="bind", source=path, target=path):
                    sc.mount(path, mounts.fd_path(fd), None, sc.MS_BIND)
            finally:
                posix.close(fd)
            return
        try:
            posix.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        mode = kind | (d.get("fileMode", 0o666) & 0o7777)
        dev = posix.makedev(d.get("major", 0), d.get("minor", 0))
        with trace.step("mknod", "linux.devices", path=path, type=d["type"],
                        dev=f"{d.get('major', 0)}:{d.get('minor', 0)}", mode=oct(mode & 0o7777)):
            posix.mknod(name, mode, dev, dir_fd=pfd)
            posix.chown(name, d.get("uid", 0), d.get("gid", 0), dir_fd=pfd, follow_symlinks=False)
    except OSError as exc:
        raise MountError(f"create device {path}: {exc.strerror}", stage="devices",
                         errno=exc.errno) from None
    finally:
        posix.close(pfd)


def create_symlinks(root_fd: int, with_ptmx: bool) -> None:
    dev = mounts.open_in_root(root_fd, "/dev", posix.O_PATH | posix.O_DIRECTORY)
    try:
        links = list(SYMLINKS) + ([("pts/ptmx", "/dev/ptmx")] if with_ptmx else [])
        with trace.step("symlink", "linux.devices (the OCI spec's default /dev links)",
                        links=[f"{lk} -> {t}" for t, lk in links]):
            for target, link in links:
                name = link[len("/dev/"):]
                if name == "ptmx":          # over a node linux.devices made (runc's setupPtmx):
                    try:                    # /dev/ptmx must be this /dev/pts's, not the host's
                        posix.unlink(name, dir_fd=dev)
                    except FileNotFoundError:
                        pass
                try:
                    posix.symlink(target, name, dir_fd=dev)
                except FileExistsError:
                    pass
    finally:
        posix.close(dev)
