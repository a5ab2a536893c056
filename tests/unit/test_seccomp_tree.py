"""The binary-tree seccomp program says what the linear one says, for every syscall.

libseccomp.compile asks libseccomp for a binary tree of syscall numbers
(SCMP_FLTATR_CTL_OPTIMIZE = 2): it loads in half the time. These tests run
both exported programs, the tree and the linear one, through a small
classic-BPF interpreter (the instructions libseccomp emits: ld abs, jeq,
jgt, jge, jset, ja, and, ret; see bpf(4) and linux/filter.h) on every
syscall number of the profile's three architectures, with the arguments its
rules look at, and compare the verdicts. No kernel is involved: the kernel's
own tests of the program are tests/security/test_seccomp.py.
"""

import random
import struct

import pytest

from pycontainer import spec
from pycontainer.security import libseccomp, seccomp, seccomp_profile

AUDIT_ARCH = {"x86_64": 0xC000003E, "x86": 0x40000003}
X32_BIT = 0x40000000


def _program(bpf: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("<HBBI", bpf, i) for i in range(0, len(bpf), 8)]


def run(prog, nr: int, arch: int, args=(0,) * 6, ip: int = 0) -> int:
    """The program's return value for this struct seccomp_data (linux/seccomp.h)."""
    data = struct.pack("<iIQ6Q", nr, arch, ip, *args)
    a = pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == 0x20:                            # BPF_LD | BPF_W | BPF_ABS
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:                          # BPF_ALU | BPF_AND | BPF_K
            a &= k
        elif code == 0x06:                          # BPF_RET | BPF_K
            return k
        elif code == 0x05:                          # BPF_JMP | BPF_JA
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):      # jeq, jgt, jge, jset (BPF_K)
            hit = {0x15: a == k, 0x25: a > k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if hit else jf
        else:
            raise AssertionError(f"instruction {code:#x} at {pc - 1}: not in this interpreter")


@pytest.fixture(scope="module")
def programs():
    try:
        libseccomp.open_library()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"libseccomp: {exc}")
    section = seccomp_profile.docker_default(spec.DEFAULT_CAPS)
    tree, _ = libseccomp.compile(section, seccomp.parse_flags, tree=True)
    linear, _ = libseccomp.compile(section, seccomp.parse_flags, tree=False)
    if tree == linear:
        pytest.skip("this libseccomp makes no binary tree (older than 2.5)")
    return section, _program(tree), _program(linear)


def test_the_tree_is_a_different_program(programs):
    _section, tree, linear = programs
    assert tree != linear
    jgt = sum(1 for code, *_ in tree if code == 0x25)
    assert jgt > sum(1 for code, *_ in linear if code == 0x25) + 50    # the tree's comparisons


def test_same_verdict_for_every_syscall_number(programs):
    _section, tree, linear = programs
    cases = [(nr, AUDIT_ARCH["x86_64"]) for nr in range(0, 600)]
    cases += [(nr | X32_BIT, AUDIT_ARCH["x86_64"]) for nr in range(0, 600)]
    cases += [(nr, AUDIT_ARCH["x86"]) for nr in range(0, 600)]
    cases += [(nr, 0xC00000B7) for nr in (0, 1, 59, 435)]         # aarch64: not in the profile
    allowed = 0
    for nr, arch in cases:
        v = run(linear, nr, arch)
        assert run(tree, nr, arch) == v, (hex(nr), hex(arch))
        allowed += v == 0x7FFF0000
    assert allowed > 300                    # the profile allows most calls: the test ran them


def test_same_verdict_for_the_argument_rules(programs):
    section, tree, linear = programs
    from pycontainer.security import libseccomp as ls
    lib = ls.open_library()
    rnd = random.Random(18)
    values = {0, 8, 38, 39, 40, 41, 0x20000, 0x20008, 0xFFFFFFFF, 0x10000000, 0x7E020000,
              1 << 32, (1 << 64) - 1}
    for rule in section["syscalls"]:
        if not rule.get("args"):
            continue
        for a in rule["args"]:
            values |= {a["value"], a["value"] + 1, a["value"] - 1 if a["value"] else 0}
        for name in rule["names"]:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue
            for v in sorted(values) + [rnd.getrandbits(64) for _ in range(8)]:
                for index in range(6):
                    args = [0] * 6
                    args[index] = v % (1 << 64)
                    got, want = run(tree, nr, AUDIT_ARCH["x86_64"], args), \
                        run(linear, nr, AUDIT_ARCH["x86_64"], args)
                    assert got == want, (name, index, hex(v))
