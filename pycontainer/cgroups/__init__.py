"""Control groups: put the container's processes in a group and limit what it uses.

A cgroup is a directory in a cgroup filesystem. Writing a pid to its
``cgroup.procs`` moves that process (and, from then on, its children) into the
group; writing to the controller files beside it (``memory.max``,
``pids.max``, ``cpu.weight`` ...) sets limits the kernel enforces on the group
as a whole. Read Documentation/admin-guide/cgroup-v2.rst for the unified (v2)
hierarchy and cgroups(7) / Documentation/admin-guide/cgroup-v1/ for v1.

A host mounts cgroups in one of three layouts, told apart here from
/proc/self/mountinfo and the controllers each hierarchy offers (never from the
kernel version):

* ``unified`` - one cgroup2 mount holds every controller (modern distros);
* ``hybrid``  - controllers on v1 hierarchies under /sys/fs/cgroup/<name>, and
  a cgroup2 mount (…/unified) with few or no controllers;
* ``legacy``  - v1 hierarchies only.

The API (the contract in docs/architecture.md)::

    mgr = cgroups.open(cgroups_path, container_id)   # runc cgroupsPath rules
    mgr.create(resources)   # validate, mkdir in every hierarchy, apply
    mgr.add_pid(pid); mgr.pids(); mgr.kill_all(sig)
    mgr.freeze(); mgr.thaw(); mgr.frozen()
    mgr.update(resources); mgr.stats(); mgr.destroy(); mgr.path
    mgr = cgroups.reopen(recorded_dirs, path, container_id)   # later verbs, from the state

``resources`` is the OCI ``linux.resources`` object (a dict). The drivers live
in ``v2.py`` (unified) and ``v1.py`` (legacy and hybrid); the translation of
resources into file writes is in ``resources.py`` (pure, testable on a fake
tree). This module imports nothing at its top but the errors: ``state`` and ``kill``
import the package for ``freezer.py`` alone, and the drivers, ``os`` and the mount
table come with the functions that need them.
"""

from __future__ import annotations

from ..errors import CgroupError

__all__ = ["CgroupError", "detect", "gc", "open", "read_small", "reopen", "resolve_path"]


def read_small(path: str) -> str:
    """A cgroupfs file of a few lines, read with the ``posix`` module alone ("" if it cannot
    be read): what ``state`` and ``kill`` need of the directories create recorded
    (freezer.py, events.py), without ``os`` or a driver."""
    import posix
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return posix.read(fd, 4096).decode(errors="replace")
    except OSError:
        return ""
    finally:
        posix.close(fd)


def detect(mountinfo: str = "/proc/self/mountinfo") -> str:
    """Return ``"unified"``, ``"hybrid"`` or ``"legacy"`` for this host."""
    from . import mounts
    return mounts.parse(mountinfo).mode


def resolve_path(cgroups_path: str | None, container_id: str, own: str = "/") -> str:
    """Turn an OCI ``linux.cgroupsPath`` into a path below a hierarchy root.

    The runc rules: an absolute path is taken from the hierarchy root; a
    relative one is below the runtime's own cgroup ``own`` (from
    /proc/self/cgroup); none at all means ``/pycontainer/<id>``. ``..`` may not
    climb out, and the result is never the root itself.
    """
    from .. import paths
    from .fs import DEFAULT_PARENT
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise CgroupError(f"cgroup for container {container_id!r}: "
                              "the ID cannot name a cgroup directory")
        return f"{DEFAULT_PARENT}/{container_id}"
    if "\0" in cgroups_path or "\n" in cgroups_path:
        raise CgroupError(f"cgroupsPath {cgroups_path!r} contains a NUL or newline")
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise CgroupError(f"cgroupsPath {cgroups_path!r} looks like a systemd slice:name:scope; "
                          "pycontainer drives cgroupfs directly, give a path instead")
    if cgroups_path.startswith("/"):
        path = paths.normpath("/" + cgroups_path.lstrip("/"))
    else:
        if ".." in cgroups_path.split("/"):
            raise CgroupError(f"cgroupsPath {cgroups_path!r}: a relative path may not contain '..'")
        path = paths.normpath(paths.join(own or "/", cgroups_path))
    if path == "/":
        raise CgroupError(f"cgroupsPath {cgroups_path!r} names the root cgroup; "
                          "a container needs a cgroup of its own")
    return path


def open(cgroups_path: str | None, container_id: str, *,  # noqa: A001 - the contract's name
         mountinfo: str = "/proc/self/mountinfo", proc_cgroup: str = "/proc/self/cgroup"):
    """Return the Manager for this container's cgroup (nothing is created yet).

    The driver is chosen from the mounts: ``v2.Manager`` on a unified host,
    ``v1.Manager`` on hybrid and legacy hosts (it also joins the cgroup2
    hierarchy of a hybrid host, for ``cgroup.kill``).
    """
    from . import mounts
    info = mounts.parse(mountinfo)
    if info.mode == "unified":
        from . import v2
        own = mounts.own_cgroups(proc_cgroup).get("", "/")
        return v2.Manager(info.unified, resolve_path(cgroups_path, container_id, own))
    from . import v1
    owns = mounts.own_cgroups(proc_cgroup)
    dirs, roots = {}, {}
    for controller, mountpoint in info.v1.items():
        own = owns.get(controller, "/")
        dirs[controller] = mountpoint + resolve_path(cgroups_path, container_id, own)
        roots[dirs[controller]] = mountpoint
    unified = None
    if info.unified:
        unified = info.unified + resolve_path(cgroups_path, container_id, owns.get("", "/"))
        roots[unified] = info.unified
    path = resolve_path(cgroups_path, container_id, owns.get("memory", "/"))
    return v1.Manager(dirs, path, unified=unified, roots=roots)


def reopen(recorded: list[str] | None, path: str, container_id: str, *,
           mountinfo: str = "/proc/self/mountinfo"):
    """The Manager of a container ``create`` made, from the directories it recorded
    (state.json's ``cgroup_dirs``, as runc keeps ``cgroup_paths``), else from ``path``.

    A relative cgroupsPath lies below the creating runtime's own cgroup in *each* v1
    hierarchy (cpu may be at / while memory is below a session's or a service's cgroup);
    resolving ``path`` (memory's) in every tree, or the path again from a process in other
    cgroups, would name directories that do not exist."""
    if not recorded:
        return open(path, container_id, mountinfo=mountinfo)
    from . import mounts
    info = mounts.parse(mountinfo)
    if info.mode == "unified":
        from . import v2
        return v2.Manager(info.unified, path)
    from . import v1

    def under(mountpoint: str) -> str:
        return next((d for d in recorded if d.startswith(mountpoint + "/")), mountpoint + path)
    dirs = {c: under(m) for c, m in info.v1.items()}
    roots = {d: info.v1[c] for c, d in dirs.items()}
    unified = under(info.unified) if info.unified else None
    if unified:
        roots[unified] = info.unified
    return v1.Manager(dirs, path, unified=unified, roots=roots)


def gc(live_ids, *, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Remove empty cgroups under the default parent whose container no longer exists.

    Only ``/pycontainer/<id>`` can be found without the container's state (a
    custom cgroupsPath is known only to its state record, which ``delete
    --force`` uses). A cgroup that still holds processes is left alone: it
    may belong to a container under another ``--root``.
    """
    import os

    from . import mounts
    from .fs import DEFAULT_PARENT
    info = mounts.parse(mountinfo)
    roots = [info.unified] if info.mode == "unified" else list(info.v1.values()) + \
        ([info.unified] if info.unified else [])
    names: set[str] = set()
    for root in roots:
        try:
            names |= {n for n in os.listdir(root + DEFAULT_PARENT)
                      if os.path.isdir(os.path.join(root + DEFAULT_PARENT, n))}
        except (FileNotFoundError, NotADirectoryError):
            continue
    removed = []
    for name in sorted(names - set(live_ids)):
        try:
            mgr = open(None, name, mountinfo=mountinfo)
            if mgr.pids():
                continue
            mgr.destroy()
            removed.append(name)
        except CgroupError:
            continue
    return removed
