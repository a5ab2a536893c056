"""``exec --cgroup``: put an exec'd process into an existing sub-cgroup of the container.

runc 1.1's ``exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH`` (repeatable):
the new process is written to ``cgroup.procs`` of ``<container's cgroup>/PATH``
instead of the container's own cgroup. On cgroup v1 a controller prefix
chooses the hierarchies (the others keep the container's cgroup); without
one the path applies to every hierarchy. cgroup v2 has one hierarchy, so
only a single path without a prefix is accepted. The sub-cgroup must
already exist (the container, or whoever manages it, made it); PATH may not
climb out of the container's cgroup. Read cgroups(7) and runc's exec.go.
"""

from __future__ import annotations

import os
import posixpath

from ..errors import CgroupError
from . import fs


def for_exec(mgr, args):
    """What an exec'd process joins: ``mgr`` itself, or the sub-cgroups ``args`` name."""
    return SubCgroup(mgr, parse(args)) if args else mgr


def parse(args) -> dict[str, str]:
    """``["cpu,memory:a", "b"]`` -> ``{"cpu": "a", "memory": "a", "": "b"}`` (runc's rules)."""
    paths: dict[str, str] = {}
    for arg in args:
        ctrls, sep, path = arg.partition(":")
        if not sep:
            ctrls, path = "", arg
        _check(arg, path)
        for ctrl in ctrls.split(",") if sep else [""]:
            if sep and not ctrl:
                raise CgroupError(f"invalid --cgroup argument: {arg} (empty <controller> prefix)")
            if ctrl in paths:
                what = f"controller {ctrl} specified" if ctrl else "<path> arguments specified"
                raise CgroupError(f"invalid --cgroup argument(s): {what} multiple times")
            paths[ctrl] = path
    return paths


def _check(arg: str, path: str) -> None:
    if not path or "\0" in path or "\n" in path or ".." in path.split("/"):
        raise CgroupError(f"invalid --cgroup argument: {arg} (the path must name a cgroup "
                          "below the container's, without '..')")


class SubCgroup:
    """Quacks like a Manager for ``add_pid``: the joiner goes into the sub-cgroup(s)."""

    def __init__(self, mgr, paths: dict[str, str]):
        self.mgr = mgr
        self.targets: list[str] = []
        if getattr(mgr, "version", 2) == 2:
            if set(paths) != {""}:
                raise CgroupError("invalid --cgroup argument: cgroup v2 has a single hierarchy; "
                                  "give one PATH without a controller prefix")
            self.targets = [_join(mgr.dir, paths[""])]
        else:
            base = paths.get("")
            for ctrl, d in sorted(mgr.dirs.items()):
                sub = paths.get(ctrl, base)
                t = _join(d, sub) if sub else d
                if t not in self.targets:
                    self.targets.append(t)
            if mgr.unified:
                self.targets.append(_join(mgr.unified, base) if base else mgr.unified)
            unknown = sorted(set(paths) - set(mgr.dirs) - {""})
            if unknown:
                raise CgroupError(f"invalid --cgroup argument: no such controller: "
                                  f"{', '.join(unknown)}")
        for t in self.targets:
            if not os.path.isdir(t):
                raise CgroupError(f"--cgroup: sub-cgroup {t} does not exist")

    def add_pid(self, pid: int) -> None:
        for t in self.targets:
            fs.write_pid(t, pid)
        from . import attachlock      # imported already where priming was started
        attachlock.finish()            # the priming thread's work is done


def _join(base: str, sub: str) -> str:
    return posixpath.join(base, sub.lstrip("/"))
