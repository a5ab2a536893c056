"""Mounts: turning a config.json ``mounts`` entry into mount(2) calls, safely.

A mount attaches a filesystem (or, for a *bind* mount, an existing directory
or file) at a point of the tree; see mount(2), mount(8) and
mount_namespaces(7). An OCI mount entry is ``{destination, type, source,
options}``; ``options`` mixes flags the kernel takes as bits (``ro``,
``nosuid``, ``bind``, ``rprivate``) and options passed to the filesystem as
a string (``mode=755``, ``size=65536k``).

The destination lives inside the container's rootfs, which the image
controls. A symlink there (``/proc -> /etc``, or ``.. -> /``) must not send
the mount to the host: every destination is resolved with openat2(2)'s
``RESOLVE_IN_ROOT`` (symlinks are followed as if the rootfs were ``/``),
missing directories are created one component at a time relative to their
parent's file descriptor, and the mount is made onto ``/proc/self/fd/N`` of
the resolved target, never onto a path string that could change in between
(runc: CVE-2021-30465; crun and bubblewrap do the same).

Bind mounts ignore flags on the first call: ``ro``/``nosuid``/... need a
second ``MS_REMOUNT|MS_BIND`` call, which must keep the flags the kernel has
locked on the source (read back with statvfs(3)).
"""

from __future__ import annotations

import errno
import posix
import stat

from . import paths
from . import syscalls as sc
from . import trace
from .errors import MountError

# option -> (set?, flag)
FLAGS = {
    "ro": (True, sc.MS_RDONLY), "rw": (False, sc.MS_RDONLY),
    "nosuid": (True, sc.MS_NOSUID), "suid": (False, sc.MS_NOSUID),
    "nodev": (True, sc.MS_NODEV), "dev": (False, sc.MS_NODEV),
    "noexec": (True, sc.MS_NOEXEC), "exec": (False, sc.MS_NOEXEC),
    "sync": (True, sc.MS_SYNCHRONOUS), "async": (False, sc.MS_SYNCHRONOUS),
    "dirsync": (True, sc.MS_DIRSYNC), "remount": (True, sc.MS_REMOUNT),
    "mand": (True, sc.MS_MANDLOCK), "nomand": (False, sc.MS_MANDLOCK),
    "atime": (False, sc.MS_NOATIME), "noatime": (True, sc.MS_NOATIME),
    "diratime": (False, sc.MS_NODIRATIME), "nodiratime": (True, sc.MS_NODIRATIME),
    "bind": (True, sc.MS_BIND), "rbind": (True, sc.MS_BIND | sc.MS_REC),
    "relatime": (True, sc.MS_RELATIME), "norelatime": (False, sc.MS_RELATIME),
    "strictatime": (True, sc.MS_STRICTATIME), "nostrictatime": (False, sc.MS_STRICTATIME),
    "nosymfollow": (True, sc.MS_NOSYMFOLLOW), "symfollow": (False, sc.MS_NOSYMFOLLOW),
}
PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# Options that only mean something to container engines.
_IGNORED = {"tmpcopyup", "idmap", "ridmap", "copy-symlink", "notmpcopyup", "defaults"}

# statvfs(3) f_flag bits (ST_*) and the MS_* flags they stand for.
_ST_TO_MS = {1: sc.MS_RDONLY, 2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC,
             1024: sc.MS_NOATIME, 2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME}


def _locked_flags(target: str) -> int:
    try:
        f = posix.statvfs(target).f_flag
    except OSError:
        return 0
    return sum(ms for st_bit, ms in _ST_TO_MS.items() if f & st_bit)


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """-> (mount flags, propagation flags, filesystem data string)."""
    flags, prop, data = 0, 0, []
    for opt in options:
        if opt in FLAGS:
            on, bit = FLAGS[opt]
            flags = (flags | bit) if on else (flags & ~bit)
        elif opt in PROPAGATION:
            prop |= PROPAGATION[opt]
        elif opt in _IGNORED:
            continue
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


# --- resolving inside the rootfs --------------------------------------------------

def open_in_root(root_fd: int, path: str, flags: int = posix.O_PATH) -> int:
    """Open ``path`` (absolute, container view) inside the root, symlinks confined to it."""
    rel = path.lstrip("/") or "."
    return sc.openat2(root_fd, rel, flags, 0, sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)


def mkdir_in_root(root_fd: int, path: str, mode: int = 0o755) -> None:
    """``mkdir -p`` of ``path`` inside the root; each step relative to its parent's fd."""
    parts = [p for p in path.split("/") if p and p != "."]
    for i in range(len(parts)):
        sub = "/".join(parts[: i + 1])
        try:
            fd = open_in_root(root_fd, sub, posix.O_PATH | posix.O_DIRECTORY)
            posix.close(fd)
            continue
        except FileNotFoundError:
            pass
        parent = open_in_root(root_fd, "/".join(parts[:i]), posix.O_PATH | posix.O_DIRECTORY)
        try:
            posix.mkdir(parts[i], mode, dir_fd=parent)
        except FileExistsError:
            pass      # a dangling symlink: the next open_in_root tells
        finally:
            posix.close(parent)


def resolve_in_root(root_fd: int, path: str) -> str:
    """The path inside the root that ``path`` names once its symlinks are followed
    with the root as '/', through components that do not exist yet too (a dangling
    symlink names what is to be created, as runc's securejoin.MkdirAllInRoot does)."""
    todo = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        try:
            pfd = open_in_root(root_fd, "/".join(done), posix.O_PATH | posix.O_DIRECTORY)
        except OSError:
            done.append(part)             # the parent does not exist: nothing more to follow
            continue
        try:
            link = posix.readlink(part, dir_fd=pfd)
        except OSError:
            done.append(part)             # not a symlink, or missing
            continue
        finally:
            posix.close(pfd)
        hops += 1
        if hops > 40:
            raise OSError(errno.ELOOP, posix.strerror(errno.ELOOP), path)
        if link.startswith("/"):
            done = []
        todo = [p for p in link.split("/") if p and p != "."] + todo
    return "/" + "/".join(done)


def make_target(root_fd: int, dest: str, is_dir: bool) -> int:
    """Create the mount point ``dest`` if missing; return an O_PATH fd to it."""
    try:
        fd = open_in_root(root_fd, dest)
        return fd
    except FileNotFoundError:
        pass
    # The usual case, in five system calls: the parent resolves inside the root and the name
    # does not exist at all. A dangling symlink as the name (EEXIST) or on the way (ENOENT)
    # takes the walk below, through it and inside the root.
    parent, name = paths.split(dest.rstrip("/"))
    try:
        created = name not in ("", ".", "..") and _create(root_fd, parent, name, is_dir)
    except (FileNotFoundError, NotADirectoryError):
        created = False
    if not created:
        dest = resolve_in_root(root_fd, dest)     # through dangling symlinks, inside the root
        parent, name = paths.split(dest.rstrip("/"))
        mkdir_in_root(root_fd, parent)
        _create(root_fd, parent, name, is_dir)    # False: it is there after all
    return open_in_root(root_fd, dest)


def _create(root_fd: int, parent: str, name: str, is_dir: bool) -> bool:
    """Create ``name`` in ``parent`` (inside the root): mkdir(2), or an empty file with
    O_CREAT|O_EXCL; neither follows a symlink. -> False if the name exists."""
    pfd = open_in_root(root_fd, parent, posix.O_PATH | posix.O_DIRECTORY)
    try:
        if is_dir:
            posix.mkdir(name, 0o755, dir_fd=pfd)
        else:
            posix.close(posix.open(name, posix.O_CREAT | posix.O_EXCL | posix.O_WRONLY |
                                   posix.O_CLOEXEC | posix.O_NOFOLLOW, 0o644, dir_fd=pfd))
        return True
    except FileExistsError:
        return False
    finally:
        posix.close(pfd)


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


class reopened:  # noqa: N801 - used as a function: ``with reopened(root_fd, dest) as path``
    """The root of what is now mounted at ``dest``, as a /proc/self/fd path.

    An fd opened *before* a mount keeps naming the directory underneath; a
    remount or propagation change must address the new mount, so reopen.
    (A class, not contextlib.contextmanager: contextlib imports collections and
    functools, ~2.5 ms of every create's init.)
    """

    def __init__(self, root_fd: int, dest: str):
        self.fd = open_in_root(root_fd, dest)

    def __enter__(self) -> str:
        return fd_path(self.fd)

    def __exit__(self, *exc) -> None:
        posix.close(self.fd)


# --- one entry ----------------------------------------------------------------------

def mount_entry(root_fd: int, m: dict, *, cgroup_mode: str = "", cgroupns: bool = True,
                field: str = "mounts") -> None:
    """Mount one config.json entry below the rootfs (before pivot_root)."""
    dest = m["destination"]
    mtype = m.get("type") or ""
    source = m.get("source") or mtype or "none"
    flags, prop, data = parse_options(m.get("options", []))
    is_bind = bool(flags & sc.MS_BIND) or mtype == "bind"
    if is_bind:
        flags |= sc.MS_BIND
        if not paths.exists(source):
            raise MountError(f"mount {dest}: bind source {source!r} does not exist", stage="mounts",
                             errno=2)
        is_dir = paths.isdir(source)
    else:
        is_dir = True
    if mtype in ("proc", "sysfs"):
        _refuse_symlink(root_fd, dest)
    if mtype == "tmpfs":
        data = _tmpfs_mode(root_fd, dest, data)
    try:
        fd = make_target(root_fd, dest, is_dir)
    except OSError as exc:
        hint = " (a dangling symlink inside the rootfs?)" if exc.errno == 2 else ""
        raise MountError(f"mount {dest}: cannot create the mount point{hint}: "
                         f"{posix.strerror(exc.errno)}", stage="mounts", errno=exc.errno) from None
    try:
        target = fd_path(fd)
        if mtype == "cgroup":
            _mount_cgroup(target, flags, cgroup_mode, root_fd, dest, cgroupns, field)
            return
        with trace.step("mount", field, type=mtype or "bind", source=source, target=dest,
                        flags=sc.flag_names(flags, sc.MS_NAMES), data=data):
            if is_bind:
                sc.mount(source, target, None, flags & (sc.MS_BIND | sc.MS_REC))
                rest = flags & ~(sc.MS_BIND | sc.MS_REC)
                if rest:
                    with reopened(root_fd, dest) as mounted:
                        remount(mounted, rest | sc.MS_BIND)
            else:
                try:
                    sc.mount(source, target, mtype, flags, data)
                except OSError as exc:
                    if mtype == "sysfs" and exc.errno in (1, 13):
                        # no netns of our own: sysfs cannot be mounted, bind the host's (as runc)
                        sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
                        with reopened(root_fd, dest) as mounted:
                            remount(mounted, (flags | sc.MS_BIND) & ~sc.MS_REC)
                    elif mtype == "mqueue" and exc.errno in (1, 13, 22):
                        sc.mount("/dev/mqueue", target, None, sc.MS_BIND | sc.MS_REC)
                    else:
                        raise
            if prop:
                with reopened(root_fd, dest) as mounted:
                    sc.mount(None, mounted, None, prop)
    except OSError as exc:              # the options too: "size=abc" is what EINVAL refused
        opts = f" with options {data!r}" if data else ""
        hint = " (a directory onto a file, or a file onto a directory?)" \
            if is_bind and exc.errno == errno.ENOTDIR else ""        # docker's hint too
        raise MountError(f"mount {mtype or 'bind'} {source!r} on {dest!r}{opts}: "
                         f"{posix.strerror(exc.errno)}{hint}", stage="mounts",
                         errno=exc.errno) from None
    finally:
        posix.close(fd)


def _tmpfs_mode(root_fd: int, dest: str, data: str) -> str:
    """runc: a tmpfs on an existing mount point starts with that directory's mode;
    a ``mode=`` in the options (later in the data string) wins."""
    try:
        fd = open_in_root(root_fd, dest)
    except OSError:
        return data                     # a new mount point: tmpfs's own default (1777)
    try:
        mode = stat.S_IMODE(posix.fstat(fd).st_mode)
    finally:
        posix.close(fd)
    return f"mode={mode:04o}" + ("," + data if data else "")


def remount(target: str, flags: int) -> None:
    """Re-apply flags to an existing (bind) mount, keeping the flags the kernel locked."""
    locked = _locked_flags(target)
    if flags & (sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME):
        locked &= ~(sc.MS_NOATIME | sc.MS_RELATIME)
    try:
        sc.mount(None, target, None, sc.MS_REMOUNT | flags | locked)
    except PermissionError:
        sc.mount(None, target, None, sc.MS_REMOUNT | flags | locked | sc.MS_NOSUID | sc.MS_NODEV)


def _refuse_symlink(root_fd: int, dest: str) -> None:
    """/proc and /sys must be real directories in the image (CVE-2019-19921, -2023-27561)."""
    parent, name = paths.split(dest.rstrip("/"))
    try:
        pfd = open_in_root(root_fd, parent, posix.O_PATH | posix.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        st = posix.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    finally:
        posix.close(pfd)
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(f"mount {dest}: the rootfs has a {'symlink' if stat.S_ISLNK(st.st_mode) else 'non-directory'} "
                         f"there; refusing to mount proc/sysfs on it", stage="mounts")


def _mount_cgroup(target: str, flags: int, mode: str, root_fd: int, dest: str,
                  cgroupns: bool, field: str = "mounts") -> None:
    """Mount the cgroup filesystem(s) the container sees at /sys/fs/cgroup.

    On a unified (v2) host this is one cgroup2 mount; on a v1 or hybrid host
    a tmpfs holding one mount per hierarchy, as runc and docker set it up.
    With a cgroup namespace a fresh cgroup mount already shows the
    container's own cgroup as its root. Without one it would show the whole
    host tree, so the container's own cgroup directory is bind-mounted
    instead (what runc does): ``memory.limit_in_bytes`` at the top of
    /sys/fs/cgroup/memory is then the container's limit.
    """
    flags &= ~sc.MS_BIND
    own = {} if cgroupns else _own_cgroups()
    if mode == "unified":
        _mount_hierarchy(root_fd, target, dest, "cgroup2", "", flags, own.get(""), "/sys/fs/cgroup",
                         field)
        return
    ro = flags & sc.MS_RDONLY
    with trace.step("mount", field, type="tmpfs", source="tmpfs", target=dest, data="mode=755",
                    note="cgroup v1 hierarchies follow"):
        sc.mount("tmpfs", target, "tmpfs", (flags & ~sc.MS_RDONLY), "mode=755")
    for name, fstype, opts in _v1_hierarchies():
        sub = paths.join(dest, name)
        fd = make_target(root_fd, sub, True)
        try:
            key = "" if fstype == "cgroup2" else opts
            _mount_hierarchy(root_fd, fd_path(fd), sub, fstype, opts, flags, own.get(key),
                             "/sys/fs/cgroup/" + name, field)
        except OSError:
            continue
        finally:
            posix.close(fd)
    if ro:
        with reopened(root_fd, dest) as mounted:
            remount(mounted, sc.MS_RDONLY | (flags & ~sc.MS_RDONLY))


def _mount_hierarchy(root_fd, target, dest, fstype, opts, flags, own_path, host_mountpoint,
                     field="mounts") -> None:
    if own_path is None:
        with trace.step("mount", field, type=fstype, source=fstype, target=dest,
                        flags=sc.flag_names(flags, sc.MS_NAMES), data=opts):
            sc.mount(fstype, target, fstype, flags, opts)
        return
    source = host_mountpoint.rstrip("/") + own_path.rstrip("/")
    with trace.step("mount", field, type="bind", source=source, target=dest, flags="MS_BIND",
                    note="no cgroup namespace: the container's own cgroup"):
        sc.mount(source, target, None, sc.MS_BIND)
        with reopened(root_fd, dest) as mounted:
            remount(mounted, sc.MS_BIND | (flags & (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)))


def _own_cgroups() -> dict[str, str]:
    """/proc/self/cgroup as {controllers: path}; "" is the v2 hierarchy (cgroups(7))."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            out[controllers] = path
    return out


def _v1_hierarchies() -> list[tuple[str, str, str]]:
    """(dir name under /sys/fs/cgroup, fstype, options) of the host's cgroup mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            fstype, mnt, superopts = parts[sep + 1], parts[4], parts[sep + 3]
            if not mnt.startswith("/sys/fs/cgroup/"):
                continue
            name = mnt[len("/sys/fs/cgroup/"):]
            if "/" in name:
                continue
            if fstype == "cgroup":
                opts = ",".join(o for o in superopts.split(",") if o not in ("rw", "ro"))
                out.append((name, fstype, opts))
            elif fstype == "cgroup2":
                out.append((name, fstype, ""))
    return out
