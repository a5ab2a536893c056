"""Per-process kernel attributes the init (and exec) sets before execve.

Four fields of the OCI config, each one system call on the calling process,
inherited across fork(2) and kept across execve(2):

* ``process.scheduler``: the CPU scheduling policy and its parameters,
  sched_setattr(2) (read sched(7) for what SCHED_FIFO/RR/DEADLINE mean);
* ``process.ioPriority``: the I/O class and level, ioprio_set(2) with
  IOPRIO_WHO_PROCESS (ionice(1) shows it);
* ``linux.memoryPolicy``: the NUMA policy for the process's memory,
  set_mempolicy(2) (see numa(7));
* ``linux.personality``: the execution domain, personality(2) (``LINUX32``
  makes ``uname -m`` say i686).

``validate_*`` run when the config is checked (a bad value never creates
anything; messages follow runc's validator); ``apply_*`` run in the
container's process just before the user change. ``linux.timeOffsets``
(time_namespaces(7)) is written by stage 1 right after it made the time
namespace and before any process is in it (``write_time_offsets``).
"""

from __future__ import annotations

import posix

from .errors import ContainerSetupError, SpecError

SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_WHO_PROCESS = 1
MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_STATIC_NODES": 1 << 15}
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}
TIME_CLOCKS = ("monotonic", "boottime")


def _want(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(f"config.json: {msg}")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- validation ---------------------------------------------------------------------------

def validate_process(proc: dict) -> None:
    s = proc.get("scheduler")
    if s is not None:
        _want(isinstance(s, dict), "process.scheduler must be an object")
        pol = s.get("policy")
        _want(bool(pol), "process.scheduler: scheduler policy is required")
        _want(pol in SCHED_POLICIES, f"process.scheduler: invalid scheduler policy: {pol}")
        for k in ("nice", "priority", "runtime", "deadline", "period"):
            _want(_int(s.get(k, 0)) and (k == "nice" or s.get(k, 0) >= 0),
                  f"process.scheduler.{k} must be an unsigned integer" if k != "nice"
                  else "process.scheduler.nice must be an integer")
        if pol in ("SCHED_OTHER", "SCHED_BATCH"):
            _want(-20 <= s.get("nice", 0) <= 19,
                  f"invalid scheduler.nice: {s.get('nice')} when scheduler.policy is {pol}")
        _want(not s.get("priority") or pol in ("SCHED_FIFO", "SCHED_RR"),
              "scheduler.priority can only be specified for SchedFIFO or SchedRR policy")
        _want(pol == "SCHED_DEADLINE" or not any(s.get(k) for k in ("runtime", "deadline", "period")),
              "scheduler runtime/deadline/period can only be specified for SchedDeadline policy")
        for f in s.get("flags") or []:
            _want(f in SCHED_FLAGS, f"process.scheduler: invalid scheduler flag: {f}")
    io = proc.get("ioPriority")
    if io is not None:
        _want(isinstance(io, dict), "process.ioPriority must be an object")
        _want(_int(io.get("priority", 0)) and 0 <= io.get("priority", 0) <= 7,
              f"invalid ioPriority.Priority: {io.get('priority')}")
        _want(io.get("class") in IOPRIO_CLASSES, f"invalid ioPriority.Class: {io.get('class')!r}")


def validate_linux(linux: dict, namespaces: list) -> None:
    mp = linux.get("memoryPolicy")
    if mp is not None:
        _want(isinstance(mp, dict), "linux.memoryPolicy must be an object")
        mode = mp.get("mode")
        _want(mode in MPOL_MODES, f"linux.memoryPolicy: invalid memory policy mode: {mode}")
        for f in mp.get("flags") or []:
            _want(f in MPOL_FLAGS, f"linux.memoryPolicy: invalid memory policy flag: {f}")
        nodes = parse_nodes(mp.get("nodes", ""))
        if mode in ("MPOL_DEFAULT", "MPOL_LOCAL"):
            _want(not nodes, f"memory policy mode requires 0 nodes but got {len(nodes)}")
        elif mode != "MPOL_PREFERRED":
            _want(bool(nodes), "memory policy mode requires at least one node but got 0")
    per = linux.get("personality")
    if per is not None:
        _want(isinstance(per, dict) and per.get("domain") in PERSONALITIES,
              f"linux.personality.domain must be one of {', '.join(PERSONALITIES)}")
        _want(not per.get("flags"), "linux.personality.flags: personality flags are not supported")
    offs = linux.get("timeOffsets")
    if offs is not None:
        _want(isinstance(offs, dict), "linux.timeOffsets must be an object")
        _want(any(n.get("type") == "time" and not n.get("path") for n in namespaces),
              "linux.timeOffsets: time namespace offsets need a new time namespace "
              "(linux.namespaces: time)")
        for clock, v in offs.items():
            _want(clock in TIME_CLOCKS, f"linux.timeOffsets.{clock}: not a clock "
                                        f"({', '.join(TIME_CLOCKS)})")
            _want(isinstance(v, dict) and _int(v.get("secs", 0)) and _int(v.get("nanosecs", 0))
                  and 0 <= v.get("nanosecs", 0) < 10**9,
                  f"linux.timeOffsets.{clock} needs integer secs and nanosecs (0..999999999)")


def parse_nodes(text) -> list[int]:
    """``"0-2,5"`` -> [0, 1, 2, 5] (a cpuset-style list)."""
    _want(isinstance(text, str), "linux.memoryPolicy.nodes must be a string")
    out: list[int] = []
    for part in filter(None, text.replace(" ", "").split(",")):
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise SpecError(f"config.json: invalid memory policy nodes {text!r}") from None
        _want(0 <= a <= b < 4096, f"invalid memory policy nodes {text!r}")
        out += range(a, b + 1)
    return out


# --- in the container ---------------------------------------------------------------------

def load_calls(proc: dict, linux: dict) -> None:
    """Before pivot_root (no import after it): load the C extension that apply_process and
    apply_linux call, if the spec asks for any of these attributes (syscalls.py: the cffi
    one, which the init does not load otherwise)."""
    if ("scheduler" in proc or "ioPriority" in proc or "memoryPolicy" in linux
            or "personality" in linux):
        from . import syscalls as sc
        sc.load_cffi()


def apply_process(proc: dict) -> None:
    from . import syscalls as sc    # the C extension: here, in the container's processes
    s = proc.get("scheduler")
    if s is not None:
        flags = 0
        for f in s.get("flags") or []:
            flags |= SCHED_FLAGS[f]
        try:
            sc.sched_setattr(0, SCHED_POLICIES[s["policy"]], flags, s.get("nice", 0),
                             s.get("priority", 0), s.get("runtime", 0), s.get("deadline", 0),
                             s.get("period", 0))
        except OSError as exc:
            raise ContainerSetupError(f"error setting scheduler: {exc.strerror}", stage="scheduler",
                                      errno=exc.errno) from None
    io = proc.get("ioPriority")
    if io is not None:
        try:
            sc.ioprio_set(IOPRIO_WHO_PROCESS, 0,
                          (IOPRIO_CLASSES[io["class"]] << 13) | io.get("priority", 0))
        except OSError as exc:
            raise ContainerSetupError(f"failed to set io priority: {exc.strerror}",
                                      stage="ioPriority", errno=exc.errno) from None


def apply_linux(linux: dict) -> None:
    from . import syscalls as sc    # the C extension: here, in the container's processes
    mp = linux.get("memoryPolicy")
    if mp is not None:
        mode = MPOL_MODES[mp["mode"]]
        for f in mp.get("flags") or []:
            mode |= MPOL_FLAGS[f]
        try:
            sc.set_mempolicy(mode, parse_nodes(mp.get("nodes", "")))
        except OSError as exc:
            raise ContainerSetupError(f"set_mempolicy {mp['mode']} nodes {mp.get('nodes', '')!r}: "
                                      f"{exc.strerror}", stage="memoryPolicy", errno=exc.errno) from None
    per = linux.get("personality")
    if per is not None:
        try:
            sc.personality(PERSONALITIES[per["domain"]])
        except OSError as exc:
            raise ContainerSetupError(f"personality {per['domain']}: {exc.strerror}",
                                      stage="personality", errno=exc.errno) from None


def write_time_offsets(linux: dict) -> None:
    """/proc/self/timens_offsets of the time namespace we just made (before anyone is in it)."""
    offs = linux.get("timeOffsets")
    if not offs:
        return
    text = "".join(f"{clock} {v.get('secs', 0)} {v.get('nanosecs', 0)}\n"
                   for clock, v in offs.items())
    try:
        fd = posix.open("/proc/self/timens_offsets", posix.O_WRONLY | posix.O_CLOEXEC)
        try:
            posix.write(fd, text.encode())
        finally:
            posix.close(fd)
    except OSError as exc:
        raise ContainerSetupError(f"linux.timeOffsets: write /proc/self/timens_offsets: "
                                  f"{exc.strerror}", stage="namespaces", errno=exc.errno) from None
