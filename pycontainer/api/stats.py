"""``Container.stats()`` in the Engine API's shape, as docker-py returns it.

Code written for docker-py reads ``stats["memory_stats"]["usage"]``, ``cpu_stats`` beside
``precpu_stats`` (the CPU % docker's CLI shows is their difference over the system's),
``pids_stats``, ``blkio_stats`` and ``networks``. The numbers are the container's cgroup
(``Runtime.stats``: cpuacct/cpu.stat, memory, pids, blkio/io, as runc's ``events
--stats`` reads them), this machine's CPU time (``/proc/stat``'s first line, in ns) and
the interfaces of the container's network namespace (``/proc/PID/net/dev``).
``stream=True`` yields one every second, each with the one before as ``precpu_stats``.

Read: the Engine API's "Get container stats based on resource usage" (ContainerStats);
proc(5) (/proc/stat, /proc/net/dev); cgroups(7).
"""

from __future__ import annotations

import os
import time


def _system_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]              # user nice system idle iowait irq softirq
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _networks(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in list(f)[2:]:
                name, _, rest = line.partition(":")
                v = [int(x) for x in rest.split()]
                if name.strip() != "lo" and len(v) >= 12:
                    out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2],
                                         "rx_dropped": v[3], "tx_bytes": v[8], "tx_packets": v[9],
                                         "tx_errors": v[10], "tx_dropped": v[11]}
    except (OSError, ValueError):
        pass
    return out


def sample(rt, cid: str, name: str, before: dict | None = None) -> dict:
    """One ContainerStats record (``before``: the previous one, for precpu_stats)."""
    from ..containerdir import rfc3339
    from ..hostinfo import mem_total
    s = rt.stats(cid)
    cpu, mem = s.get("cpu") or {}, s.get("memory") or {}
    usage = cpu.get("usage") or {}
    online = len(os.sched_getaffinity(0))
    cpu_stats = {"cpu_usage": {"total_usage": usage.get("total", 0),
                               "usage_in_kernelmode": usage.get("kernel", 0),
                               "usage_in_usermode": usage.get("user", 0)},
                 "system_cpu_usage": _system_ns(), "online_cpus": online,
                 "throttling_data": {"periods": (cpu.get("throttling") or {}).get("periods", 0),
                                     "throttled_periods": (cpu.get("throttling") or {}).get("throttledPeriods", 0),
                                     "throttled_time": (cpu.get("throttling") or {}).get("throttledTime", 0)}}
    mu = mem.get("usage") or {}
    blk = (s.get("blkio") or {}).get("ioServiceBytesRecursive") or []
    pids = s.get("pids") or {}
    return {"read": rfc3339(time.time_ns()), "preread": (before or {}).get("read", "0001-01-01T00:00:00Z"),
            "id": cid, "name": "/" + name,
            "pids_stats": {"current": pids.get("current", 0), **({"limit": pids["limit"]} if pids.get("limit") else {})},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": e.get("major", 0), "minor": e.get("minor", 0), "op": e.get("op", "").lower(),
                 "value": e.get("value", 0)} for e in blk] or None},
            "num_procs": 0, "cpu_stats": cpu_stats,
            "precpu_stats": (before or {}).get("cpu_stats") or {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
            "memory_stats": {"usage": mu.get("usage", 0), "max_usage": mu.get("max", 0),
                             "limit": mu.get("limit") or mem_total(), "failcnt": mu.get("failcnt", 0),
                             "stats": dict(mem.get("raw") or {})},
            "networks": _networks(rt.state(cid).get("pid", 0))}


def stream(rt, cid: str, name: str, interval: float = 1.0):
    """Records every ``interval`` seconds until the container stops."""
    before = None
    while True:
        try:
            rec = sample(rt, cid, name, before)
        except Exception:  # noqa: BLE001 - it stopped (no cgroup, no state): the stream ends
            return
        yield rec
        before = rec
        time.sleep(interval)
