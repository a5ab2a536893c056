"""Namespaces: what each one isolates, and how a container gets them.

A namespace wraps one global resource so that processes inside see their own
copy (namespaces(7)): ``mount`` (the mount table), ``uts`` (hostname),
``ipc`` (SysV IPC, POSIX queues), ``pid`` (process IDs; applies to the
*children* of the caller, so the init is forked after unshare),
``network`` (interfaces, routes, ports), ``user`` (uid/gid mappings and
capabilities, user_namespaces(7)), ``cgroup`` (the cgroup root a process
sees, cgroup_namespaces(7)), ``time`` (clock offsets).

config.json lists them in ``linux.namespaces``: an entry with ``path``
joins an existing namespace with setns(2) (``/proc/PID/ns/net`` or a bind
mount such as ``/run/netns/x``); one without creates a new one with
unshare(2). Anything not listed is shared with the runtime (the host).

A new user namespace starts with no uid mapped: the *parent* must write
``/proc/PID/uid_map`` and ``gid_map`` (user_namespaces(7), "User and group
ID mappings") before the child can act as root inside it, which is why the
stage-1 process asks the runtime for it over the sync socket.
"""

from __future__ import annotations

import posix

from . import syscalls as sc
from . import trace
from .errors import NamespaceError

# OCI type -> (clone flag, /proc/PID/ns/ name)
TYPES = {
    "user": (sc.CLONE_NEWUSER, "user"),
    "mount": (sc.CLONE_NEWNS, "mnt"),
    "uts": (sc.CLONE_NEWUTS, "uts"),
    "ipc": (sc.CLONE_NEWIPC, "ipc"),
    "network": (sc.CLONE_NEWNET, "net"),
    "cgroup": (sc.CLONE_NEWCGROUP, "cgroup"),
    "pid": (sc.CLONE_NEWPID, "pid"),
    "time": (sc.CLONE_NEWTIME, "time"),
}
# Join in this order: user first (it grants the rights to join the others),
# mount last but one (paths resolve in the old mount ns until then), pid
# last (it only affects children anyway).
JOIN_ORDER = ("user", "ipc", "uts", "network", "cgroup", "time", "mount", "pid")


def plan(namespaces: list[dict]) -> tuple[int, list[tuple[str, str]]]:
    """-> (flags to unshare, [(type, path) to join]) for ``linux.namespaces``."""
    flags = 0
    join = []
    for ns in namespaces:
        if ns.get("path"):
            join.append((ns["type"], ns["path"]))
        else:
            flags |= TYPES[ns["type"]][0]
    join.sort(key=lambda tp: JOIN_ORDER.index(tp[0]))
    return flags, join


def open_join_fds(join: list[tuple[str, str]]) -> list[tuple[str, int]]:
    """Open every namespace to join (before joining any: paths resolve in the old ones)."""
    fds = []
    try:
        for typ, path in join:
            try:
                fds.append((typ, posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)))
            except OSError as exc:
                raise NamespaceError(f"join {typ} namespace {path!r}: {exc.strerror}",
                                     stage="namespaces", errno=exc.errno) from None
    except BaseException:
        for _, fd in fds:
            posix.close(fd)
        raise
    return fds


def join(fds: list[tuple[str, int]]) -> None:
    for typ, fd in fds:
        try:
            with trace.step("setns", "linux.namespaces", type=typ,
                            nstype=sc.CLONE_NAMES[TYPES[typ][0]]):
                sc.setns(fd, TYPES[typ][0])
        except OSError as exc:
            raise NamespaceError(f"join {typ} namespace: {exc.strerror}", stage="namespaces",
                                 errno=exc.errno) from None
        finally:
            posix.close(fd)


def unshare(flags: int) -> None:
    if not flags:
        return
    try:
        with trace.step("unshare", "linux.namespaces", flags=sc.flag_names(flags, sc.CLONE_NAMES)):
            sc.unshare(flags)
    except OSError as exc:
        raise NamespaceError(f"unshare({sc.flag_names(flags, sc.CLONE_NAMES)}): {exc.strerror}",
                             stage="namespaces", errno=exc.errno) from None


def write_id_maps(pid: int, uid_maps: list[dict], gid_maps: list[dict]) -> None:
    """Write /proc/PID/uid_map and gid_map (from the parent, as the kernel requires)."""
    for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
        text = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
        path = f"/proc/{pid}/{name}"
        try:
            with trace.step("write", "linux." + ("uidMappings" if name == "uid_map" else "gidMappings"),
                            file=path, value=text.strip()):
                fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
                try:
                    posix.write(fd, text.encode())
                finally:
                    posix.close(fd)
        except OSError as exc:
            raise NamespaceError(f"write {path} ({text.strip()!r}): {exc.strerror}",
                                 stage="user-namespace", errno=exc.errno) from None


def ns_inode(pid: int | str, name: str) -> str:
    """``net:[4026531840]`` – how tests and labs compare namespaces."""
    return posix.readlink(f"/proc/{pid}/ns/{name}")
