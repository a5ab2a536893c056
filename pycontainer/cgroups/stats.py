"""What a cgroup has used, as one JSON-able dict (``events --stats``).

The shape follows runc's ``events --stats`` (libcontainer/cgroups/stats.go):
``cpu.usage`` in nanoseconds, ``memory.usage`` with limit and peak,
``pids.current/limit``, ``blkio`` entries per device, plus
``memory.oom_kill`` - how many processes the kernel's OOM killer killed here.
Sources: cpu.stat, memory.current, memory.events, io.stat (cgroup-v2.rst);
cpuacct.*, memory.usage_in_bytes, memory.oom_control, blkio.throttle.*
(cgroup-v1/*.rst).
"""

from __future__ import annotations

from .. import paths
from . import fs

_MAX = 2 ** 62     # v1 reports "no limit" as a huge page-aligned number


def _limit(s: str) -> int:
    if s in ("", "max"):
        return 0
    try:
        v = int(s)
    except ValueError:
        return 0
    return 0 if v >= _MAX else v


def v2(d: str) -> dict:
    j = lambda name: paths.join(d, name)       # noqa: E731
    cpu = fs.read_kv(j("cpu.stat"))
    mem_ev = fs.read_kv(j("memory.events"))
    io = []
    for line in fs.read_or(j("io.stat")).splitlines():
        dev, *kvs = line.split()
        major, _, minor = dev.partition(":")
        for kv in kvs:
            k, _, v = kv.partition("=")
            io.append({"major": int(major), "minor": int(minor), "op": k, "value": int(v)})
    return {
        "cpu": {"usage": {"total": cpu.get("usage_usec", 0) * 1000,
                          "user": cpu.get("user_usec", 0) * 1000,
                          "kernel": cpu.get("system_usec", 0) * 1000},
                "throttling": {"periods": cpu.get("nr_periods", 0),
                               "throttledPeriods": cpu.get("nr_throttled", 0),
                               "throttledTime": cpu.get("throttled_usec", 0) * 1000}},
        "memory": {"usage": {"usage": fs.read_int(j("memory.current")),
                             "limit": _limit(fs.read_or(j("memory.max"))),
                             "max": fs.read_int(j("memory.peak"))},
                   "swap": {"usage": fs.read_int(j("memory.swap.current")),
                            "limit": _limit(fs.read_or(j("memory.swap.max")))},
                   "oom": mem_ev.get("oom", 0),
                   "oom_kill": mem_ev.get("oom_kill", 0),
                   "raw": fs.read_kv(j("memory.stat"))},
        "pids": {"current": fs.read_int(j("pids.current")),
                 "limit": _limit(fs.read_or(j("pids.max")))},
        "blkio": {"ioServiceBytesRecursive": [e for e in io if e["op"] in ("rbytes", "wbytes")],
                  "ioServicedRecursive": [e for e in io if e["op"] in ("rios", "wios")]},
    }


def v1(dirs: dict[str, str]) -> dict:
    def j(ctrl: str, name: str) -> str:
        return paths.join(dirs.get(ctrl, "/nonexistent"), name)
    cpu = fs.read_kv(j("cpu", "cpu.stat"))
    oom = fs.read_kv(j("memory", "memory.oom_control"))
    blk = []
    for line in fs.read_or(j("blkio", "blkio.throttle.io_service_bytes_recursive")).splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, _, minor = parts[0].partition(":")
            blk.append({"major": int(major), "minor": int(minor), "op": parts[1],
                        "value": int(parts[2])})
    return {
        "cpu": {"usage": {"total": fs.read_int(j("cpuacct", "cpuacct.usage")),
                          "user": fs.read_int(j("cpuacct", "cpuacct.usage_user")),
                          "kernel": fs.read_int(j("cpuacct", "cpuacct.usage_sys"))},
                "throttling": {"periods": cpu.get("nr_periods", 0),
                               "throttledPeriods": cpu.get("nr_throttled", 0),
                               "throttledTime": cpu.get("throttled_time", 0)}},
        "memory": {"usage": {"usage": fs.read_int(j("memory", "memory.usage_in_bytes")),
                             "limit": _limit(fs.read_or(j("memory", "memory.limit_in_bytes"))),
                             "max": fs.read_int(j("memory", "memory.max_usage_in_bytes")),
                             "failcnt": fs.read_int(j("memory", "memory.failcnt"))},
                   "swap": {"usage": fs.read_int(j("memory", "memory.memsw.usage_in_bytes")),
                            "limit": _limit(fs.read_or(j("memory",
                                                         "memory.memsw.limit_in_bytes")))},
                   "under_oom": oom.get("under_oom", 0),
                   "oom_kill": oom.get("oom_kill", 0),
                   "raw": fs.read_kv(j("memory", "memory.stat"))},
        "pids": {"current": fs.read_int(j("pids", "pids.current")),
                 "limit": _limit(fs.read_or(j("pids", "pids.max")))},
        "blkio": {"ioServiceBytesRecursive": blk},
    }
