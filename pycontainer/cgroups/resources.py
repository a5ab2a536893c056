"""OCI ``linux.resources`` -> the cgroup files to write, for v2 and for v1.

Pure functions: ``validate`` checks every value before anything is created,
``plan_v2``/``plan_v1`` turn resources into an ordered list of
``Write(controller, file, value, field)``, and ``apply`` writes a plan into a
directory (a real cgroup or a fake tree under tmp_path). The meanings are the
runtime-spec's (config-linux.md "Control groups") and the conversions runc and
crun make for v2 (Documentation/admin-guide/cgroup-v2.rst):

=====================  ===============================  ==============================
OCI field              cgroup v2                        cgroup v1
=====================  ===============================  ==============================
cpu.shares             cpu.weight (log-quadratic map)   cpu.shares
cpu.quota/period       cpu.max "quota period"           cpu.cfs_period_us, cfs_quota_us
cpu.burst / idle       cpu.max.burst / cpu.idle         cpu.cfs_burst_us / cpu.idle
cpu.cpus/mems          cpuset.cpus / cpuset.mems        cpuset.cpus / cpuset.mems
memory.limit           memory.max                       memory.limit_in_bytes
memory.swap            memory.swap.max = swap - limit   memory.memsw.limit_in_bytes
memory.reservation     memory.low                       memory.soft_limit_in_bytes
pids.limit             pids.max                         pids.max
blockIO.weight         io.weight (10..1000 -> 1..10000) blkio.weight
blockIO.throttle*      io.max "maj:min rbps=N ..."      blkio.throttle.*_device
hugepageLimits         hugetlb.<size>.max               hugetlb.<size>.limit_in_bytes
unified                written as given                 (refused: needs v2)
devices                (needs eBPF; not done here)      devices.deny/devices.allow
=====================  ===============================  ==============================
"""

from __future__ import annotations

import math

from .. import paths
from ..errors import CgroupError
from . import fs

# Docker refuses --memory below 6 MiB ("Minimum memory limit allowed is 6MB");
# below it a container's first process cannot reliably start.
MIN_MEMORY = 6 * 1024 * 1024
MAX_SHARES = 262144           # kernel MAX_SHARES (1 << 18)
# checked with re only when the spec has such a field (importing re costs ~3 ms)
_CPULIST = r"^\d+(-\d+)?(,\d+(-\d+)?)*$"
_PAGESIZE = r"^\d+(KB|MB|GB|TB)$"
_UNIFIED_KEY = r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$"


def _match(pattern: str, text: str):
    import re
    return re.match(pattern, text)
_UNIFIED_FORBIDDEN = {"cgroup.procs", "cgroup.threads", "cgroup.subtree_control",
                      "cgroup.type", "cgroup.kill", "cgroup.freeze"}


# controller: which controller the file belongs to ("" = core); file: its name
# in the cgroup directory; value: what is written, in one write(2); field: the
# config.json field that asked for it.
class Write(tuple):
    """(controller, file, value, field): one write of a plan. What namedtuple would
    make, written out: ``collections`` costs ~1.5 ms of every create."""

    __slots__ = ()

    def __new__(cls, controller: str, file: str, value: str, field: str):
        return tuple.__new__(cls, (controller, file, value, field))

    controller = property(lambda self: self[0])
    file = property(lambda self: self[1])
    value = property(lambda self: self[2])
    field = property(lambda self: self[3])

    def __repr__(self) -> str:
        return (f"Write(controller={self[0]!r}, file={self[1]!r}, value={self[2]!r}, "
                f"field={self[3]!r})")


def _bad(field: str, value, why: str) -> CgroupError:
    return CgroupError(f"linux.resources.{field}: {value!r} {why}", stage="cgroup")


def _int(section: dict, key: str, path: str, lo: int | None = None, hi: int | None = None,
         allow: tuple = ()) -> int | None:
    v = section.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(f"{path}.{key}", v, "is not an integer")
    if v in allow:
        return v
    if lo is not None and v < lo:
        raise _bad(f"{path}.{key}", v, f"is below the minimum {lo}")
    if hi is not None and v > hi:
        raise _bad(f"{path}.{key}", v, f"is above the maximum {hi}")
    return v


def _section(res: dict, key: str) -> dict:
    v = res.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _bad(key, v, "is not an object")
    return v


def _list(sec: dict, key: str, path: str) -> list:
    v = sec.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise _bad(f"{path}.{key}", v, "is not a list")
    return v


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2..262144] -> cpu.weight [1..10000], 1024 -> 100.

    The quadratic-in-log2 map runc (opencontainers/cgroups, runc PR #4785) and
    crun (issue #1721) adopted in 2025. The older linear formula
    ``1 + ((shares - 2) * 9999) // 262142`` gave 1024 -> 39, so a container
    with default shares got less than half the weight of a default v2 cgroup.
    """
    if shares <= 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= MAX_SHARES:
        return 10000
    lg = math.log2(shares)
    return int(math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0)))


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight [10..1000] -> io.weight [1..10000] (runc's linear map)."""
    return 1 + (weight - 10) * 9999 // 990


def swap_v2(swap: int, limit: int | None) -> int:
    """OCI memory.swap is memory+swap; v2 memory.swap.max is swap alone.

    Like runc: unlimited memory with swap unset means unlimited swap too.
    """
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if limit in (None, 0, -1):
        raise _bad("memory.swap", swap, "needs memory.limit as well (swap is memory+swap)")
    if swap < limit:
        raise _bad("memory.swap", swap, f"is below memory.limit {limit} (it counts memory+swap)")
    return swap - limit


def _devnum(entry, path: str) -> str:
    if not isinstance(entry, dict):
        raise _bad(path, entry, "is not an object")
    for k in ("major", "minor"):
        v = entry.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _bad(f"{path}.{k}", v, "is not a device number >= 0")
    return f"{entry['major']}:{entry['minor']}"


def validate(res: dict | None) -> dict:
    """Check every field; return the resources (``{}`` for None). Raises CgroupError."""
    if res is None:
        return {}
    if not isinstance(res, dict):
        raise CgroupError(f"linux.resources: {res!r} is not an object", stage="cgroup")
    mem = _section(res, "memory")
    limit = _int(mem, "limit", "memory", lo=-1)
    if limit is not None and 0 < limit < MIN_MEMORY:
        raise _bad("memory.limit", limit,
                   f"is below {MIN_MEMORY} (6MiB), the least a container can start with")
    swap = _int(mem, "swap", "memory", lo=0, allow=(-1,))
    if swap is not None:
        swap_v2(swap, limit)
    _int(mem, "reservation", "memory", lo=0, allow=(-1,))
    _int(mem, "swappiness", "memory", lo=0, hi=100)
    for k in ("disableOOMKiller", "useHierarchy", "checkBeforeUpdate"):
        if k in mem and not isinstance(mem[k], bool):
            raise _bad(f"memory.{k}", mem[k], "is not true/false")
    cpu = _section(res, "cpu")
    _int(cpu, "shares", "cpu", lo=2, hi=MAX_SHARES, allow=(0,))
    _int(cpu, "quota", "cpu", lo=1000, allow=(0, -1))
    _int(cpu, "period", "cpu", lo=1000, hi=1000000, allow=(0,))
    _int(cpu, "burst", "cpu", lo=0)
    _int(cpu, "realtimeRuntime", "cpu", lo=-1)
    _int(cpu, "realtimePeriod", "cpu", lo=0)
    _int(cpu, "idle", "cpu", lo=0, hi=1)
    for k in ("cpus", "mems"):
        v = cpu.get(k)
        if v not in (None, "") and (not isinstance(v, str) or not _match(_CPULIST, v)):
            raise _bad(f"cpu.{k}", v, "is not a list like '0-3,5'")
    _int(_section(res, "pids"), "limit", "pids", lo=-1)
    bio = _section(res, "blockIO")
    _int(bio, "weight", "blockIO", lo=10, hi=1000, allow=(0,))
    _int(bio, "leafWeight", "blockIO", lo=10, hi=1000, allow=(0,))
    for i, e in enumerate(_list(bio, "weightDevice", "blockIO")):
        _devnum(e, f"blockIO.weightDevice[{i}]")
        _int(e, "weight", f"blockIO.weightDevice[{i}]", lo=10, hi=1000, allow=(0,))
    for key in ("throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice"):
        for i, e in enumerate(_list(bio, key, "blockIO")):
            _devnum(e, f"blockIO.{key}[{i}]")
            if _int(e, "rate", f"blockIO.{key}[{i}]", lo=0) is None:
                raise _bad(f"blockIO.{key}[{i}].rate", None, "is missing")
    for i, e in enumerate(_list(res, "hugepageLimits", "")):
        if not isinstance(e, dict) or not _match(_PAGESIZE, str(e.get("pageSize", ""))):
            raise _bad(f"hugepageLimits[{i}]", e, "needs a pageSize like '2MB'")
        if _int(e, "limit", f"hugepageLimits[{i}]", lo=0) is None:
            raise _bad(f"hugepageLimits[{i}].limit", None, "is missing")
    from .devices import rule as device_rule          # the device cgroup's own module
    for i, d in enumerate(_list(res, "devices", "")):
        device_rule(d, i)
    uni = res.get("unified") or {}
    if not isinstance(uni, dict):
        raise _bad("unified", uni, "is not an object")
    for k, v in uni.items():
        if not isinstance(k, str) or not _match(_UNIFIED_KEY, k) or k in _UNIFIED_FORBIDDEN:
            raise _bad("unified", k, "is not a controller file name like 'memory.high'")
        if not isinstance(v, str) or "\n" in v.strip():
            raise _bad(f"unified.{k}", v, "is not a one-line string")
    net = _section(res, "network")
    _int(net, "classID", "network", lo=0, hi=2**32 - 1)
    for i, p in enumerate(_list(net, "priorities", "network")):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not p["name"] \
                or " " in p["name"]:
            raise _bad(f"network.priorities[{i}]", p, "needs an interface \"name\"")
        if _int(p, "priority", f"network.priorities[{i}]", lo=0) is None:
            raise _bad(f"network.priorities[{i}].priority", None, "is missing")
    if res.get("rdma"):
        raise _bad("rdma", res["rdma"], "is not supported by pycontainer")
    return res


def controllers_needed(plan: list[Write]) -> set[str]:
    return {w.controller for w in plan if w.controller}


# --- cgroup v2 -------------------------------------------------------------------

def plan_v2(res: dict | None) -> list[Write]:
    """The writes for a v2 cgroup, in a safe order. Validates first."""
    res = validate(res)
    out: list[Write] = []
    cpu = _section(res, "cpu")
    if cpu.get("shares"):
        out.append(Write("cpu", "cpu.weight", str(shares_to_weight(cpu["shares"])),
                         "linux.resources.cpu.shares"))
    quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
    if quota or period:
        v = str(quota) if quota > 0 else "max"
        if period:
            v += f" {period}"
        out.append(Write("cpu", "cpu.max", v, "linux.resources.cpu.quota"))
    if cpu.get("burst") is not None:
        out.append(Write("cpu", "cpu.max.burst", str(cpu["burst"]), "linux.resources.cpu.burst"))
    if cpu.get("idle") is not None:
        out.append(Write("cpu", "cpu.idle", str(cpu["idle"]), "linux.resources.cpu.idle"))
    if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
        raise _bad("cpu.realtimeRuntime", cpu.get("realtimeRuntime"),
                   "is a cgroup v1 feature; cgroup v2 has no realtime budget")
    for k in ("cpus", "mems"):
        if cpu.get(k):
            out.append(Write("cpuset", f"cpuset.{k}", cpu[k], f"linux.resources.cpu.{k}"))
    mem = _section(res, "memory")
    limit = mem.get("limit")
    if mem.get("swap") is not None or limit == -1:
        swap = swap_v2(mem.get("swap") or 0, limit)
        if swap:
            out.append(Write("memory", "memory.swap.max", "max" if swap == -1 else str(swap),
                             "linux.resources.memory.swap"))
    if limit:
        out.append(Write("memory", "memory.max", "max" if limit == -1 else str(limit),
                         "linux.resources.memory.limit"))
    if mem.get("reservation"):
        r = mem["reservation"]
        out.append(Write("memory", "memory.low", "max" if r == -1 else str(r),
                         "linux.resources.memory.reservation"))
    if mem.get("disableOOMKiller"):
        raise _bad("memory.disableOOMKiller", True, "cannot be done on cgroup v2")
    pids = _section(res, "pids")
    if pids.get("limit") is not None:
        lim = pids["limit"]
        out.append(Write("pids", "pids.max", str(lim) if lim > 0 else "max",
                         "linux.resources.pids.limit"))
    bio = _section(res, "blockIO")
    if bio.get("weight"):
        out.append(Write("io", "io.weight", f"default {blkio_to_io_weight(bio['weight'])}",
                         "linux.resources.blockIO.weight"))
    for e in _list(bio, "weightDevice", "blockIO"):
        if e.get("weight"):
            out.append(Write("io", "io.weight",
                             f"{_devnum(e, 'w')} {blkio_to_io_weight(e['weight'])}",
                             "linux.resources.blockIO.weightDevice"))
    keys = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
            ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))
    per_dev: dict[str, list[str]] = {}
    for key, name in keys:
        for e in _list(bio, key, "blockIO"):
            rate = e["rate"]
            per_dev.setdefault(_devnum(e, key), []).append(f"{name}={rate if rate else 'max'}")
    for dev, parts in per_dev.items():
        out.append(Write("io", "io.max", f"{dev} {' '.join(parts)}",
                         "linux.resources.blockIO.throttle"))
    for e in _list(res, "hugepageLimits", ""):
        out.append(Write("hugetlb", f"hugetlb.{e['pageSize']}.max",
                         str(e["limit"]), "linux.resources.hugepageLimits"))
    for k, v in (res.get("unified") or {}).items():
        out.append(Write(k.split(".", 1)[0].replace("cgroup", ""), k, v.strip(),
                         f"linux.resources.unified.{k}"))
    return out


# --- cgroup v1 -------------------------------------------------------------------

def plan_v1(res: dict | None, devices: bool = True) -> list[Write]:
    """The writes for v1 hierarchies; ``controller`` says which hierarchy."""
    res = validate(res)
    if res.get("unified"):
        raise _bad("unified", res["unified"], "needs a cgroup v2 host (this one is v1/hybrid)")
    out: list[Write] = []
    cpu = _section(res, "cpu")
    if cpu.get("shares"):
        out.append(Write("cpu", "cpu.shares", str(cpu["shares"]), "linux.resources.cpu.shares"))
    if cpu.get("period"):
        out.append(Write("cpu", "cpu.cfs_period_us", str(cpu["period"]),
                         "linux.resources.cpu.period"))
    if cpu.get("quota"):
        q = cpu["quota"]
        out.append(Write("cpu", "cpu.cfs_quota_us", str(q if q > 0 else -1),
                         "linux.resources.cpu.quota"))
    if cpu.get("burst") is not None:
        out.append(Write("cpu", "cpu.cfs_burst_us", str(cpu["burst"]), "linux.resources.cpu.burst"))
    if cpu.get("realtimePeriod"):
        out.append(Write("cpu", "cpu.rt_period_us", str(cpu["realtimePeriod"]),
                         "linux.resources.cpu.realtimePeriod"))
    if cpu.get("realtimeRuntime"):
        out.append(Write("cpu", "cpu.rt_runtime_us", str(cpu["realtimeRuntime"]),
                         "linux.resources.cpu.realtimeRuntime"))
    if cpu.get("idle") is not None:
        out.append(Write("cpu", "cpu.idle", str(cpu["idle"]), "linux.resources.cpu.idle"))
    for k in ("cpus", "mems"):
        if cpu.get(k):
            out.append(Write("cpuset", f"cpuset.{k}", cpu[k], f"linux.resources.cpu.{k}"))
    mem = _section(res, "memory")
    if mem.get("limit"):
        out.append(Write("memory", "memory.limit_in_bytes", str(mem["limit"]),
                         "linux.resources.memory.limit"))
    if mem.get("swap"):
        out.append(Write("memory", "memory.memsw.limit_in_bytes", str(mem["swap"]),
                         "linux.resources.memory.swap"))
    if mem.get("reservation"):
        out.append(Write("memory", "memory.soft_limit_in_bytes", str(mem["reservation"]),
                         "linux.resources.memory.reservation"))
    if mem.get("swappiness") is not None:
        out.append(Write("memory", "memory.swappiness", str(mem["swappiness"]),
                         "linux.resources.memory.swappiness"))
    if mem.get("disableOOMKiller"):
        out.append(Write("memory", "memory.oom_control", "1",
                         "linux.resources.memory.disableOOMKiller"))
    pids = _section(res, "pids")
    if pids.get("limit") is not None:
        lim = pids["limit"]
        out.append(Write("pids", "pids.max", str(lim) if lim > 0 else "max",
                         "linux.resources.pids.limit"))
    bio = _section(res, "blockIO")
    if bio.get("weight"):
        out.append(Write("blkio", "blkio.weight", str(bio["weight"]),
                         "linux.resources.blockIO.weight"))
    if bio.get("leafWeight"):
        out.append(Write("blkio", "blkio.leaf_weight", str(bio["leafWeight"]),
                         "linux.resources.blockIO.leafWeight"))
    for e in _list(bio, "weightDevice", "blockIO"):
        if e.get("weight"):
            out.append(Write("blkio", "blkio.weight_device", f"{_devnum(e, 'w')} {e['weight']}",
                             "linux.resources.blockIO.weightDevice"))
    files = (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
             ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
             ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
             ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"))
    for key, name in files:
        for e in _list(bio, key, "blockIO"):
            out.append(Write("blkio", name, f"{_devnum(e, key)} {e['rate']}",
                             f"linux.resources.blockIO.{key}"))
    for e in _list(res, "hugepageLimits", ""):
        out.append(Write("hugetlb", f"hugetlb.{e['pageSize']}.limit_in_bytes", str(e["limit"]),
                         "linux.resources.hugepageLimits"))
    net = _section(res, "network")
    if net.get("classID") is not None:
        out.append(Write("net_cls", "net_cls.classid", str(net["classID"]),
                         "linux.resources.network.classID"))
    for p in _list(net, "priorities", "network"):
        out.append(Write("net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}",
                         "linux.resources.network.priorities"))
    if devices:
        from .devices import v1_rules
        for kind, rule in v1_rules(_list(res, "devices", "")):
            out.append(Write("devices", f"devices.{kind}", rule, "linux.resources.devices"))
    return out


# --- writing a plan ---------------------------------------------------------------

# Weight files exist only when the block I/O scheduler offers them (BFQ, or CFQ on old
# kernels): the BFQ file first, as runc does; with neither, runc ignores the weight, so
# do we, with a warning.
_WEIGHT_FILES = {"blkio.weight": ("blkio.bfq.weight", "blkio.weight"),
                 "blkio.weight_device": ("blkio.bfq.weight_device", "blkio.weight_device"),
                 "blkio.leaf_weight": ("blkio.leaf_weight",),
                 "io.weight": ("io.weight",)}


def _target(directory: str, w: Write) -> str | None:
    """The file ``w`` goes to in ``directory``; None for a weight this kernel does not offer."""
    alts = _WEIGHT_FILES.get(w.file)
    if alts is None:
        return paths.join(directory, w.file)
    for name in alts:
        if paths.exists(paths.join(directory, name)):
            return paths.join(directory, name)
    from .. import log
    log.warning(f"{w.field}: ignored: no {' or '.join(alts)} in {directory} (the block I/O "
                "scheduler offers no weights; BFQ does)")
    return None


def apply(directory: str, plan: list[Write]) -> None:
    """Write each entry of ``plan`` into ``directory`` (one cgroup, v2 style)."""
    for w in plan:
        target = _target(directory, w)
        if target is not None:
            fs.write(target, w.value, w.field)


def apply_v2(directory: str, res: dict | None) -> list[Write]:
    """Validate and write ``res`` into a v2 cgroup directory; return the plan."""
    plan = plan_v2(res)
    apply(directory, plan)
    return plan


def apply_v1(dirs: dict[str, str], res: dict | None, devices: bool = True) -> list[Write]:
    """Validate and write ``res`` into v1 cgroups (``dirs``: controller -> cgroup dir).

    memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes, so
    when both change the order depends on the current memsw value (runc does
    the same dance).
    """
    plan = plan_v1(res, devices)
    missing = sorted({w.controller for w in plan} - set(dirs))
    if missing:
        raise CgroupError(f"linux.resources needs the {', '.join(missing)} cgroup controller(s), "
                          "which this host does not mount", stage="cgroup")
    plan = _order_memsw(dirs, plan)
    for w in plan:
        target = _target(dirs[w.controller], w)
        if target is not None:
            fs.write(target, w.value, w.field)
    return plan


def _order_memsw(dirs: dict[str, str], plan: list[Write]) -> list[Write]:
    files = [w.file for w in plan]
    if "memory.limit_in_bytes" not in files or "memory.memsw.limit_in_bytes" not in files:
        return plan
    i, j = files.index("memory.limit_in_bytes"), files.index("memory.memsw.limit_in_bytes")
    cur = fs.read_int(paths.join(dirs["memory"], "memory.memsw.limit_in_bytes"), -1)
    new_limit = int(plan[i].value)
    if cur != -1 and new_limit > cur:        # raising: memsw first
        plan = list(plan)
        plan[i], plan[j] = plan[j], plan[i]
    return plan
