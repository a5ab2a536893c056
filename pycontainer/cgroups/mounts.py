"""Where the cgroup hierarchies are mounted, and which layout the host uses.

Each line of /proc/self/mountinfo (proc(5)) ends with ``- fstype source
superoptions``. A v1 hierarchy has fstype ``cgroup`` and names its controllers
in the superoptions (``rw,cpu,cpuacct``); a named hierarchy without
controllers (``name=systemd``) carries no limits and is skipped. The v2
hierarchy has fstype ``cgroup2`` and lists what it offers in its root's
``cgroup.controllers`` (Documentation/admin-guide/cgroup-v2.rst, "Mounting").
/proc/self/cgroup gives this process's own cgroup in each hierarchy, which a
relative cgroupsPath is resolved against.
"""

from __future__ import annotations


from .. import paths

# v1 controllers a container's cgroup joins (cgroups(7)); others are ignored.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                  "blkio", "pids", "hugetlb", "net_cls", "net_prio", "perf_event",
                  "rdma", "misc")


class Mounts:
    """``mode`` (unified | hybrid | legacy), the cgroup2 mountpoint, v1 controller -> mountpoint."""

    __slots__ = ("mode", "unified", "v1")

    def __init__(self, mode: str, unified: str | None = None, v1: dict | None = None):
        self.mode, self.unified, self.v1 = mode, unified, dict(v1 or {})

    def __repr__(self) -> str:
        return f"Mounts({self.mode!r}, unified={self.unified!r}, v1={self.v1!r})"


def unescape(s: str) -> str:
    """A mountinfo field with its ``\\ooo`` escapes (space, tab, newline, backslash) undone.

    No ``re``: rootfs.py calls it after chroot, where no import may happen.
    """
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1:i + 4].isdigit() and len(s[i + 1:i + 4]) == 3:
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse(mountinfo: str = "/proc/self/mountinfo") -> Mounts:
    """Read mountinfo and decide the layout from what each hierarchy offers."""
    from ..errors import CgroupError
    try:
        with open(mountinfo) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise CgroupError(f"read {mountinfo}: {e.strerror}", errno=e.errno) from e
    unified = None
    v1: dict[str, str] = {}
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, mountpoint = tail[0], unescape(fields[4])
        if fstype == "cgroup2":
            if unified is None:
                unified = mountpoint
        elif fstype == "cgroup":
            for opt in tail[2].split(","):
                if opt in V1_CONTROLLERS and opt not in v1:
                    v1[opt] = mountpoint
    if v1:
        mode = "hybrid" if unified else "legacy"
    elif unified:
        mode = "unified"
    else:
        raise CgroupError("no cgroup filesystem is mounted (see /proc/self/mountinfo); "
                          "mount cgroup2 on /sys/fs/cgroup")
    return Mounts(mode, unified, v1)


def controllers(unified_root: str) -> set[str]:
    """The controllers a cgroup2 hierarchy offers (its root cgroup.controllers)."""
    try:
        with open(paths.join(unified_root, "cgroup.controllers")) as f:
            return set(f.read().split())
    except OSError:
        return set()


def own_cgroups(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """Map controller -> this process's cgroup path; the v2 entry has key ''."""
    out: dict[str, str] = {}
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if ctrls == "":
            out[""] = path
        for c in ctrls.split(","):
            if c and not c.startswith("name="):
                out[c] = path
    return out
