"""``events``: a stream of what happens to a container's cgroup.

The kernel counts OOM kills per cgroup: ``oom_kill`` in memory.events (v2,
cgroup-v2.rst "memory.events") and in memory.oom_control (v1,
cgroup-v1/memory.rst "OOM Control"). This module polls that counter - both
hierarchies support poll/inotify notification too, but a poll every
``interval`` seconds is simple, identical on v1 and v2, and cheap - and yields
runc-shaped events (``{"type": "oom", "id": ...}`` and, every interval,
``{"type": "stats", "id": ..., "data": {...}}``).
"""

from __future__ import annotations

import time


def oom_kills(mgr) -> int:
    """How many processes the OOM killer has killed in this cgroup so far."""
    return int(mgr.stats().get("memory", {}).get("oom_kill", 0))


def recorded_oom_kills(record: dict, driver) -> int:
    """The same count from the directories ``create`` recorded (state.json's
    ``cgroup_dirs``): memory.oom_control in v1's memory hierarchy, memory.events on v2.
    For ``state`` of a stopped container, which engines call after every exit: no driver,
    no mount table, no ``os`` (the drivers' ``stats()`` read every controller's files).
    A record without them: ``driver(record)``'s stats (0 if they cannot be read)."""
    from . import read_small
    if not record.get("cgroup_dirs"):
        from ..errors import PyContainerError
        try:
            return oom_kills(driver(record))
        except (PyContainerError, OSError, ValueError):
            return 0
    n = 0
    for d in record["cgroup_dirs"]:
        for name in ("memory.oom_control", "memory.events"):
            for line in read_small(f"{d}/{name}").splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip().isdigit():
                    n += int(value)
    return n


def watch(mgr, container_id: str, interval: float = 5.0, stats: bool = True,
          stop=None):
    """Yield events until ``stop()`` returns true (or forever).

    An ``oom`` event is yielded once per OOM kill, as soon as it is seen (the
    counter is checked every ``min(interval, 0.2)`` seconds); a ``stats`` event
    every ``interval`` seconds when ``stats`` is true.
    """
    seen = oom_kills(mgr)
    tick = min(interval, 0.2)
    next_stats = time.monotonic()
    while not (stop and stop()):
        data = mgr.stats()
        n = int(data.get("memory", {}).get("oom_kill", 0))
        for _ in range(max(0, n - seen)):
            yield {"type": "oom", "id": container_id}
        seen = max(seen, n)
        now = time.monotonic()
        if stats and now >= next_stats:
            yield {"type": "stats", "id": container_id, "data": data}
            next_stats = now + interval
        time.sleep(tick)
