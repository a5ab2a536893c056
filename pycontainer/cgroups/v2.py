"""The cgroup v2 (unified) driver: one directory holds the container's group.

Documentation/admin-guide/cgroup-v2.rst. A controller works in a cgroup only
if every ancestor lists it in ``cgroup.subtree_control`` ("Enabling and
Disabling"), and a cgroup that hands controllers to children may hold no
processes itself ("no internal process constraint"), which is why containers
live in leaves like /pycontainer/<id>. ``cgroup.freeze`` stops every process
(``cgroup.events`` says ``frozen 1`` once done), ``cgroup.kill`` (Linux 5.14)
SIGKILLs the whole subtree at once, ``memory.events`` counts OOM kills.
"""

from __future__ import annotations

import posix
from _signal import SIGKILL     # not `signal`: its enums cost ~3 ms of every verb on v2
import time

from .. import paths
from ..errors import CgroupError
from . import fs, resources

# Controllers a container's parents enable for it (if the host offers them).
WANTED = ("cpu", "cpuset", "io", "memory", "pids", "hugetlb", "misc", "rdma")


class Manager:
    """A container's cgroup on a unified hierarchy mounted at ``mount``."""

    version = 2

    def __init__(self, mount: str, path: str):
        self.mount = mount.rstrip("/") or "/"
        self.path = path
        self.dir = self.mount + path
        self.hierarchies = [self.dir]       # as v1.Manager's: the directories it makes

    def __repr__(self) -> str:
        return f"<cgroups.v2.Manager {self.dir}>"

    # --- setup -------------------------------------------------------------------
    def create(self, res: dict | None = None) -> None:
        """Validate ``res``, make the cgroup, enable controllers, write the limits.

        On any failure the directories this call made are removed again.
        """
        plan = resources.plan_v2(res)
        offered = self._offered()
        missing = sorted(resources.controllers_needed(plan) - offered - {""})
        if missing:
            raise CgroupError(
                f"cgroup {self.path}: the resources need the {', '.join(missing)} controller(s), "
                f"which {self.mount}/cgroup.controllers does not offer "
                f"({' '.join(sorted(offered)) or 'none'})", stage="cgroup")
        made = fs.makedirs(self.dir, self.mount)
        try:
            self._enable(offered, resources.controllers_needed(plan))
            resources.apply(self.dir, plan)
            self._devices((res or {}).get("devices") or [])
        except BaseException:
            fs.remove(made)
            raise

    def _offered(self) -> set[str]:
        return set(fs.read_or(paths.join(self.mount, "cgroup.controllers")).split())

    def _enable(self, offered: set[str], needed: set[str]) -> None:
        """Write +controller into subtree_control from the root down to our parent."""
        want = [c for c in WANTED if c in offered]
        parts = [p for p in self.path.split("/") if p]
        d = self.mount
        for part in parts:
            have = set(fs.read_or(paths.join(d, "cgroup.subtree_control")).split())
            for c in want:
                if c in have:
                    continue
                try:
                    fs.write(paths.join(d, "cgroup.subtree_control"), f"+{c}",
                             "linux.resources")
                except CgroupError as e:
                    if c in needed:
                        raise CgroupError(f"{e} - is {d} holding processes? a cgroup that "
                                          f"delegates controllers must be empty",
                                          stage="cgroup", errno=e.errno) from e
            d = paths.join(d, part)

    def add_pid(self, pid: int) -> None:
        fs.write_pid(self.dir, pid)
        from . import attachlock      # imported already where priming was started
        attachlock.finish()            # the priming thread's work is done

    def update(self, res: dict) -> None:
        """Apply new limits to the existing cgroup (``runc update``)."""
        plan = resources.plan_v2(res)
        missing = sorted(resources.controllers_needed(plan) - self._enabled_here() - {""})
        if missing:
            raise CgroupError(f"update {self.path}: the {', '.join(missing)} controller(s) "
                              "are not enabled for this cgroup", stage="cgroup")
        resources.apply(self.dir, plan)
        if "devices" in res:
            self._devices(res["devices"] or [])

    def _devices(self, rules: list) -> None:
        """The device rules as an eBPF program on the cgroup (ebpf.py); replaces the old one.

        Only on a real cgroup2 mount (a fake tree in the unit tests has no bpf)."""
        from . import ebpf, mounts
        if mounts.parse().unified != self.mount:
            return
        ebpf.install(self.dir, rules)

    def _enabled_here(self) -> set[str]:
        return set(fs.read_or(paths.join(self.dir, "cgroup.controllers")).split())

    # --- processes ----------------------------------------------------------------
    def pids(self) -> list[int]:
        return fs.read_procs(self.dir)

    def kill_all(self, sig: int = SIGKILL) -> None:
        """Signal every process; SIGKILL uses cgroup.kill (no fork race)."""
        kill_file = paths.join(self.dir, "cgroup.kill")
        if sig == SIGKILL and paths.exists(kill_file):
            fs.write(kill_file, "1", "pycontainer kill --all / delete --force")
            return
        self.freeze()
        try:
            for pid in self.pids():
                try:
                    posix.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            self.thaw()

    def freeze(self, timeout: float = 5.0) -> None:
        fs.write(paths.join(self.dir, "cgroup.freeze"), "1", "pycontainer pause")
        deadline = time.monotonic() + timeout
        while not self.frozen():
            if time.monotonic() > deadline:
                raise CgroupError(f"freeze {self.path}: still not frozen after {timeout}s",
                                  stage="cgroup")
            time.sleep(0.005)

    def thaw(self) -> None:
        fs.write(paths.join(self.dir, "cgroup.freeze"), "0", "pycontainer resume")

    def frozen(self) -> bool:
        ev = fs.read_kv(paths.join(self.dir, "cgroup.events"))
        if "frozen" in ev:
            return ev["frozen"] == 1
        return fs.read_or(paths.join(self.dir, "cgroup.freeze")) == "1"

    # --- reading and teardown -----------------------------------------------------
    def stats(self) -> dict:
        from . import stats         # the stats verbs only, as v1.py does
        return stats.v2(self.dir)

    def destroy(self) -> None:
        """Remove the cgroup (and any child cgroups); missing is fine."""
        fs.rmtree(self.dir)
