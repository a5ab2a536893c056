"""``cp``: files between the host and a container, as tar streams (docker cp).

A running (or created, or paused) container's files are reached through
``/proc/PID/root`` of its init: the root of its mount namespace, with its
overlay and its volumes. A stopped one has no mount namespace left: the
child doing the copy unshare(2)s a mount namespace of its own (every mount
made private first, so nothing propagates to the host), mounts the
container's overlay (its upper dir over the image layers, the plan in
config.json) on the container's ``rootfs/`` there, and works in that; when
the child exits its namespace goes and the mount with it: nothing to clean
up, even if it is killed. (Volumes are not mounted for a stopped container:
a path under a volume is copied from the writable layer beneath it.) A child
process chroot(2)s to the root and does the container side of the copy (reading or
writing a tar stream on a pipe), so every path and every symlink in the
container resolves inside the container's root, never on the host (docker's
"chrootarchive"). The host side extracts in a child chrooted to the
destination directory too, with tarfile's ``data`` filter (no absolute names,
no links out of the destination, no device nodes, no setuid bits), the
container side with it too unless ``-a`` (then ``tar``: owners and modes
kept). Pythons without the filters (PEP 706: 3.11.4+; Debian 12's python3 is
3.11.2) get the same rules from ``_police`` below. A path with a ``..``
component is refused outright.

Forms: ``cp CONTAINER:SRC DEST`` (``DEST`` ``-``: a tar on stdout) and
``cp SRC CONTAINER:DEST`` (``SRC`` ``-``: a tar from stdin). As docker: a
DEST that is an existing directory receives SRC under its own name;
otherwise SRC is copied as DEST.

Read: chroot(2), proc(5) (/proc/PID/root), unshare(2), mount_namespaces(7), docker's "docker cp" page.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tarfile

from .errors import PyContainerError


def _check(path: str, what: str) -> str:
    if ".." in path.split("/"):
        raise PyContainerError(f"cp: {what} {path!r} has a '..' component: it could escape the "
                               "container's root; give the path from /")
    return path


class HostDir:
    """A directory on the host as the root of the extracting child (docker cp's host side)."""

    def __init__(self, path: str):
        self.path = path

    def enter(self) -> str:
        return self.path


class Stopped:
    """A stopped container as a copy target: its overlay plan and the dir to mount it on."""

    def __init__(self, plan, rootfs: str):
        self.plan, self.rootfs = plan, rootfs

    def enter(self) -> str:
        """In the copying child: a private mount namespace with the overlay on rootfs."""
        return self.plan.mount_private(self.rootfs)


def _child(target, fn) -> tuple[int, int]:
    """Fork; the child chroots to the container's root (``target``: the init's pid, or a
    ``Stopped``) and runs ``fn()``; -> (pid, fd its error comes on)."""
    er, ew = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(er)
            root = target.enter() if isinstance(target, (Stopped, HostDir)) else f"/proc/{target}/root"
            os.chroot(root)
            os.chdir("/")
            fn()
            code = 0
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(ew, str(exc).encode()[:4000])
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(ew)
    return pid, er


def _wait(child: tuple[int, int], what: str) -> None:
    pid, er = child
    with os.fdopen(er, "rb") as f:
        msg = f.read().decode(errors="replace").strip()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise PyContainerError(f"cp: {msg or what + ' failed inside the container'}")


def from_container(target, src: str, dest: str, archive: bool = False) -> None:
    """Copy ``src`` (a path in the container) to ``dest`` on the host (or '-': stdout);
    ``target``: the init's pid, or a ``Stopped``."""
    src = _check(src if src.startswith("/") else "/" + src, "source")
    dest_slash = dest.endswith("/")
    if dest != "-":
        dest = os.path.abspath(dest)
        if not os.path.isdir(os.path.dirname(dest)):
            raise PyContainerError(f"cp: {os.path.dirname(dest)} does not exist on the host")
    r, w = os.pipe()

    def produce():
        os.close(r)
        if not os.path.lexists(src):
            raise PyContainerError(f"no such file or directory in the container: {src}")
        with os.fdopen(w, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
            tar.add(src.rstrip("/") or "/", arcname=os.path.basename(src.rstrip("/")) or ".")
    child = _child(target, produce)
    os.close(w)
    if dest == "-":
        try:
            with os.fdopen(r, "rb") as inp:
                shutil.copyfileobj(inp, sys.stdout.buffer, 65536)
                sys.stdout.buffer.flush()
        finally:
            _wait(child, f"reading {src}")
        return
    # the host side is chrooted to DEST's directory too: a link in the stream cannot lead out
    trimmed = dest.rstrip("/") or "/"                # abspath keeps no slash: the one typed counts
    where, inner = (dest, "/") if os.path.isdir(dest) else \
        (os.path.dirname(trimmed) or "/", "/" + os.path.basename(trimmed) + ("/" * dest_slash))
    if not os.path.isdir(where):
        os.close(r)
        _wait(child, f"reading {src}")
        raise PyContainerError(f"cp: {_no_dir(where, 'on the host')}")

    def consume():
        with os.fdopen(r, "rb") as inp:
            _extract(inp, inner, os.path.basename(src.rstrip("/")) or ".", archive,
                     shown=dest + "/" * dest_slash)
    host = _child(HostDir(where), consume)
    os.close(r)
    try:
        _wait(host, f"writing {dest}")
    finally:
        _wait(child, f"reading {src}")


def export(target, out) -> None:
    """docker export: the container's root filesystem as one tar into ``out`` (a binary file
    object: stdout's buffer, or -o's file), without what is
    mounted on it (/proc, /sys, /dev, volumes, the network files: their mount points are in
    it, empty), as docker's, which tars the container's layers, not its mounts."""
    r, w = os.pipe()

    def produce():
        os.close(r)
        dev = os.lstat("/").st_dev
        with os.fdopen(w, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
            for top, dirs, files in os.walk("/"):
                keep = []
                for name in sorted(dirs + files):
                    path = os.path.join(top, name)
                    st = os.lstat(path)
                    if st.st_dev != dev and not stat.S_ISDIR(st.st_mode):
                        continue                          # a file bind-mounted over: not ours
                    tar.add(path, arcname=path[1:], recursive=False)
                    if name in dirs and st.st_dev == dev:
                        keep.append(name)                 # another mount's content stays out
                dirs[:] = keep
    child = _child(target, produce)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as inp:
            shutil.copyfileobj(inp, out, 65536)
            out.flush()
    finally:
        _wait(child, "reading its root filesystem")


def to_container(target, src: str, dest: str, archive: bool = False) -> None:
    """Copy ``src`` on the host (or '-': a tar on stdin) to ``dest`` in the container;
    ``target``: the init's pid, or a ``Stopped``."""
    dest = _check(dest if dest.startswith("/") else "/" + dest, "destination")
    if src != "-" and not os.path.lexists(src):
        raise PyContainerError(f"cp: {src} does not exist on the host")
    r, w = os.pipe()
    name = os.path.basename(os.path.abspath(src).rstrip("/")) if src != "-" else None

    def consume():
        os.close(w)
        with os.fdopen(r, "rb") as inp:
            if name is None:                   # a tar from stdin: into dest as it is
                if not os.path.isdir(dest):
                    raise PyContainerError(_no_dir(dest, "in the container"))
                with tarfile.open(fileobj=inp, mode="r|") as tar:
                    _extract_all(tar, dest, archive)
            else:
                _extract(inp, dest, name, archive)
    child = _child(target, consume)
    os.close(r)
    try:
        with os.fdopen(w, "wb") as out:
            if src == "-":
                shutil.copyfileobj(sys.stdin.buffer, out, 65536)
            else:
                with tarfile.open(fileobj=out, mode="w|") as tar:
                    tar.add(src, arcname=name)
    except BrokenPipeError:
        pass
    finally:
        _wait(child, f"writing {dest}")


def _no_dir(path: str, where: str) -> str:
    """Why ``path`` cannot take a copy: it is something else, or it is missing."""
    if os.path.lexists(path):
        return f"{path} is not a directory {where}".rstrip()
    return f"no such directory {where}: {path}".replace(" :", ":")


def _extract(stream, dest: str, name: str, archive: bool, shown: str | None = None) -> None:
    """Extract a one-entry-tree tar whose top is ``name`` as docker cp places it at ``dest``
    (the caller is chrooted: to the container's root, or to the host destination's dir, whose
    path as the user typed it is ``shown``)."""
    if os.path.isdir(dest):
        target_dir, rename = dest, None
    else:                            # docker: a DEST/ that does not exist is made for a directory
        trimmed = dest.rstrip("/") or "/"
        target_dir, rename = os.path.dirname(trimmed) or "/", os.path.basename(trimmed)
        if not os.path.isdir(target_dir):
            raise PyContainerError(_no_dir(target_dir, "" if shown else "in the container"))
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        _extract_all(tar, target_dir, archive, rename=(name, rename) if rename else None,
                     dir_only=(shown or dest) if rename and dest.endswith("/") else None)


# tarfile's extraction filters (PEP 706) are in 3.11.4+ and 3.12; Debian 12's python3 is 3.11.2
_FILTERS = hasattr(tarfile, "data_filter")


def _extract_all(tar, dest: str, archive: bool, rename: tuple[str, str] | None = None,
                 dir_only: str | None = None) -> None:
    """Extract every member of ``tar`` under ``dest`` with the ``data`` filter (``tar`` with
    ``-a``); ``rename`` (top, new): the entry ``top`` and what is under it become ``new``;
    ``dir_only`` (DEST/ as typed): the top must be a directory (a file needs DEST to exist)."""
    for member in tar:
        if dir_only and not member.isdir():
            raise PyContainerError(f"{dir_only}: no such directory (a file is copied into one "
                                   "that exists)")
        dir_only = None
        if rename is not None:
            parts = member.name.split("/", 1)
            if parts[0] == rename[0]:
                member.name = "/".join([rename[1]] + parts[1:])
        if _FILTERS:
            tar.extract(member, dest, filter="tar" if archive else "data")
        else:
            _police(member, archive)
            tar.extract(member, dest, numeric_owner=True)


def _police(m: tarfile.TarInfo, archive: bool) -> None:
    """tarfile's ``data`` filter (``tar`` with ``archive``) for Pythons without the filters
    (tarfile, "Extraction filters"). Both: strip leading slashes, refuse a ``..`` component,
    drop setuid/setgid/sticky and group/other write. ``data`` also refuses device nodes and
    FIFOs and links that are absolute or lead out of the destination, makes regular files
    owner-writable (no group/other exec without the owner's) and keeps no owner (the files
    are ours). Where the filter leaves a directory's mode alone, 3.11.2's tarfile cannot, so
    it keeps its mode minus those bits."""
    name = m.name.lstrip("/")
    if not name or ".." in name.split("/"):
        raise PyContainerError(f"{m.name!r} would be extracted outside the destination")
    m.name = name
    m.mode &= 0o755
    if archive:
        return
    if m.isdev():
        raise PyContainerError(f"{m.name!r} is a device node or FIFO: not extracted")
    if m.issym() or m.islnk():
        target = os.path.join(os.path.dirname(name), m.linkname) if m.issym() else m.linkname
        if m.linkname.startswith("/") or os.path.normpath(target).split("/")[0] == "..":
            raise PyContainerError(f"{m.name!r} links to {m.linkname!r}, outside the destination")
    if m.isreg() or m.islnk():
        m.mode |= 0o600
        if not m.mode & 0o100:
            m.mode &= ~0o011
    m.uid, m.gid, m.uname, m.gname = os.geteuid(), os.getegid(), "", ""
