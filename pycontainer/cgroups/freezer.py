"""The freezer: whether a container's cgroup is frozen (``pause``), read cheaply.

Freezing a cgroup stops every task in it where it stands, without a signal
the tasks could see (``pause``/``resume``, and ``kill --all`` on v1 so that no
task forks while it is signalled). Its state is a file in the cgroup's own
directory:

* cgroup v1, the ``freezer`` hierarchy: ``freezer.state`` reads ``THAWED``,
  ``FREEZING`` (tasks still being stopped) or ``FROZEN``
  (Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst);
* cgroup v2, any cgroup: ``cgroup.freeze`` is what was asked (1 or 0) and the
  ``frozen`` key of ``cgroup.events`` says when every task has stopped
  (Documentation/admin-guide/cgroup-v2.rst, "Core Interface Files").

``state``, ``kill`` and ``delete`` must tell ``paused`` from ``running`` on
every call, and engines call ``state`` after every ``create`` and ``start``:
so this module reads the directories ``create`` recorded (state.json's
``cgroup_dirs``) with the ``posix`` module alone, without finding the
hierarchies again (mountinfo) or importing the drivers (v1.py, v2.py: ~2 ms
with ``os``). The drivers' ``frozen()`` read the same files by the same rule
with their own helpers (fs.py), so that ``run``, which has them loaded, does
not import this module too.
"""

from . import read_small as _read


def frozen(directory: str) -> bool:
    """One cgroup directory: v1's freezer.state FROZEN, or v2's cgroup.events ``frozen 1``."""
    state = _read(directory + "/freezer.state")
    if state:
        return state.strip() == "FROZEN"
    for line in _read(directory + "/cgroup.events").splitlines():
        key, _, value = line.partition(" ")
        if key == "frozen":
            return value.strip() == "1"
    return _read(directory + "/cgroup.freeze").strip() == "1"    # kernels before cgroup.events had it


def any_frozen(directories) -> bool:
    """A container's cgroup, given its directories in every hierarchy: frozen in one of them."""
    return any(frozen(d) for d in directories)
