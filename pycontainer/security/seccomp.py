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
pycontainer does it in two halves, as runc does:

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
this libseccomp does not know is skipped with a debug message, as runc
skips it (libseccomp resolves names per architecture, and newer profiles
name syscalls older libraries do not know). ``SCMP_ACT_NOTIFY`` (a seccomp agent at ``listenerPath``) is not
supported and says so.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

from .. import syscalls as sc
from .. import trace
from ..errors import SecurityError, SpecError, UnsupportedError

# --- libseccomp constants (seccomp.h) ------------------------------------------------
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
_WITH_DATA = {"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"}    # low 16 bits: the errno / trace message
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# seccomp(2) SECCOMP_SET_MODE_FILTER flags (linux/seccomp.h)
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_NEW_LISTENER": 8,
         "SECCOMP_FILTER_FLAG_TSYNC_ESRCH": 16, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
ARCHES = ("X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL",
          "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC",
          "PARISC64", "RISCV64", "LOONGARCH64", "M68K", "SH", "SHEB")
EPERM = 1
SECCOMP_SET_MODE_FILTER = 1
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
# seccomp(2)'s number, for the flags prctl(PR_SET_SECCOMP) cannot pass
_NR_SECCOMP = {"x86_64": 317, "i386": 354, "i686": 354, "aarch64": 277, "armv7l": 383,
               "armv8l": 383, "riscv64": 277, "ppc64le": 358, "ppc64": 358, "s390x": 348,
               "loongarch64": 277}
# Compiled programs, keyed by the section's canonical JSON (compared whole, not by hash).
CACHE_DIR = "/run/pycontainer-cache/seccomp"
_LIBSECCOMP_PATHS = ("/usr/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libseccomp.so.2",
                     "/usr/lib/aarch64-linux-gnu/libseccomp.so.2", "/usr/lib64/libseccomp.so.2",
                     "/usr/lib/libseccomp.so.2")

# Linux syscalls newer than Debian 12's libseccomp 2.5.4 (kernel 6.2 .. 6.18). Profiles name
# them (docker's does); a libseccomp that cannot number them cannot filter them, so they
# are skipped, as runc skips them. Anything else unknown is a typo and an error.
NEWER_SYSCALLS = frozenset("""
    cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue statmount
    listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat
    listxattrat removexattrat open_tree_attr file_getattr file_setattr uretprobe uprobe
    riscv_hwprobe riscv_flush_icache
    set_mempolicy_home_node futex_waitv memfd_secret process_mrelease landlock_create_ruleset
    landlock_add_rule landlock_restrict_self quotactl_fd process_madvise epoll_pwait2
    mount_setattr faccessat2 pidfd_getfd openat2 clone3 close_range pidfd_open
""".split())

_lib = None


def _libseccomp():
    """libseccomp.so.2 through ctypes, with the prototypes this module uses (opened once)."""
    global _lib
    if _lib is not None:
        return _lib
    import ctypes

    class ArgCmp(ctypes.Structure):       # struct scmp_arg_cmp
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        raise UnsupportedError("linux.seccomp: libseccomp.so.2 is not installed "
                               "(apt-get install libseccomp2)") from None
    vp, u32, i = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    for name, res, args in (
            ("seccomp_init", vp, (u32,)), ("seccomp_release", None, (vp,)),
            ("seccomp_arch_resolve_name", u32, (ctypes.c_char_p,)),
            ("seccomp_arch_add", i, (vp, u32)),
            ("seccomp_syscall_resolve_name", i, (ctypes.c_char_p,)),
            ("seccomp_rule_add_array", i, (vp, u32, i, ctypes.c_uint, ctypes.POINTER(ArgCmp))),
            ("seccomp_export_bpf", i, (vp, i))):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    lib.ArgCmp = ArgCmp
    _lib = lib
    return lib


_libc_cache = None


def _libc():
    """(ctypes, the C library) opened once, in stage 0: the init calls it after pivot_root."""
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
    Everything the load needs is built here, in stage 0, so the load itself
    allocates and imports nothing: without flags it is prctl(PR_SET_SECCOMP)
    through the C extension, with flags seccomp(2) through ctypes (imported
    here, before any fork).
    """

    def __init__(self, bpf: bytes, flags: int = 0):
        if len(bpf) % 8 or not 0 < len(bpf) // 8 <= 4096:
            raise SecurityError(f"seccomp: a BPF program of {len(bpf)} bytes is not valid "
                                "(1..4096 instructions of 8 bytes)", stage="seccomp")
        self.bpf = bytes(bpf)
        self.flags = flags
        self.loaded = False
        # struct sock_fprog {unsigned short len; struct sock_filter *filter;} (linux/filter.h)
        self._filter = sc.ffi.from_buffer(self.bpf)
        self._prog = bytearray(struct.pack("HP", len(self.bpf) // 8,
                                           int(sc.ffi.cast("uintptr_t", self._filter))))
        self._prog_c = sc.ffi.from_buffer(self._prog)
        self._prog_addr = int(sc.ffi.cast("uintptr_t", self._prog_c))
        if flags:
            _libc()        # ctypes and libc now: the load happens after pivot_root

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
            if self.flags:
                err = _seccomp_syscall(self.flags, self._prog_addr)
            else:
                try:
                    sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self._prog_addr)
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
    lib = next((p for p in _LIBSECCOMP_PATHS if os.path.exists(p)), None)
    if lib is None:
        return None
    st = os.stat(lib)
    u = os.uname()
    head = f"v1 {u.machine} {u.release} {st.st_ino} {st.st_size} {st.st_mtime_ns}\n"
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

def _want(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(f"config.json: linux.seccomp{msg}")


def _action(name, errno_ret, where: str, default_errno: int = EPERM) -> int:
    _want(isinstance(name, str), f"{where}: the action must be a string")
    _want(name in ACTIONS, f"{where}: unknown action {name!r} (one of {', '.join(sorted(ACTIONS))})")
    if name == "SCMP_ACT_NOTIFY":
        raise UnsupportedError(f"config.json: linux.seccomp{where}: SCMP_ACT_NOTIFY (a seccomp "
                               "agent) is not supported by pycontainer")
    value = ACTIONS[name]
    if name in _WITH_DATA:
        n = default_errno if errno_ret is None else errno_ret
        _want(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 0xFFFF,
              f"{where}: errnoRet must be 0..65535")
        value |= n
    elif errno_ret is not None:
        _want(False, f"{where}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
    return value


def compile(section: dict, *, cache: bool = True) -> Filter:  # noqa: A001 - the natural name
    """Check ``linux.seccomp`` and compile it with libseccomp; raise SpecError naming the field.

    A section compiled before on this kernel with this libseccomp is read back
    from ``CACHE_DIR`` instead (it was checked then).
    """
    _want(isinstance(section, dict), " must be an object")
    key = _cache_key(section) if cache else None
    if key is not None:
        hit = _cache_get(key)
        if hit is not None:
            return hit
    f = _compile(section)
    if key is not None:
        _cache_put(key, f)
    return f


def _compile(section: dict) -> Filter:
    if section.get("listenerPath"):
        raise UnsupportedError("config.json: linux.seccomp.listenerPath: seccomp agents "
                               "(SCMP_ACT_NOTIFY) are not supported by pycontainer")
    _want("defaultAction" in section, ".defaultAction is required")
    default = _action(section["defaultAction"], section.get("defaultErrnoRet"), ".defaultAction")

    flags = 0
    fl = section.get("flags", [])
    _want(isinstance(fl, list) and all(isinstance(f, str) for f in fl), ".flags must be a list of strings")
    for f in fl:
        _want(f in FLAGS, f".flags: unknown flag {f!r} (one of {', '.join(FLAGS)})")
        if f in ("SECCOMP_FILTER_FLAG_NEW_LISTENER", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"):
            raise UnsupportedError(f"config.json: linux.seccomp.flags: {f} (a seccomp agent) "
                                   "is not supported by pycontainer")
        if not _kernel_has_flag(FLAGS[f]):
            raise UnsupportedError(f"config.json: linux.seccomp.flags: this kernel "
                                   f"({os.uname().release}) does not support {f}")
        flags |= FLAGS[f]

    lib = _libseccomp()
    arches = section.get("architectures", [])
    _want(isinstance(arches, list) and all(isinstance(a, str) for a in arches),
          ".architectures must be a list of strings")
    tokens = []
    for a in arches:
        short = a[len("SCMP_ARCH_"):] if a.startswith("SCMP_ARCH_") else ""
        token = lib.seccomp_arch_resolve_name(short.lower().encode()) if short in ARCHES else 0
        _want(token != 0, f".architectures: unknown architecture {a!r}")
        tokens.append(token)

    rules = section.get("syscalls", [])
    _want(isinstance(rules, list), ".syscalls must be a list")
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SecurityError("seccomp: seccomp_init failed", stage="seccomp")
    try:
        for t in tokens:
            rc = lib.seccomp_arch_add(ctx, t)
            if rc not in (0, -17):      # -EEXIST: the native arch is always there
                raise SpecError(f"config.json: linux.seccomp.architectures: libseccomp cannot "
                                f"add {arches[tokens.index(t)]!r}: {os.strerror(-rc)}")
        for i, rule in enumerate(rules):
            _add_rule(lib, ctx, rule, f".syscalls[{i}]", default,
                      section.get("defaultErrnoRet"))
        bpf = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    return Filter(bpf, flags)


def _add_rule(lib, ctx, rule, where: str, default: int, default_errno) -> None:
    _want(isinstance(rule, dict), f"{where} must be an object")
    names = rule.get("names")
    if names is None and isinstance(rule.get("name"), str):   # the pre-1.0 spelling
        names = [rule["name"]]
    _want(isinstance(names, list) and names and all(isinstance(n, str) and n for n in names),
          f"{where}.names must be a non-empty list of syscall names")
    action = _action(rule.get("action"), rule.get("errnoRet"), f"{where}.action")
    args = rule.get("args") or []
    _want(isinstance(args, list), f"{where}.args must be a list")
    conds, per_index = [], {}
    for j, a in enumerate(args):
        w = f"{where}.args[{j}]"
        _want(isinstance(a, dict), f"{w} must be an object")
        idx, op = a.get("index"), a.get("op")
        _want(isinstance(idx, int) and not isinstance(idx, bool) and 0 <= idx <= 5,
              f"{w}.index must be 0..5")
        _want(op in OPS, f"{w}.op: unknown operator {op!r} (one of {', '.join(OPS)})")
        v1, v2 = a.get("value", 0), a.get("valueTwo", 0)
        for key, v in (("value", v1), ("valueTwo", v2)):
            _want(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64,
                  f"{w}.{key} must be an unsigned 64-bit integer")
        conds.append(lib.ArgCmp(idx, OPS[op], v1, v2))
        per_index[idx] = per_index.get(idx, 0) + 1
    if action == default:
        return                          # runc: nothing to add, and libseccomp would refuse it
    # Two conditions on one argument cannot both hold in one rule: runc makes each its own rule.
    groups = [[c] for c in conds] if any(n > 1 for n in per_index.values()) else [conds]
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == -1:                    # __NR_SCMP_ERROR
            # runc: libseccomp resolves names per architecture and newer profiles name
            # syscalls an older library does not know: skip them, at debug level.
            from .. import log
            log.debug(f"linux.seccomp{where}: unknown syscall {name!r} ignored")
            continue
        for group in groups:
            arr = (lib.ArgCmp * len(group))(*group) if group else None
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
            if rc == -14 or rc == -22 and nr < 0:
                continue    # EFAULT/EINVAL: a pseudo-syscall with no number on these arches
            if rc < 0:
                raise SpecError(f"config.json: linux.seccomp{where}: libseccomp refused the rule "
                                f"for {name!r}: {os.strerror(-rc)}")


def _export(lib, ctx) -> bytes:
    fd = os.memfd_create("pycontainer-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SecurityError(f"seccomp: export the filter: {os.strerror(-rc)}", stage="seccomp")
        size = os.lseek(fd, 0, os.SEEK_CUR)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


# --- profiles ----------------------------------------------------------------------------

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv8l": "arm", "i686": "x86",
           "i386": "x86", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
_NATIVE = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
           "x86": "SCMP_ARCH_X86", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
           "riscv64": "SCMP_ARCH_RISCV64"}


_OCI_FIELDS = ("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
               "listenerMetadata")


def default_profile_path() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_default.json")


def docker_default(bounding: list[str]) -> dict:
    """Docker's default profile (moby profiles/seccomp/default.json) for a container whose
    bounding set is ``bounding``, as the OCI section docker would write."""
    with open(default_profile_path()) as f:
        return from_docker(json.load(f), bounding)


def _kernel_at_least(text: str) -> bool:
    want = tuple(int(x) for x in text.split(".")[:2])
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= want


def from_docker(profile: dict, bounding: list[str]) -> dict:
    """A docker-format profile (archMap, includes/excludes by caps, arches, minKernel) ->
    the OCI section, with moby's rules (profiles/seccomp/seccomp_linux.go setupSeccomp)."""
    if not isinstance(profile, dict):
        raise SpecError("seccomp profile: must be a JSON object")
    if profile.get("architectures") and profile.get("archMap"):
        raise SpecError("seccomp profile: both 'architectures' and 'archMap' are given")
    arch = _GOARCH.get(os.uname().machine, os.uname().machine)
    out = {k: v for k, v in profile.items() if k in _OCI_FIELDS}
    native = _NATIVE.get(arch)
    for a in profile.get("archMap") or []:
        if a.get("architecture") == native:
            out["architectures"] = [native] + list(a.get("subArchitectures") or [])
    caps = {("CAP_" + c.upper().removeprefix("CAP_")) for c in bounding}
    calls = []
    for call in profile.get("syscalls") or []:
        ex, inc = call.get("excludes") or {}, call.get("includes") or {}
        if arch in (ex.get("arches") or []) or any(c in caps for c in ex.get("caps") or []):
            continue
        if ex.get("minKernel") and _kernel_at_least(ex["minKernel"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if any(c not in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        rule = {k: v for k, v in call.items() if k not in ("includes", "excludes", "comment", "name")}
        if "name" in call and "names" not in call:
            rule["names"] = [call["name"]]
        calls.append(rule)
    out["syscalls"] = calls
    return out


def load_profile_file(path: str, bounding: list[str]) -> dict:
    """``--security-opt seccomp=FILE``: a docker-format or OCI-format profile -> OCI section."""
    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as exc:
        raise SpecError(f"--security-opt seccomp={path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SpecError(f"--security-opt seccomp={path}: not valid JSON: {exc}") from None
    return from_docker(profile, bounding)


def apply_docker_options(cfg: dict, security_opts=(), *, privileged: bool = False) -> None:
    """docker run's seccomp rules on a config built by the porcelain or the Python API:
    docker's default profile for the container's bounding set, ``--security-opt
    seccomp=unconfined`` for none, ``seccomp=FILE`` for a profile file (docker's
    or OCI's format), and none with ``--privileged`` (as docker)."""
    choice = "default"
    for opt in security_opts or ():
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key != "seccomp":
            if key in ("no-new-privileges",) or opt == "no-new-privileges":
                continue
            raise SpecError(f"--security-opt {opt!r}: only seccomp=unconfined|FILE and "
                            "no-new-privileges are supported")
        if not value:
            raise SpecError(f"--security-opt {opt!r}: use seccomp=unconfined or seccomp=FILE")
        choice = value
    if privileged and choice == "default":
        choice = "unconfined"
    linux = cfg.setdefault("linux", {})
    bounding = cfg.get("process", {}).get("capabilities", {}).get("bounding", [])
    if choice == "unconfined":
        linux.pop("seccomp", None)
    elif choice == "default":
        linux["seccomp"] = docker_default(bounding)
    else:
        linux["seccomp"] = load_profile_file(choice, bounding)
