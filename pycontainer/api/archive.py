"""Files into and out of a container (docker's put_archive / get_archive), resolved in its root.

Paths come from the caller and names from a tar archive, and the container's
own files are written by the untrusted program: a symlink ``/tmp/x -> /etc``
in the container must not make ``put_archive("/tmp/x", ...)`` write to the
host's /etc. Every lookup is ``openat2(2)`` with ``RESOLVE_IN_ROOT`` (``/``,
``..`` and absolute symlinks stay inside the directory fd's tree, as if it
were the root) and ``RESOLVE_NO_MAGICLINKS`` (no /proc/PID/fd jumps); the
last component is then handled with ``*at()`` calls and ``O_NOFOLLOW``
relative to its parent's fd (openat(2), symlink(7)).

Whose root: a created or running container's is ``/proc/PID/root`` of its
init, the overlay mounted in its own mount namespace; a stopped container
has no mount, so the worker (a process of its own, forked by the helper)
unshares a mount namespace (unshare(2), mount_namespaces(7)), mounts the
container's overlay plan there and works in it; the mount dies with the
worker. Runs in the helper's worker: the tar comes on stdin (put) or goes
to stdout (get). get_archive does not descend into other mounts (/proc,
/sys, volumes) below the path.
"""

from __future__ import annotations

import os
import stat as st_mod
import tarfile

from .. import syscalls as sc
from ..containerdir import rfc3339
from ..errors import NotFound, PyContainerError

RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
GO_DIR, GO_SYMLINK = 1 << 31, 1 << 27             # Go's os.FileMode bits, as docker's stat


def container_root(root: str, cid: str) -> int:
    """An O_PATH fd of the container's root directory (see the module docstring)."""
    import json
    from .. import state as st
    from ..container import Runtime
    from ..image.overlay import OverlayPlan
    from .. import containerdir as cd
    rt = Runtime(root)
    record = rt.record(cid)
    cd.touch(cd.of(record))                      # activity, for idle_timeout
    pid = record.get("pid") or 0
    if pid > 0 and st.proc_start_time(pid) == record.get("pid_start"):
        return os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    bundle = record.get("bundle") or ""
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    plan = OverlayPlan.from_spec(spec)
    target = os.path.join(bundle, (spec.get("root") or {}).get("path", "rootfs"))
    if plan is not None:
        plan.mount_private(target)
    return os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _open(rootfd: int, path: str, flags: int) -> int:
    try:
        return sc.openat2(rootfd, path.lstrip("/") or ".", flags, 0, RESOLVE)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file or directory in the container") from None
    except OSError as exc:
        raise PyContainerError(f"{path}: {exc.strerror}", errno=exc.errno) from None


def _mkdirs(rootfd: int, path: str) -> int:
    """An O_PATH fd of directory ``path`` in the root, made (0755) where missing. Each prefix is
    resolved from the root (a symlink in the middle stays inside it too)."""
    parts = [p for p in path.split("/") if p and p != "."]
    fd = os.dup(rootfd)
    for i, part in enumerate(parts):
        prefix = "/".join(parts[:i + 1])
        try:
            nfd = sc.openat2(rootfd, prefix, os.O_PATH | os.O_DIRECTORY, 0, RESOLVE)
        except FileNotFoundError:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                nfd = sc.openat2(rootfd, prefix, os.O_PATH | os.O_DIRECTORY, 0, RESOLVE)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        fd = nfd
    return fd


def put_archive(root: str, cid: str, path: str) -> dict:
    """Extract the tar on stdin into directory ``path`` of the container."""
    import sys
    rootfd = container_root(root, cid)
    try:
        dest = _open(rootfd, path, os.O_PATH | os.O_DIRECTORY)
        os.close(dest)
        with tarfile.open(fileobj=sys.stdin.buffer, mode="r|*") as tar:
            for m in tar:
                _extract(rootfd, path, m, tar)
    except tarfile.TarError as exc:
        raise PyContainerError(f"put_archive {path}: not a tar archive ({exc})") from None
    finally:
        os.close(rootfd)
    return {"ok": True}


def _extract(rootfd: int, dest: str, m: tarfile.TarInfo, tar) -> None:
    name = os.path.normpath("/" + m.name).lstrip("/")
    if not name:
        return
    parent, base = os.path.split(os.path.join(dest.lstrip("/"), name))
    pfd = _mkdirs(rootfd, parent)
    try:
        if m.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                if not st_mod.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                    raise PyContainerError(f"put_archive: {name} exists and is not a directory") \
                        from None
        else:
            try:
                if not st_mod.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                    os.unlink(base, dir_fd=pfd)      # replace a file or a symlink, never follow it
            except FileNotFoundError:
                pass
            if m.isreg():
                fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=pfd)
                with os.fdopen(fd, "wb") as f, tar.extractfile(m) as src:
                    while chunk := src.read(1 << 20):
                        f.write(chunk)
            elif m.issym():
                os.symlink(m.linkname, base, dir_fd=pfd)
            elif m.islnk():
                lparent, lbase = os.path.split(os.path.normpath("/" + m.linkname).lstrip("/"))
                sfd = _open(rootfd, os.path.join(dest, lparent), os.O_PATH | os.O_DIRECTORY)
                try:
                    os.link(lbase, base, src_dir_fd=sfd, dst_dir_fd=pfd, follow_symlinks=False)
                finally:
                    os.close(sfd)
                return
            elif m.isfifo():
                os.mkfifo(base, 0o600, dir_fd=pfd)
            else:
                raise PyContainerError(f"put_archive: {name}: device nodes are not extracted")
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if not m.issym():
            os.chmod(base, m.mode & 0o7777, dir_fd=pfd)
            os.utime(base, (m.mtime, m.mtime), dir_fd=pfd)
    finally:
        os.close(pfd)


def get_archive(root: str, cid: str, path: str) -> dict:
    """Write a tar of ``path`` to stdout; -> {"stat": docker's stat of path}."""
    rootfd = container_root(root, cid)
    try:
        parent, base = os.path.split(os.path.normpath("/" + path))
        pfd = _open(rootfd, parent, os.O_PATH | os.O_DIRECTORY)
        try:
            if not base:                        # the root itself
                os.close(pfd)
                pfd, base = os.dup(rootfd), "."
            try:
                s = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                raise NotFound(f"{path}: no such file or directory in the container") from None
            link = os.readlink(base, dir_fd=pfd) if st_mod.S_ISLNK(s.st_mode) else ""
            mode = st_mod.S_IMODE(s.st_mode) | (GO_DIR if st_mod.S_ISDIR(s.st_mode) else 0) | \
                (GO_SYMLINK if link else 0)
            stat = {"name": os.path.basename(path.rstrip("/")) or "/", "size": s.st_size, "mode": mode,
                    "mtime": rfc3339(s.st_mtime_ns), "linkTarget": link}   # Go's time, as docker's
            with os.fdopen(os.dup(1), "wb") as out, tarfile.open(fileobj=out, mode="w|",
                                                                 format=tarfile.PAX_FORMAT) as tar:
                _add(tar, pfd, base, stat["name"] if base != "." else ".", s.st_dev)
        finally:
            os.close(pfd)
    finally:
        os.close(rootfd)
    return {"stat": stat}


def _add(tar, dirfd: int, name: str, arcname: str, dev: int) -> None:
    s = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    info = tarfile.TarInfo(arcname)
    info.mode, info.uid, info.gid, info.mtime = st_mod.S_IMODE(s.st_mode), s.st_uid, s.st_gid, int(s.st_mtime)
    if st_mod.S_ISREG(s.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        with os.fdopen(fd, "rb") as f:
            info.size = os.fstat(fd).st_size
            tar.addfile(info, f)
    elif st_mod.S_ISLNK(s.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dirfd)
        tar.addfile(info)
    elif st_mod.S_ISDIR(s.st_mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        if s.st_dev != dev:
            return                              # another mount: its directory only
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            for entry in sorted(os.listdir(fd)):
                _add(tar, fd, entry, f"{arcname}/{entry}", dev)
        finally:
            os.close(fd)
    elif st_mod.S_ISFIFO(s.st_mode):
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
