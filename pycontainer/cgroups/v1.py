"""The cgroup v1 driver (legacy and hybrid hosts): one directory per hierarchy.

cgroups(7), Documentation/admin-guide/cgroup-v1/. Each controller (or group of
co-mounted controllers, like ``cpu,cpuacct``) is its own tree, so the
container's cgroup is the same path made in every tree and a pid is written
to ``cgroup.procs`` in each. Quirks handled here:

* a new cpuset cgroup starts with empty ``cpuset.cpus``/``cpuset.mems`` and
  refuses tasks (ENOSPC) until they are filled, so they are copied from the
  parent (runc does the same);
* ``memory.limit_in_bytes`` may never exceed ``memory.memsw.limit_in_bytes``
  (see ``resources.apply_v1`` for the ordering);
* the freezer is ``freezer.state`` (THAWED / FREEZING / FROZEN);
* OOM kills are counted in ``memory.oom_control`` (``oom_kill N``).

On a hybrid host the process also joins the same path in the cgroup2 tree: v2
core files work there without controllers, so ``cgroup.kill`` kills the whole
group at once.
"""

from __future__ import annotations

import posix
import time

from .. import paths
from ..errors import CgroupError
from . import fs


class Manager:
    """``dirs`` maps each v1 controller to the container's directory in its tree."""

    version = 1

    def __init__(self, dirs: dict[str, str], path: str, unified: str | None = None,
                 roots: dict[str, str] | None = None):
        self.dirs = dict(dirs)
        self._roots = dict(roots or {})     # cgroup dir -> its hierarchy's mountpoint
        self.path = path
        self.unified = unified
        seen: list[str] = []
        for d in self.dirs.values():
            if d not in seen:
                seen.append(d)
        self.hierarchies = seen + ([unified] if unified else [])

    def __repr__(self) -> str:
        return f"<cgroups.v1.Manager {self.path} in {len(self.hierarchies)} hierarchies>"

    def _root(self, d: str) -> str:
        if d in self._roots:
            return self._roots[d]
        return d[: len(d) - len(self.path)] or "/"

    # --- setup -------------------------------------------------------------------
    def create(self, res: dict | None = None) -> None:
        """Validate, mkdir in every hierarchy, write the limits; undo all on failure."""
        from . import resources
        plan = resources.plan_v1(res)
        missing = sorted(resources.controllers_needed(plan) - set(self.dirs))
        if missing:
            raise CgroupError(f"cgroup {self.path}: the resources need the {', '.join(missing)} "
                              "controller(s), which this host does not mount "
                              "(see /proc/self/mountinfo)", stage="cgroup")
        made: list[str] = []
        try:
            for d in self.hierarchies:
                made += fs.makedirs(d, self._root(d))
            if "cpuset" in self.dirs:
                self._fill_cpuset(self.dirs["cpuset"])
            self._rt_parents(res)
            resources.apply_v1(self.dirs, res)
        except BaseException:
            fs.remove(made)
            raise

    def _fill_cpuset(self, leaf: str) -> None:
        root = self._root(leaf)
        chain = []
        d = leaf
        while d != root and len(d) > len(root):
            chain.append(d)
            d = paths.dirname(d)
        for d in reversed(chain):
            for name in ("cpuset.cpus", "cpuset.mems"):
                f = paths.join(d, name)
                if paths.exists(f) and not fs.read_or(f):
                    fs.write(f, fs.read(paths.join(paths.dirname(d), name)),
                             "linux.cgroupsPath (v1: an empty cpuset is copied from the parent)")

    def _rt_parents(self, res: dict | None) -> None:
        """Real-time bandwidth is handed down: a cgroup can get no more cpu.rt_runtime_us
        than its parent has left for its children (sched-rt-group.rst), and a new
        /pycontainer starts with 0. Raise each ancestor below the hierarchy root, down
        from the top, to what its children then hold, as runc's users set up by hand
        (docker's --cpu-rt-runtime does the same). Only under the default parent: other
        ancestors are not ours to change."""
        want = ((res or {}).get("cpu") or {}).get("realtimeRuntime") or 0
        leaf = self.dirs.get("cpu")
        if want <= 0 or leaf is None:
            return
        root = self._root(leaf)
        top = root.rstrip("/") + fs.DEFAULT_PARENT
        if not leaf.startswith(top + "/"):
            return
        chain, d = [], paths.dirname(leaf)
        while len(d) >= len(top):
            chain.append(d)
            d = paths.dirname(d)
        below, needs = leaf, []
        for d in chain:                      # bottom-up: what each ancestor must hold
            others = sum(fs.read_int(paths.join(d, n, "cpu.rt_runtime_us"), 0)
                         for n in posix.listdir(d)
                         if paths.join(d, n) != below and paths.isdir(paths.join(d, n)))
            want += others
            needs.append((d, want))
            below = d
        for d, need in reversed(needs):      # then top-down: a parent before its child
            f = paths.join(d, "cpu.rt_runtime_us")
            if fs.read_int(f, 0) < need:
                fs.write(f, str(need), "linux.resources.cpu.realtimeRuntime (parent cgroup)")

    def add_pid(self, pid: int) -> None:
        for d in self.hierarchies:
            fs.write_pid(d, pid)
        from . import attachlock      # imported already where priming was started
        attachlock.finish()            # the priming thread's work is done

    def update(self, res: dict) -> None:
        """Apply new limits to the existing cgroups (``runc update``).

        Device rules are left as they are: an update rewrites only what it names.
        """
        self._rt_parents(res)
        from . import resources
        resources.apply_v1(self.dirs, res, devices=False)

    # --- processes ----------------------------------------------------------------
    def _proc_dir(self) -> str:
        for c in ("pids", "freezer", "memory", "cpu"):
            if c in self.dirs:
                return self.dirs[c]
        return self.hierarchies[0]

    def pids(self) -> list[int]:
        return fs.read_procs(self._proc_dir())

    def kill_all(self, sig: int = 9) -> None:      # SIGKILL (9 on every Linux; signal(7))
        """Signal every process: cgroup.kill in the hybrid v2 tree if there is one,
        else freeze, signal each pid, thaw (runc signalAllProcesses)."""
        if sig == 9 and self.unified:
            kill_file = paths.join(self.unified, "cgroup.kill")
            if paths.exists(kill_file):
                fs.write(kill_file, "1", "pycontainer kill --all / delete --force")
                return
        has_freezer = "freezer" in self.dirs
        if has_freezer:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    posix.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if has_freezer:
                self.thaw()

    def _freezer(self) -> str:
        if "freezer" not in self.dirs:
            raise CgroupError(f"freeze {self.path}: this host does not mount the v1 freezer "
                              "controller", stage="cgroup")
        return paths.join(self.dirs["freezer"], "freezer.state")

    def freeze(self, timeout: float = 5.0) -> None:
        """FROZEN, then wait: the state reads FREEZING until every task stopped."""
        f = self._freezer()
        deadline = time.monotonic() + timeout
        fs.write(f, "FROZEN", "pycontainer pause, kill --all")
        while fs.read(f) != "FROZEN":
            if time.monotonic() > deadline:
                fs.write(f, "THAWED", "pycontainer resume, kill --all")
                raise CgroupError(f"freeze {self.path}: still FREEZING after {timeout}s "
                                  "(a task in uninterruptible sleep?)", stage="cgroup")
            time.sleep(0.005)
            fs.write(f, "FROZEN", "pycontainer pause, kill --all")

    def thaw(self) -> None:
        fs.write(self._freezer(), "THAWED", "pycontainer resume, kill --all")

    def frozen(self) -> bool:
        return "freezer" in self.dirs and fs.read_or(self._freezer()) == "FROZEN"

    # --- reading and teardown -----------------------------------------------------
    def stats(self) -> dict:
        from . import stats
        return stats.v1(self.dirs)

    def destroy(self) -> None:
        """Remove the cgroup from every hierarchy; keep going past failures,
        then report them all in one error."""
        errors = []
        deadline = time.monotonic() + 2.0        # one wait for all hierarchies
        for d in self.hierarchies:
            try:
                fs.rmtree(d, deadline=deadline)
            except CgroupError as e:
                errors.append(str(e))
        if errors:
            raise CgroupError("; ".join(errors), stage="cgroup")
