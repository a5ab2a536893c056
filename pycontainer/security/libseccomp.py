"""libseccomp as a compiler: an OCI ``linux.seccomp`` section -> a classic-BPF program.

libseccomp (seccomp_init(3), seccomp_arch_add(3), seccomp_rule_add(3),
seccomp_export_bpf(3)) knows every architecture's syscall numbers, emits the
architecture check first and orders the comparisons; this module checks
every field of the section (a ``SpecError`` names the field), feeds the
rules to libseccomp through ctypes and exports the program. Loading it is
seccomp.py's job; docker's profile and ``--security-opt`` are
seccomp_profile.py's.

Read: seccomp(2), seccomp_rule_add(3), the OCI runtime spec config-linux.md
"Seccomp", runc's libcontainer/seccomp/patchbpf for the rules it follows.
"""

from __future__ import annotations

import os

from ..errors import SecurityError, SpecError, UnsupportedError

# --- libseccomp constants (seccomp.h) ------------------------------------------------
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
WITH_DATA = {"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"}    # low 16 bits: the errno / trace message
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ARCHES = ("X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL",
          "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC",
          "PARISC64", "RISCV64", "LOONGARCH64", "M68K", "SH", "SHEB")
EPERM = 1
SCMP_FLTATR_CTL_OPTIMIZE = 8       # enum scmp_filter_attr (seccomp_attr_set(3)): 2 = binary tree
LIBRARY_PATHS = ("/usr/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libseccomp.so.2",
                 "/usr/lib/aarch64-linux-gnu/libseccomp.so.2", "/usr/lib64/libseccomp.so.2",
                 "/usr/lib/libseccomp.so.2")

# Linux syscalls newer than Debian 12's libseccomp 2.5.4 (kernel 6.2 .. 6.18). Profiles name
# them (docker's does); a libseccomp that cannot number them cannot filter them, so they
# are skipped, as runc skips every name it cannot resolve (at debug level). The list
# lets the tests tell such names from typos in the profile pycontainer ships.
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


def open_library():
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
            ("seccomp_attr_set", i, (vp, i, u32)),
            ("seccomp_export_bpf", i, (vp, i))):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    lib.ArgCmp = ArgCmp
    _lib = lib
    return lib



def want(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(f"config.json: linux.seccomp{msg}")


def _action(name, errno_ret, where: str, default_errno: int = EPERM) -> int:
    want(isinstance(name, str), f"{where}: the action must be a string")
    want(name in ACTIONS, f"{where}: unknown action {name!r} (one of {', '.join(sorted(ACTIONS))})")
    if name == "SCMP_ACT_NOTIFY":
        raise UnsupportedError(f"config.json: linux.seccomp{where}: SCMP_ACT_NOTIFY (a seccomp "
                               "agent) is not supported by pycontainer")
    value = ACTIONS[name]
    if name in WITH_DATA:
        n = default_errno if errno_ret is None else errno_ret
        want(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 0xFFFF,
              f"{where}: errnoRet must be 0..65535")
        value |= n
    elif errno_ret is not None:
        want(False, f"{where}: errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
    return value


def compile(section: dict, parse_flags, *, tree: bool = True) -> tuple[bytes, int]:  # noqa: A001
    """Check ``section`` and compile it: (the exported BPF program, the seccomp(2) flags).

    ``parse_flags(section)`` checks ``.flags`` against the kernel (seccomp.py
    knows seccomp(2); this module knows libseccomp) and returns the flag bits.

    ``tree``: the syscall numbers are compared as a binary tree
    (``SCMP_FLTATR_CTL_OPTIMIZE`` = 2, libseccomp 2.5+), not one after the
    other. Same verdicts (tests/unit/test_seccomp_tree.py runs both programs
    on every syscall); docker's profile goes from 1001 to ~1250 instructions,
    yet the kernel loads it in 0.5 ms instead of 1.1 (bench/seccomp_load.py;
    seccomp(2) converts and JITs the program at load: ``bpf_convert_filter``,
    ``do_jit`` by perf), and an x86_64 syscall runs 16 of its instructions (at
    most 24) instead of a median of 235 (at most 612). An older libseccomp
    refuses the attribute: the program is then the linear one.
    """
    if section.get("listenerPath"):
        raise UnsupportedError("config.json: linux.seccomp.listenerPath: seccomp agents "
                               "(SCMP_ACT_NOTIFY) are not supported by pycontainer")
    want("defaultAction" in section, ".defaultAction is required")
    default = _action(section["defaultAction"], section.get("defaultErrnoRet"), ".defaultAction")

    flags = parse_flags(section)

    lib = open_library()
    arches = section.get("architectures", [])
    want(isinstance(arches, list) and all(isinstance(a, str) for a in arches),
          ".architectures must be a list of strings")
    tokens = []
    for a in arches:
        short = a[len("SCMP_ARCH_"):] if a.startswith("SCMP_ARCH_") else ""
        token = lib.seccomp_arch_resolve_name(short.lower().encode()) if short in ARCHES else 0
        want(token != 0, f".architectures: unknown architecture {a!r}")
        tokens.append(token)

    rules = section.get("syscalls", [])
    want(isinstance(rules, list), ".syscalls must be a list")
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SecurityError("seccomp: seccomp_init failed", stage="seccomp")
    try:
        if tree:
            lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)    # refused: stays linear
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
    return bpf, flags


def _add_rule(lib, ctx, rule, where: str, default: int, default_errno) -> None:
    want(isinstance(rule, dict), f"{where} must be an object")
    names = rule.get("names")
    if names is None and isinstance(rule.get("name"), str):   # the pre-1.0 spelling
        names = [rule["name"]]
    want(isinstance(names, list) and names and all(isinstance(n, str) and n for n in names),
          f"{where}.names must be a non-empty list of syscall names")
    action = _action(rule.get("action"), rule.get("errnoRet"), f"{where}.action")
    args = rule.get("args") or []
    want(isinstance(args, list), f"{where}.args must be a list")
    conds, per_index = [], {}
    for j, a in enumerate(args):
        w = f"{where}.args[{j}]"
        want(isinstance(a, dict), f"{w} must be an object")
        idx, op = a.get("index"), a.get("op")
        want(isinstance(idx, int) and not isinstance(idx, bool) and 0 <= idx <= 5,
              f"{w}.index must be 0..5")
        want(op in OPS, f"{w}.op: unknown operator {op!r} (one of {', '.join(OPS)})")
        v1, v2 = a.get("value", 0), a.get("valueTwo", 0)
        for key, v in (("value", v1), ("valueTwo", v2)):
            want(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64,
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
