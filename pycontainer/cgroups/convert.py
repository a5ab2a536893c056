"""Command-line limits -> OCI ``linux.resources`` dicts.

Two vocabularies arrive here: Docker's ``run`` flags (``--memory 64m``,
``--cpus 0.5``, ``--device-read-bps /dev/vda:1mb`` ...; see
docs.docker.com "Runtime options with Memory, CPUs, and GPUs" and
docker/go-units for the size syntax) and runc's ``update`` flags
(``--memory``, ``--cpu-share``, ``--cpu-quota``, ``--pids-limit``,
``--resources FILE|-`` with a LinuxResources JSON, which is what podman sends).
A block device given by path is turned into major:minor with stat(2). Every
bad value is a one-line CgroupError naming the flag and the value; the result
is checked again by ``resources.validate`` before anything is created.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys

from ..errors import CgroupError, ValueKindError
from .resources import MIN_MEMORY, validate

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(i?b)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
DEFAULT_PERIOD = 100000     # µs, the kernel's default CFS period


def _err(flag: str, value, why: str, kind=CgroupError) -> CgroupError:
    return kind(f"--{flag} {value!r}: {why}", stage="convert")


def parse_size(value, flag: str = "memory") -> int:
    """Docker RAMInBytes: '64m', '1g', '512k', '1.5GiB', '1048576' -> bytes (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(str(value).strip())
    if not m:
        raise _err(flag, value, "is not a size like 64m, 1g or 1048576", ValueKindError)
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def _size_or_unlimited(value, flag: str) -> int:
    if str(value).strip() == "-1":
        return -1
    return parse_size(value, flag)


def _int(value, flag: str, lo: int | None = None, hi: int | None = None) -> int:
    try:
        v = int(str(value).strip())
    except ValueError:
        raise _err(flag, value, "is not an integer", ValueKindError) from None
    if lo is not None and v < lo:
        raise _err(flag, value, f"is below the minimum {lo}")
    if hi is not None and v > hi:
        raise _err(flag, value, f"is above the maximum {hi}")
    return v


def device_numbers(path: str, flag: str = "device") -> tuple[int, int]:
    """stat(2) a block device node and return (major, minor)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _err(flag, path, f"cannot stat the device ({e.strerror})") from None
    if not stat.S_ISBLK(st.st_mode):
        raise _err(flag, path, "is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def parse_device_rate(value: str, flag: str, iops: bool) -> dict:
    """'/dev/vda:1mb' -> {"major": 254, "minor": 0, "rate": 1048576}."""
    path, sep, rate = str(value).rpartition(":")
    if not sep or not path.startswith("/"):
        raise _err(flag, value, "is not DEVICE-PATH:RATE like /dev/vda:1mb")
    if iops:
        r = _int(rate, flag, lo=0)
    else:
        r = parse_size(rate, flag)
    major, minor = device_numbers(path, flag)
    return {"major": major, "minor": minor, "rate": r}


def parse_device_weight(value: str, flag: str = "blkio-weight-device") -> dict:
    path, sep, w = str(value).rpartition(":")
    if not sep or not path.startswith("/"):
        raise _err(flag, value, "is not DEVICE-PATH:WEIGHT like /dev/vda:200")
    weight = _int(w, flag, lo=10, hi=1000)
    major, minor = device_numbers(path, flag)
    return {"major": major, "minor": minor, "weight": weight}


def _listify(v) -> list:
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def cpulist(text: str) -> set[int]:
    """The numbers of a kernel list like ``0-3,5`` (cpuset(7), "List format")."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _online(path: str) -> str | None:
    """The kernel's list of online CPUs (or memory nodes); None where it cannot be read."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def docker_resources(*, memory=None, memory_swap=None, memory_reservation=None,
                     memory_swappiness=None, oom_kill_disable=False, cpus=None,
                     cpu_shares=None, cpu_period=None, cpu_quota=None, cpuset_cpus=None,
                     cpuset_mems=None, pids_limit=None, blkio_weight=None,
                     blkio_weight_device=None, device_read_bps=None, device_write_bps=None,
                     device_read_iops=None, device_write_iops=None,
                     swap_default: bool = False, host_cpus: int | None = None) -> dict:
    """Build LinuxResources from ``docker run`` flags (None = flag not given).

    ``swap_default``: Docker lets a container with ``--memory`` and no
    ``--memory-swap`` use as much swap again (memory+swap = 2 x memory) when
    the host accounts swap; pass True on such hosts.
    """
    res: dict = {}
    mem: dict = {}
    if memory is not None:
        m = parse_size(memory, "memory")
        if 0 < m < MIN_MEMORY:
            raise _err("memory", memory, "is below the minimum 6MiB a container can start with")
        if m > 0:
            mem["limit"] = m
    if memory_swap is not None:
        s = _size_or_unlimited(memory_swap, "memory-swap")
        if s > 0 and "limit" not in mem:
            raise _err("memory-swap", memory_swap, "needs --memory as well")
        if s > 0 and s < mem["limit"]:
            raise _err("memory-swap", memory_swap,
                       "must be at least --memory (it is memory plus swap)")
        if s:
            mem["swap"] = s
    elif swap_default and "limit" in mem:
        mem["swap"] = 2 * mem["limit"]
    if memory_reservation is not None:
        r = parse_size(memory_reservation, "memory-reservation")
        if "limit" in mem and r > mem["limit"]:
            raise _err("memory-reservation", memory_reservation, "must be below --memory")
        if r:
            mem["reservation"] = r
    if memory_swappiness is not None and int(memory_swappiness) != -1:
        mem["swappiness"] = _int(memory_swappiness, "memory-swappiness", lo=0, hi=100)
    if oom_kill_disable:
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem

    cpu: dict = {}
    if cpus is not None:
        if cpu_period is not None or cpu_quota is not None:
            raise _err("cpus", cpus, "conflicts with --cpu-period/--cpu-quota; give one or the other")
        try:
            n = float(cpus)
        except ValueError:
            raise _err("cpus", cpus, "is not a number of CPUs like 0.5", ValueKindError) from None
        ncpu = host_cpus if host_cpus is not None else (os.cpu_count() or 1)
        if n != 0 and not 0.01 <= n <= ncpu:
            raise _err("cpus", cpus, f"must be 0 (no limit) or between 0.01 and {ncpu} (the host's CPUs)")
        cpu["period"] = DEFAULT_PERIOD
        cpu["quota"] = int(round(n * DEFAULT_PERIOD)) if n else -1      # docker: 0 is no limit
    if cpu_period is not None:
        cpu["period"] = _int(cpu_period, "cpu-period", lo=1000, hi=1000000)
    if cpu_quota is not None:
        q = _int(cpu_quota, "cpu-quota", lo=-1)
        if 0 < q < 1000:
            raise _err("cpu-quota", cpu_quota, "is below the kernel's minimum 1000 (1ms)")
        cpu["quota"] = q
    if cpu_shares is not None:
        sh = _int(cpu_shares, "cpu-shares", lo=0, hi=262144)
        if sh == 1:
            raise _err("cpu-shares", cpu_shares, "is below the minimum 2")
        if sh:
            cpu["shares"] = sh
    for flag, key, val, what, online in (
            ("cpuset-cpus", "cpus", cpuset_cpus, "CPUs", "/sys/devices/system/cpu/online"),
            ("cpuset-mems", "mems", cpuset_mems, "memory nodes", "/sys/devices/system/node/online")):
        if val:
            if not re.match(r"^\d+(-\d+)?(,\d+(-\d+)?)*$", str(val)):
                raise _err(flag, val, "is not a list like 0-3,5")
            have = _online(online)      # docker checks too: the kernel's ERANGE names no flag
            if have is not None and not cpulist(str(val)) <= cpulist(have):
                raise _err(flag, val, f"requested {what} are not available (this host has {have})")
            cpu[key] = str(val)
    if cpu:
        res["cpu"] = cpu

    if pids_limit is not None:
        p = _int(pids_limit, "pids-limit", lo=-1)
        res["pids"] = {"limit": p if p > 0 else -1}

    bio: dict = {}
    if blkio_weight is not None:
        w = _int(blkio_weight, "blkio-weight", lo=0, hi=1000)
        if 0 < w < 10:
            raise _err("blkio-weight", blkio_weight, "must be 0 (unset) or between 10 and 1000")
        if w:
            bio["weight"] = w
    wd = [parse_device_weight(v) for v in _listify(blkio_weight_device)]
    if wd:
        bio["weightDevice"] = wd
    for flag, key, vals, iops in (
            ("device-read-bps", "throttleReadBpsDevice", device_read_bps, False),
            ("device-write-bps", "throttleWriteBpsDevice", device_write_bps, False),
            ("device-read-iops", "throttleReadIOPSDevice", device_read_iops, True),
            ("device-write-iops", "throttleWriteIOPSDevice", device_write_iops, True)):
        entries = [parse_device_rate(v, flag, iops) for v in _listify(vals)]
        if entries:
            bio[key] = entries
    if bio:
        res["blockIO"] = bio
    return validate(res)


# runc update flag -> (section, key, parser)
_RUNC = {
    "memory": ("memory", "limit", "size"),
    "memory-swap": ("memory", "swap", "size"),
    "memory-reservation": ("memory", "reservation", "size"),
    "kernel-memory": (None, None, "size"),          # deprecated, ignored (as runc does)
    "kernel-memory-tcp": (None, None, "size"),
    "cpu-share": ("cpu", "shares", "int"),
    "cpu-period": ("cpu", "period", "int"),
    "cpu-quota": ("cpu", "quota", "int"),
    "cpu-rt-period": ("cpu", "realtimePeriod", "int"),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime", "int"),
    "cpuset-cpus": ("cpu", "cpus", "str"),
    "cpuset-mems": ("cpu", "mems", "str"),
    "pids-limit": ("pids", "limit", "int"),
    "blkio-weight": ("blockIO", "weight", "int"),
}


def runc_update(flags: dict | None = None, resources_file: str | None = None) -> dict:
    """``runc update`` flags (names as on the command line, without ``--``) and
    an optional ``--resources`` FILE (``-`` = stdin) -> LinuxResources.

    The JSON is read first and flags given alongside override its fields.
    """
    res: dict = {}
    if resources_file:
        try:
            if resources_file == "-":
                text = sys.stdin.read()
            else:
                with open(resources_file) as f:
                    text = f.read()
            res = json.loads(text) if text.strip() else {}
        except OSError as e:
            raise _err("resources", resources_file, f"cannot read it ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise _err("resources", resources_file, f"is not JSON ({e.msg} at line {e.lineno})") \
                from None
        if not isinstance(res, dict):
            raise _err("resources", resources_file, "is not a LinuxResources JSON object")
    for name, value in (flags or {}).items():
        name = name.replace("_", "-").lstrip("-")
        if value is None or value == "":
            continue
        if name not in _RUNC:
            raise _err(name, value, "is not a runc update flag")
        section, key, kind = _RUNC[name]
        if kind == "size":
            v = _size_or_unlimited(value, name)
        elif kind == "int":
            v = _int(value, name)
        else:
            v = str(value)
        if section is None:
            continue
        res.setdefault(section, {})[key] = v
    return validate(res)
