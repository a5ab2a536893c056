"""The cgroup v2 device program, instruction by instruction, and run in a tiny interpreter.

The interpreter below executes the handful of opcodes ebpf.py emits against a
``struct bpf_cgroup_dev_ctx``, so the rule semantics (last match wins, allow
needs every requested bit, deny refuses any) are checked without a kernel;
tests/vm/test_devices_v2.py checks the same program in a real kernel.
"""

import struct

import pytest

from pycontainer.cgroups import ebpf
from pycontainer.cgroups.devices import v1_rules

PROLOGUE = ["6112000000000000", "54020000ffff0000", "6113000000000000", "7403000010000000",
            "6114040000000000", "6115080000000000"]


def hexes(rules):
    return [i.hex() for i, _ in ebpf.program(rules)]


def test_insn_encoding():
    assert ebpf.insn(ebpf.LDX_MEM_W, ebpf.R4, ebpf.R1, 4) == bytes.fromhex("6114040000000000")
    assert ebpf.insn(ebpf.JMP_JNE_K, ebpf.R5, off=2, imm=229) == bytes.fromhex("55050200e5000000")
    assert ebpf.insn(ebpf.JMP_EXIT) == bytes.fromhex("9500000000000000")


def test_deny_all_is_prologue_and_return_0():
    assert hexes([(False, "a", None, None, 7)]) == PROLOGUE + ["b400000000000000", "9500000000000000"]


def test_allow_one_char_device_read_write():
    # checked last-to-first: the allow block, then the deny-all that ends the program
    assert hexes([(False, "a", None, None, 7), (True, "c", 10, 229, 6)]) == PROLOGUE + [
        "5502070002000000",     # if type != char (2) skip 7
        "bc31000000000000",     # r1 = access
        "5401000001000000",     # r1 &= ~rw & 7 = m
        "5501040000000000",     # if r1 != 0 skip 4
        "550403000a000000",     # if major != 10 skip 3
        "55050200e5000000",     # if minor != 229 skip 2
        "b400000001000000",     # r0 = 1
        "9500000000000000",     # exit
        "b400000000000000",     # deny-all: r0 = 0
        "9500000000000000"]


def test_wildcards_drop_their_tests_and_deny_uses_any_bit():
    prog = hexes([(True, "b", None, None, 1), (False, "c", 1, None, 4)])
    assert prog[6:] == [
        "5502060002000000",     # deny c 1:* w : type != char skip 6
        "bc31000000000000", "5401000004000000",   # r1 = access & w
        "1501030000000000",     # if r1 == 0 skip 3
        "5504020001000000",     # if major != 1 skip 2
        "b400000000000000", "9500000000000000",  # r0 = 0
        "5502050001000000",     # allow b *:* m : type != block skip 5
        "bc31000000000000", "5401000006000000", "5501020000000000",
        "b400000001000000", "9500000000000000",
        "b400000000000000", "9500000000000000"]  # nothing matched: deny


def test_every_instruction_has_a_comment():
    prog = ebpf.program([ebpf.parse_rule(k, r) for k, r in v1_rules([])])
    assert all(c for _, c in prog)
    assert "r2 = ctx->access_type" in ebpf.disassemble(prog)


def run(code: bytes, typ: str, major: int, minor: int, access: str) -> int:
    """Interpret the program for one access (what the kernel does)."""
    acc = sum(ebpf.ACCESS_BITS[c] for c in access)
    ctx = struct.pack("<III", (acc << 16) | (1 if typ == "b" else 2), major, minor)
    r = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    while True:
        op, regs, off, imm = insns[pc]
        dst, src = regs & 15, regs >> 4
        pc += 1
        if op == ebpf.LDX_MEM_W:
            r[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == ebpf.ALU_AND_K:
            r[dst] &= imm & 0xFFFFFFFF
        elif op == ebpf.ALU_RSH_K:
            r[dst] >>= imm
        elif op == ebpf.ALU_MOV_K:
            r[dst] = imm
        elif op == ebpf.ALU_MOV_X:
            r[dst] = r[src]
        elif op == ebpf.JMP_JNE_K:
            pc += off if r[dst] != imm else 0
        elif op == ebpf.JMP_JEQ_K:
            pc += off if r[dst] == imm else 0
        elif op == ebpf.JMP_EXIT:
            return r[0]
        else:
            raise AssertionError(f"unknown opcode {op:#x}")


@pytest.mark.parametrize("spec_rules, access, want", [
    ([], ("c", 1, 3, "rw"), 1),                 # /dev/null, default allow list
    ([], ("c", 136, 7, "rw"), 1),               # /dev/pts/7
    ([], ("c", 10, 229, "r"), 0),               # fuse: not allowed by default
    ([], ("c", 10, 229, "m"), 1),               # but mknod of anything is (runc's defaults)
    ([], ("b", 8, 0, "r"), 0),
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}], ("c", 10, 229, "rw"), 1),
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}], ("c", 10, 229, "rw"), 0),
    ([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}], ("c", 10, 230, "r"), 0),
    ([{"allow": True, "type": "c", "major": 10, "access": "rwm"}], ("c", 10, 1, "w"), 1),
    ([{"allow": True, "access": "rwm"}], ("b", 8, 0, "rw"), 1),     # privileged: allow all
])
def test_program_decides_like_the_v1_rules(spec_rules, access, want):
    code = ebpf.compile_rules(v1_rules([{"allow": False, "access": "rwm"}] + spec_rules))
    assert run(code, *access) == want
