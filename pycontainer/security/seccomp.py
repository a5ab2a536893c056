"""seccomp: the system calls a container's program may make (OCI ``linux.seccomp``).

A seccomp filter is a small classic-BPF program the kernel runs on every
system call of a process: it sees the architecture, the call's number and
its six arguments, and answers ALLOW, ERRNO(n), KILL, TRAP, TRACE, LOG...
(seccomp(2), ``Documentation/userspace-api/seccomp_filter.rst``). Once
loaded it can never be removed, it is inherited by children and kept across
execve(2), and loading one needs either CAP_SYS_ADMIN or no_new_privs.

The OCI section (config-linux.md "Seccomp") is a policy, not a program::

    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
     "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
     "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
     "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]}]}

Turning it into BPF is libseccomp's job (seccomp_rule_add(3),
seccomp_export_bpf(3)): it knows every architecture's syscall numbers,
emits the architecture check first (a filter that forgets it lets an x86-64
process bypass it through the 32-bit ABI), and orders the comparisons.
pycontainer does it in two halves, as runc does (three modules: libseccomp.py
compiles, this one loads and caches, seccomp_profile.py makes docker's
profile and ``--security-opt`` into an OCI section):

1. ``compile(section)`` in the runtime (stage 0), before anything exists:
   every name, action, operator, flag and architecture is checked and an
   unknown one is a ``SpecError`` naming the field, so a bad section leaves
   nothing behind; the result is the exported BPF program (bytes).
2. ``Filter.load()`` in the container's init (or exec'd process), after
   ``no_new_privs`` and just before execve, through the ``ctx.seccomp``
   hook: one seccomp(2) call, no import, no file, no libseccomp call after
   pivot_root (security.md P1). Without no_new_privs the load needs
   CAP_SYS_ADMIN, so it then happens before capabilities are dropped
   (runc does the same).

The compiled program is also kept in the state dir (``seccomp.bpf``), so
``exec`` gives the new process exactly the container's filter without
compiling it again, and in ``CACHE_DIR`` keyed by the section itself.

Cost on ``run`` (CI machine, docker's profile: 3 architectures, 998 BPF
instructions): importing this module 0.9 ms, a cached compile 0.3 ms, the
kernel's load (verify + JIT) 1.3 ms; the first compile of a profile on a
kernel/libseccomp pair 15-20 ms (runc pays that on every run: 52 vs 32 ms
here). A spec without ``linux.seccomp`` pays nothing: this module is not
imported.

Binding. Debian ships libseccomp's own Python binding only for its system
interpreter (``python3-seccomp``); on PyPI ``pyseccomp`` (ctypes) has not
had a release since 2021 and runs ``ctypes.util.find_library`` (a
``ldconfig`` subprocess) at import, and ``seccompy`` hand-assembles BPF
without libseccomp. So this module binds the handful of libseccomp2 calls
it needs with ctypes against the stable ``libseccomp.so.2`` ABI (Debian's
``libseccomp2``): importing ctypes and opening the library costs about 1 ms,
paid only when a spec has a seccomp section.

Semantics follow runc (libcontainer/seccomp): a rule whose action is the
default action is skipped; several conditions on the same argument become
separate rules (OR), otherwise one rule (AND); ``SCMP_CMP_MASKED_EQ`` takes
the mask in ``value`` and the datum in ``valueTwo``; a syscall name that
this libseccomp does not know is skipped with a debug message, as runc skips
it (libseccomp resolves names per architecture, and newer profiles name
syscalls older libraries do not know). ``SCMP_ACT_NOTIFY`` (a seccomp agent at ``listenerPath``) is not
supported and says so.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

from .. import syscalls as sc
from .. import trace
from ..errors import SecurityError, UnsupportedError
from .libseccomp import LIBRARY_PATHS, want

# seccomp(2) SECCOMP_SET_MODE_FILTER flags (linux/seccomp.h)
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_NEW_LISTENER": 8,
         "SECCOMP_FILTER_FLAG_TSYNC_ESRCH": 16, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
SECCOMP_SET_MODE_FILTER = 1
# seccomp(2)'s number, for _kernel_has_flag's probe through ctypes
_NR_SECCOMP = {"x86_64": 317, "i386": 354, "i686": 354, "aarch64": 277, "armv7l": 383,
               "armv8l": 383, "riscv64": 277, "ppc64le": 358, "ppc64": 358, "s390x": 348,
               "loongarch64": 277}
# Compiled programs, keyed by the section's canonical JSON (compared whole, not by hash).
CACHE_DIR = "/run/pycontainer-cache/seccomp"

_libc_cache = None


def _libc():
    """(ctypes, the C library), opened once: for _kernel_has_flag's probe (the load itself is
    syscalls.seccomp_load)."""
    global _libc_cache
    if _libc_cache is None:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _libc_cache = (ctypes, libc)
    return _libc_cache


def _seccomp_syscall(flags: int, prog_addr: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) through the C library's syscall(3); -> errno."""
    nr = _NR_SECCOMP.get(os.uname().machine)
    if nr is None:
        raise UnsupportedError(f"linux.seccomp.flags: seccomp(2)'s number on {os.uname().machine} "
                               "is not known to pycontainer")
    ctypes, libc = _libc()
    ret = libc.syscall(ctypes.c_long(nr), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                       ctypes.c_long(flags), ctypes.c_void_p(prog_addr))
    return 0 if ret == 0 else ctypes.get_errno()


# --- the compiled filter ------------------------------------------------------------

class Filter:
    """An exported BPF program and the seccomp(2) flags to load it with.

    Calling the object (``ctx.seccomp(proc)``) loads it into the calling
    thread once; a second call does nothing, so the init may call it early
    (no no_new_privs: needs CAP_SYS_ADMIN) and again at the usual place.
    The load imports nothing: one call of the C extension that the init has
    loaded before pivot_root (``syscalls.seccomp_load``: seccomp(2) with the
    flags, prctl(PR_SET_SECCOMP) without).
    """

    def __init__(self, bpf: bytes, flags: int = 0):
        if len(bpf) % 8 or not 0 < len(bpf) // 8 <= 4096:
            raise SecurityError(f"seccomp: a BPF program of {len(bpf)} bytes is not valid "
                                "(1..4096 instructions of 8 bytes)", stage="seccomp")
        self.bpf = bytes(bpf)
        self.flags = flags
        self.loaded = False

    @property
    def instructions(self) -> int:
        return len(self.bpf) // 8

    def __call__(self, proc: dict | None = None) -> None:
        self.load()

    def load(self) -> None:
        if self.loaded:
            return
        with trace.step("seccomp SECCOMP_SET_MODE_FILTER", "linux.seccomp",
                        instructions=self.instructions, flags=self.flags):
            try:
                sc.seccomp_load(self.bpf, self.flags)
                err = 0
            except OSError as exc:
                err = exc.errno
        if err:
            hint = " (without noNewPrivileges this needs CAP_SYS_ADMIN)" if err in (1, 13) else ""
            raise SecurityError(f"seccomp: load the filter: {os.strerror(err)}{hint}",
                                stage="seccomp", errno=err)
        self.loaded = True

    def dumps(self) -> bytes:
        return struct.pack("<I", self.flags) + self.bpf

    @classmethod
    def loads(cls, raw: bytes) -> "Filter":
        return cls(raw[4:], struct.unpack("<I", raw[:4])[0])

    # the copy in the state dir, for exec
    def save(self, statedir: str) -> None:
        _write_private(os.path.join(statedir, "seccomp.bpf"), self.dumps())

    @classmethod
    def from_statedir(cls, statedir: str) -> "Filter | None":
        try:
            with open(os.path.join(statedir, "seccomp.bpf"), "rb") as f:
                return cls.loads(f.read())
        except FileNotFoundError:
            return None


def _write_private(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _kernel_has_flag(bit: int) -> bool:
    """seccomp(SET_MODE_FILTER, flag, NULL): EFAULT if the kernel knows the flag, EINVAL if not."""
    return _seccomp_syscall(bit, 0) == 14


# --- the cache: compiling docker's profile costs ~15 ms, reading it back ~0.3 ms --------

def _cache_key(section: dict) -> bytes | None:
    lib = next((p for p in LIBRARY_PATHS if os.path.exists(p)), None)
    if lib is None:
        return None
    st = os.stat(lib)
    u = os.uname()
    # v2: libseccomp.compile makes a binary tree (a v1 entry is a linear program: not served)
    head = f"v2 {u.machine} {u.release} {st.st_ino} {st.st_size} {st.st_mtime_ns}\n"
    return head.encode() + json.dumps(section, sort_keys=True, separators=(",", ":")).encode()


def _cache_path(key: bytes) -> str:
    return os.path.join(CACHE_DIR, f"{zlib.crc32(key):08x}-{len(key)}.bpf")


def _cache_get(key: bytes) -> Filter | None:
    try:
        fd = os.open(_cache_path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != 0 or st.st_mode & 0o022:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read()
    finally:
        os.close(fd)
    n = int.from_bytes(raw[:4], "little")
    if raw[4:4 + n] != key:       # the whole key, so a crc32 collision is only a miss
        return None
    try:
        return Filter.loads(raw[4 + n:])
    except SecurityError:
        return None


def _cache_put(key: bytes, f: Filter) -> None:
    try:
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
        _write_private(_cache_path(key), len(key).to_bytes(4, "little") + key + f.dumps())
    except OSError:
        pass                           # a cache, nothing more


# --- compile ---------------------------------------------------------------------------

def compile(section: dict, *, cache: bool = True) -> Filter:  # noqa: A001 - the natural name
    """Check ``linux.seccomp`` and compile it with libseccomp; raise SpecError naming the field.

    A section compiled before on this kernel with this libseccomp is read back
    from ``CACHE_DIR`` instead (it was checked then).
    """
    want(isinstance(section, dict), " must be an object")
    t = trace.now()
    key = _cache_key(section) if cache else None
    if key is not None:
        hit = _cache_get(key)
        if hit is not None:
            trace.event("seccomp compile", "linux.seccomp", trace.since(t), cached=True)
            return hit
    from . import libseccomp
    f = Filter(*libseccomp.compile(section, parse_flags))
    if key is not None:
        _cache_put(key, f)
    trace.event("seccomp compile", "linux.seccomp", trace.since(t), cached=False)
    return f


def parse_flags(section: dict) -> int:
    """``linux.seccomp.flags`` -> the seccomp(2) flag bits, each one checked against this kernel."""
    flags = 0
    fl = section.get("flags", [])
    want(isinstance(fl, list) and all(isinstance(f, str) for f in fl), ".flags must be a list of strings")
    for f in fl:
        want(f in FLAGS, f".flags: unknown flag {f!r} (one of {', '.join(FLAGS)})")
        if f in ("SECCOMP_FILTER_FLAG_NEW_LISTENER", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"):
            raise UnsupportedError(f"config.json: linux.seccomp.flags: {f} (a seccomp agent) "
                                   "is not supported by pycontainer")
        if not _kernel_has_flag(FLAGS[f]):
            raise UnsupportedError(f"config.json: linux.seccomp.flags: this kernel "
                                   f"({os.uname().release}) does not support {f}")
        flags |= FLAGS[f]
    return flags
