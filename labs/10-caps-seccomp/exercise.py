"""Lab 10: complete these three functions (see README.md)."""

from pycontainer import capabilities, syscalls

PR_SET_NO_NEW_PRIVS = 38
# classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
BPF_LD_W_ABS = 0x20          # A = 32-bit word at offset k of struct seccomp_data
BPF_JEQ_K = 0x15             # if A == k: skip jt instructions, else skip jf
BPF_RET_K = 0x06             # return k
AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000


def drop_capabilities(keep: list[str]) -> None:
    """Keep only KEEP (names like "CAP_CHOWN"): bounding set first, then the other sets.

    capabilities.drop_bounding(keep, capabilities.last_cap()), then
    capabilities.apply_sets({"effective": keep, "permitted": keep, "inheritable": []}).
    """
    raise NotImplementedError("TODO: drop_bounding, then apply_sets")


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1) (use syscalls.prctl)."""
    raise NotImplementedError("TODO: syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1)")


def seccomp_program(deny: list[int], errno: int) -> list[tuple[int, int, int, int]]:
    """A filter as (code, jt, jf, k) instructions: kill on a foreign arch, ERRNO for DENY, else allow.

      0: load arch (offset 4)
      1: if arch == AUDIT_ARCH_X86_64 skip 1
      2: return KILL_PROCESS
      3: load nr (offset 0)
      then for each number in DENY: if nr == it, jump to the ERRNO return at the end
      then: return ALLOW
      last: return ERRNO | errno
    """
    raise NotImplementedError("TODO: the list of instructions")
