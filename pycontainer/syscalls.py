"""The Python face of the C extensions: system calls that raise ``OSError``.

``csrc/`` wraps the calls Python 3.11 lacks. Those of the runtime's and the
init's own path (unshare, setns, mount, pivot_root, close_range, the seccomp
load + execve, ..., and bpf for cgroup v2's device program) are
``pycontainer._nscalls``, a module of the CPython
limited API that raises ``OSError(errno)``; the rarer ones are the cffi
extension ``pycontainer._native``, loaded on first use, which returns -1
with errno set, like libc. This module words both as
``OSError(errno, "what: strerror", path)`` so callers can write
``except FileNotFoundError`` and messages carry the operand, and it holds the
constants (CLONE_*, MS_*, MNT_*) with their man pages.

Man pages: unshare(2), setns(2), pivot_root(2), mount(2), umount2(2),
setdomainname(2), close_range(2), openat2(2), sched_setattr(2), ioprio_set(2),
set_mempolicy(2), personality(2), bpf(2).
"""

from __future__ import annotations

import posix

from . import _nscalls

# --- namespaces: clone(2) / unshare(2) / setns(2) -----------------------------
CLONE_NEWNS = 0x00020000       # mount namespace
CLONE_NEWCGROUP = 0x02000000   # cgroup namespace
CLONE_NEWUTS = 0x04000000      # hostname / domainname
CLONE_NEWIPC = 0x08000000      # System V IPC, POSIX message queues
CLONE_NEWUSER = 0x10000000     # uid/gid mappings, capabilities
CLONE_NEWPID = 0x20000000      # process IDs (applies to children)
CLONE_NEWNET = 0x40000000      # network devices, addresses, routes
CLONE_NEWTIME = 0x00000080     # CLOCK_MONOTONIC / BOOTTIME offsets

CLONE_NAMES = {
    CLONE_NEWNS: "CLONE_NEWNS", CLONE_NEWCGROUP: "CLONE_NEWCGROUP",
    CLONE_NEWUTS: "CLONE_NEWUTS", CLONE_NEWIPC: "CLONE_NEWIPC",
    CLONE_NEWUSER: "CLONE_NEWUSER", CLONE_NEWPID: "CLONE_NEWPID",
    CLONE_NEWNET: "CLONE_NEWNET", CLONE_NEWTIME: "CLONE_NEWTIME",
}

# --- mount(2) flags ------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MS_NAMES = {
    MS_RDONLY: "MS_RDONLY", MS_NOSUID: "MS_NOSUID", MS_NODEV: "MS_NODEV",
    MS_NOEXEC: "MS_NOEXEC", MS_SYNCHRONOUS: "MS_SYNCHRONOUS", MS_REMOUNT: "MS_REMOUNT",
    MS_MANDLOCK: "MS_MANDLOCK", MS_DIRSYNC: "MS_DIRSYNC", MS_NOSYMFOLLOW: "MS_NOSYMFOLLOW",
    MS_NOATIME: "MS_NOATIME", MS_NODIRATIME: "MS_NODIRATIME", MS_BIND: "MS_BIND",
    MS_MOVE: "MS_MOVE", MS_REC: "MS_REC", MS_SILENT: "MS_SILENT",
    MS_UNBINDABLE: "MS_UNBINDABLE", MS_PRIVATE: "MS_PRIVATE", MS_SLAVE: "MS_SLAVE",
    MS_SHARED: "MS_SHARED", MS_RELATIME: "MS_RELATIME", MS_STRICTATIME: "MS_STRICTATIME",
    MS_LAZYTIME: "MS_LAZYTIME",
}

# --- umount2(2) flags -----------------------------------------------------------
MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# --- close_range(2) ----------------------------------------------------------------
CLOSE_RANGE_CLOEXEC = 1 << 2

# --- openat2(2) resolve flags ---------------------------------------------------
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def flag_names(value: int, names: dict[int, str]) -> str:
    """``CLONE_NEWNS|CLONE_NEWPID`` for a flag word (for messages and the trace)."""
    parts = [n for bit, n in names.items() if value & bit]
    rest = value & ~sum(b for b in names if value & b)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) or "0"


def _cffi():
    """(ffi, lib) of the cffi extension, imported on first use (see the docstring)."""
    from ._native import ffi, lib
    return ffi, lib


def load_cffi() -> None:
    """Import the cffi extension now: the init, before pivot_root, when the spec asks for a
    call that only it has (procattrs.load_calls)."""
    _cffi()


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = _cffi()[0].errno
        raise OSError(err, f"{what}: {posix.strerror(err)}", path)
    return ret


def _call(fn, args: tuple, what: str, path: str | None = None) -> int:
    """One call of ``_nscalls``, its OSError worded as _check words a cffi one."""
    try:
        return fn(*args)
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: {posix.strerror(exc.errno)}", path) from None


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (unshare(2); csrc/nscalls.c)."""
    try:
        _nscalls.unshare(flags)
    except OSError as exc:
        raise OSError(exc.errno, f"unshare({flag_names(flags, CLONE_NAMES)}): {exc.strerror}") from None


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that ``fd`` (an open /proc/PID/ns/* or bind mount) refers to."""
    try:
        _nscalls.setns(fd, nstype)
    except OSError as exc:
        raise OSError(exc.errno, f"setns: {exc.strerror}") from None


def pivot_root(new_root: str, put_old: str) -> None:
    """Make ``new_root`` the root mount of this mount namespace (pivot_root(2))."""
    _call(_nscalls.pivot_root, (new_root, put_old), "pivot_root", new_root)


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2); ``None`` becomes NULL."""
    try:
        _nscalls.mount(source, target, fstype, flags, data or None)
    except OSError as exc:
        what = f"mount {fstype or ''} {flag_names(flags, MS_NAMES)}".replace("  ", " ")
        raise OSError(exc.errno, f"{what}: {posix.strerror(exc.errno)}", target) from None


def umount2(target: str, flags: int = 0) -> None:
    _call(_nscalls.umount2, (target, flags), "umount2", target)


def setdomainname(name: str) -> None:
    _call(_nscalls.setdomainname, (name,), "setdomainname")


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """Close (or mark close-on-exec) every fd in [first, last] (close_range(2))."""
    _call(_nscalls.close_range, (first, last, flags), "close_range")


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dirfd`` under RESOLVE_* rules."""
    return _call(_nscalls.openat2, (dirfd, path, flags | posix.O_CLOEXEC, mode, resolve),
                 "openat2", path)


def clone_fork(flags: int) -> int:
    """clone(2) with new-namespace flags, used like fork(2).

    For labs only: the child runs Python without CPython's after-fork
    handlers, which is safe only in a single-threaded program. The runtime
    itself uses ``posix.fork()`` + ``unshare()``.
    """
    return _check(_cffi()[1].pyc_clone_fork(flags), f"clone({flag_names(flags, CLONE_NAMES)})")


PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    """prctl(2) with integer arguments."""
    return _call(_nscalls.prctl, (option, a2, a3, a4, a5), f"prctl({option})")


RLIM_INFINITY = _nscalls.RLIM_INFINITY   # <sys/resource.h>'s, unsigned (resource's is -1)


def rlimit_number(name: str) -> int:
    """``RLIMIT_NOFILE`` -> this architecture's number (<sys/resource.h>, getrlimit(2));
    AttributeError for a name the C library does not have."""
    return getattr(_nscalls, name)


def setrlimit(resource: int, soft: int, hard: int) -> None:
    """setrlimit(2) of the calling process; RLIM_INFINITY for unlimited."""
    _call(_nscalls.setrlimit, (resource, soft, hard), "setrlimit")


def getrlimit(resource: int) -> tuple[int, int]:
    """getrlimit(2) -> (soft, hard); RLIM_INFINITY for unlimited."""
    return _call(_nscalls.getrlimit, (resource,), "getrlimit")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) of the calling thread; each set a mask (bit N: capability N)."""
    _call(_nscalls.capset, (effective, permitted, inheritable), "capset")


class ExecArgs:
    """argv/envp for ``seccomp_exec``, encoded *before* the filter is loaded (the C call
    turns them into arrays before the load too: after it only the exec may run)."""

    def __init__(self, path: str, args: list[str], env: list[str], dmz_fd: int | None):
        self.path = path
        self.argv = [a.encode() for a in args]
        self.envp = [e.encode() for e in env]
        self.dmz_fd = -1 if dmz_fd is None else dmz_fd
        # the dmz's argv: [argv0, program path, argv...] (security/dmz_x86_64.S)
        self.dmz_argv = [self.argv[0], path.encode(), *self.argv] if dmz_fd is not None else None
        self.dmz_path = f"/proc/self/fd/{dmz_fd}" if dmz_fd is not None else None


def seccomp_load(bpf: bytes, flags: int = 0) -> None:
    """Load the seccomp filter ``bpf`` into the calling thread: seccomp(2) with ``flags``,
    else prctl(PR_SET_SECCOMP). It imports nothing: the init may call it after pivot_root."""
    _nscalls.seccomp_load(bpf, flags)


def seccomp_exec(bpf: bytes | None, flags: int, ea: ExecArgs) -> OSError:
    """Load the seccomp filter ``bpf`` (or none) and exec, in one C call: nothing but
    the exec runs under the filter. Returns only on failure: the OSError to raise
    (``.filename`` is "seccomp" when the load itself failed)."""
    which, err = _nscalls.seccomp_exec(bpf or None, flags, ea.dmz_fd, ea.dmz_path, ea.dmz_argv,
                                       ea.path, ea.argv, ea.envp)
    return OSError(err, posix.strerror(err), "seccomp" if which == -1 else None)


def _native(name: str):
    fn = getattr(_cffi()[1], name, None)
    if fn is None:
        from .errors import UnsupportedError
        raise UnsupportedError(f"{name[4:]}: the C extension is older than this code; rebuild it "
                               "(python setup.py build_ext --inplace)")
    return fn


def sched_setattr(pid: int, policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                  runtime: int = 0, deadline: int = 0, period: int = 0) -> None:
    """sched_setattr(2): scheduling policy and its parameters of ``pid`` (0: the caller)."""
    _check(_native("pyc_sched_setattr")(pid, policy, flags, nice, priority, runtime, deadline,
                                        period), "sched_setattr")


def ioprio_set(which: int, who: int, ioprio: int) -> None:
    """ioprio_set(2): the I/O scheduling class and priority."""
    _check(_native("pyc_ioprio_set")(which, who, ioprio), "ioprio_set")


def set_mempolicy(mode: int, nodes: list[int]) -> None:
    """set_mempolicy(2): the NUMA policy of the calling thread (inherited by children)."""
    words = (max(nodes) // 64 + 1) if nodes else 0
    ffi = _cffi()[0]
    mask = ffi.new("unsigned long[]", max(words, 1))
    for n in nodes:
        mask[n // 64] |= 1 << (n % 64)
    _check(_native("pyc_set_mempolicy")(mode, mask if words else ffi.NULL,
                                        words * 64 + 1 if words else 0), "set_mempolicy")


def personality(persona: int) -> int:
    """personality(2): the execution domain (PER_LINUX, PER_LINUX32)."""
    return _check(_native("pyc_personality")(persona), "personality")


def bpf(cmd: int, attr) -> int:
    """bpf(2) with a packed ``union bpf_attr``; a bytearray ``attr`` gets the kernel's answer."""
    buf = attr if isinstance(attr, bytearray) else bytearray(attr)
    return _call(_nscalls.bpf, (cmd, buf), f"bpf({cmd})")


def bpf_prog_load(prog_type: int, insns: bytes, license: bytes, name: bytes,
                  log: bytearray | None = None) -> int:
    """bpf(2) BPF_PROG_LOAD -> the program's fd; ``log``: a buffer for the verifier's log."""
    return _call(_nscalls.bpf_prog_load, (prog_type, insns, license, name, log), "bpf(BPF_PROG_LOAD)")


def madvise(addr: int, length: int, advice: int) -> None:
    """madvise(2) on this process's memory at ``addr`` (an integer address)."""
    _check(_native("pyc_madvise")(addr, length, advice), "madvise")
