"""What crashed runtimes leave behind, and taking it back (``gc`` and friends).

A runtime killed with SIGKILL runs no cleanup: a half-made container keeps
its state dir, cgroup, IP lease, nft elements, container dir and image hold
(security.md S22). Two cases are reclaimed here:

* a create that crashed: its record still says ``creating`` and nobody
  holds its state-dir lock (flock(2) dies with its holder);
* a container that asked for ``--rm`` (``record["autoremove"]``), has
  stopped, and whose *creator* -- the process that ran create and would have
  deleted it at exit: the foreground ``run``, the monitor of ``run -d`` --
  is gone (pid and start time, /proc/PID/stat, no longer match). ``gc``,
  ``ps``, ``list`` and the next create of that ID reclaim it.

A container that is alive, whose creator still runs, that did not ask for
--rm, or that lives under another state root is never touched; what is not a
container any more (cgroups, leases, veths, ports; and, in the docker layer,
container dirs and image holds: containerdir.gc) goes to each subsystem's own
``gc``.
"""

from __future__ import annotations

from . import state as st
from .errors import PyContainerError


def is_abandoned(record: dict) -> bool:
    """--rm, stopped, and its creator is no longer running."""
    if not record.get("autoremove") or st.status_of(record) != st.STOPPED:
        return False
    creator = record.get("creator") or {}
    pid = creator.get("pid") or 0
    return pid <= 0 or st.proc_start_time(pid) != creator.get("start")


def abandoned(rt, ids=None) -> list[str]:
    """Delete (``rt.delete(force=True)``: cgroup, network, state dir, container dir,
    image hold) every abandoned --rm container of ``rt``'s root, or of ``ids``."""
    done = []
    for cid in st.list_ids(rt.root) if ids is None else ids:
        try:
            record = st.StateDir(rt.root, cid).read()
        except PyContainerError:
            continue
        if not is_abandoned(record):
            continue
        try:
            rt.delete(cid, force=True)
            done.append(cid)
        except PyContainerError:
            continue          # someone else got there first
    return done


def gc(rt) -> dict:
    """Reclaim crashed creates and abandoned --rm containers, then the cgroups and network
    leases/veths/ports of containers that no longer exist (container dirs and image holds
    are the docker layer's: containerdir.gc, which `pycontainer gc` runs after this)."""
    report: dict = {"containers": abandoned(rt), "cgroups": [], "network": {}}
    for cid in st.list_ids(rt.root):
        sd = st.StateDir(rt.root, cid)
        try:
            sd.lock(blocking=False)       # a create in progress holds the lock
        except PyContainerError:
            continue
        try:
            # `create` holds the lock until the record says "created": a
            # "creating" record whose lock we could take is a crashed create.
            crashed = sd.read().get("status") == st.CREATING
        finally:
            sd.unlock()
        if crashed:
            rt.delete(cid, force=True)
            report["containers"].append(cid)
    live = set(st.list_ids(rt.root))
    from . import cgroups
    report["cgroups"] = cgroups.gc(live)
    try:
        from . import network
        report["network"] = network.gc(live)
    except PyContainerError as exc:
        from . import log
        log.warning(f"gc: network: {exc}")
    return report
