"""The cgroup v2 device controller: an eBPF program the kernel runs on every device access.

Cgroup v2 has no ``devices.allow`` file. Instead (Documentation/admin-guide/
cgroup-v2.rst, "Device controller"; bpf(2); include/uapi/linux/bpf.h) a
program of type BPF_PROG_TYPE_CGROUP_DEVICE is attached to the cgroup with
BPF_PROG_ATTACH (attach type BPF_CGROUP_DEVICE). On each open(2) or mknod(2)
of a device node by a process in the cgroup, the kernel runs it with a
``struct bpf_cgroup_dev_ctx``::

    u32 access_type;   /* (BPF_DEVCG_ACC_{MKNOD=1,READ=2,WRITE=4} << 16) | BPF_DEVCG_DEV_{BLOCK=1,CHAR=2} */
    u32 major;
    u32 minor;

and the access is allowed if it returns 1, refused with EPERM if it returns 0.

This module compiles the device rules (the same list the v1 files get:
``devices.v1_rules`` - deny all, the config's ``linux.resources.devices``,
then runc's default allow list) into that program, one block of
instructions per rule, as runc (libcontainer/cgroups/devices/devicefilter.go)
and crun (src/libcrun/ebpf.c) do. Rules are checked from the last to the
first and the first that matches decides, so a later rule overrides an
earlier one as later writes do in v1; no match means deny. An allow rule
matches when it grants every requested access bit, a deny rule when it
refuses any of them.

The program is loaded with BPF_PROG_LOAD and attached without flags, which
makes it the cgroup's only device program: attaching again (``update``)
replaces it atomically (kernel/bpf/cgroup.c), and removing the cgroup
detaches it. The 8-byte instruction format is ``struct bpf_insn``:
``u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm``.
"""

from __future__ import annotations

import _struct as struct      # struct's C half: struct.py adds an import, nothing more
import posix

from ..errors import CgroupError

# bpf(2) commands, program and attach types (include/uapi/linux/bpf.h); BPF_PROG_LOAD is
# made in C (csrc/native.c pyc_bpf_prog_load), which takes the constant from that header
BPF_PROG_ATTACH = 8
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6

# ctx fields
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
ACCESS_BITS = {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}

# opcodes: class | op | source (include/uapi/linux/bpf_common.h, bpf.h)
LDX_MEM_W = 0x61        # BPF_LDX | BPF_MEM | BPF_W : dst = *(u32 *)(src + off)
ALU_AND_K = 0x54        # BPF_ALU | BPF_AND | BPF_K : dst &= imm (32-bit)
ALU_RSH_K = 0x74        # BPF_ALU | BPF_RSH | BPF_K : dst >>= imm (32-bit)
ALU_MOV_K = 0xB4        # BPF_ALU | BPF_MOV | BPF_K : dst = imm (32-bit)
ALU_MOV_X = 0xBC        # BPF_ALU | BPF_MOV | BPF_X : dst = src (32-bit)
JMP_JNE_K = 0x55        # BPF_JMP | BPF_JNE | BPF_K : if dst != imm goto pc+off
JMP_JEQ_K = 0x15        # BPF_JMP | BPF_JEQ | BPF_K : if dst == imm goto pc+off
JMP_EXIT = 0x95         # BPF_JMP | BPF_EXIT        : return r0

R0, R1, R2, R3, R4, R5 = range(6)


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn`` in the host's (little-endian) byte order."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def parse_rule(kind: str, rule: str) -> tuple[bool, str, int | None, int | None, int]:
    """A v1 line (``"allow", "c 1:3 rwm"`` / ``"deny", "a"``) -> (allow, type, major, minor, access bits)."""
    allow = kind == "allow"
    if rule == "a":
        return allow, "a", None, None, 7
    typ, nums, access = rule.split()
    major, minor = nums.split(":")
    return (allow, typ, None if major == "*" else int(major), None if minor == "*" else int(minor),
            sum(ACCESS_BITS[c] for c in access))


def program(rules: list[tuple[bool, str, int | None, int | None, int]]) -> list[tuple[bytes, str]]:
    """The program for ``rules`` (first to last) as [(instruction, comment)]."""
    prog = [
        # r1 holds the ctx pointer on entry; copy the three fields to r2..r5.
        (insn(LDX_MEM_W, R2, R1, 0), "r2 = ctx->access_type"),
        (insn(ALU_AND_K, R2, imm=0xFFFF), "r2 &= 0xffff: the device type (1 block, 2 char)"),
        (insn(LDX_MEM_W, R3, R1, 0), "r3 = ctx->access_type"),
        (insn(ALU_RSH_K, R3, imm=16), "r3 >>= 16: the requested access (1 mknod, 2 read, 4 write)"),
        (insn(LDX_MEM_W, R4, R1, 4), "r4 = ctx->major"),
        (insn(LDX_MEM_W, R5, R1, 8), "r5 = ctx->minor"),
    ]
    for allow, typ, major, minor, access in reversed(rules):
        block = _rule_block(allow, typ, major, minor, access)
        prog += block
        if len(block) == 2:           # matches everything: no later block can run
            return prog
    prog += [(insn(ALU_MOV_K, R0, imm=0), "r0 = 0: no rule matched, deny"),
             (insn(JMP_EXIT), "return r0")]
    return prog


def _rule_block(allow, typ, major, minor, access) -> list[tuple[bytes, str]]:
    """Tests that jump past the block when the rule does not match, then return allow/deny."""
    what = f"{'allow' if allow else 'deny'} {typ} {'*' if major is None else major}:" \
           f"{'*' if minor is None else minor} {''.join(c for c, b in ACCESS_BITS.items() if access & b)}"
    tests: list[tuple[int, int, int, str]] = []     # (opcode, reg, imm, comment), jump on mismatch
    pre: list[tuple[bytes, str]] = []
    if typ != "a":
        t = DEV_BLOCK if typ == "b" else DEV_CHAR
        tests.append((JMP_JNE_K, R2, t, f"type != {typ}: next rule"))
    if access != 7:
        if allow:
            pre = [(insn(ALU_MOV_X, R1, R3), "r1 = requested access"),
                   (insn(ALU_AND_K, R1, imm=~access & 7), "r1 &= bits this rule does not grant")]
            tests.append((JMP_JNE_K, R1, 0, "asks for more than the rule grants: next rule"))
        else:
            pre = [(insn(ALU_MOV_X, R1, R3), "r1 = requested access"),
                   (insn(ALU_AND_K, R1, imm=access), "r1 &= bits this rule refuses")]
            tests.append((JMP_JEQ_K, R1, 0, "asks for none of them: next rule"))
    if major is not None:
        tests.append((JMP_JNE_K, R4, major, f"major != {major}: next rule"))
    if minor is not None:
        tests.append((JMP_JNE_K, R5, minor, f"minor != {minor}: next rule"))
    out: list[tuple[bytes, str]] = []
    # the type test comes before the access computation; the rest follow it
    ordered = ([("t", tests[0])] if typ != "a" else []) + [("p", p) for p in pre] + \
        [("t", t) for t in (tests[1:] if typ != "a" else tests)]
    n = len(ordered) + 2
    for i, (k, item) in enumerate(ordered):
        if k == "p":
            out.append(item)
        else:
            code, reg, imm, comment = item
            out.append((insn(code, reg, off=n - i - 1, imm=imm), f"[{what}] {comment}"))
    out += [(insn(ALU_MOV_K, R0, imm=1 if allow else 0), f"[{what}] matched: r0 = {int(allow)}"),
            (insn(JMP_EXIT), "return r0")]
    return out


def compile_rules(v1_lines: list[tuple[str, str]]) -> bytes:
    """The program's bytes for the ``devices.v1_rules`` output."""
    return b"".join(i for i, _ in program([parse_rule(k, r) for k, r in v1_lines]))


def disassemble(prog: list[tuple[bytes, str]]) -> str:
    """The program as text, one instruction and its comment per line (for --trace and tests)."""
    return "\n".join(f"{n:3d}: {i.hex()}  ; {c}" for n, (i, c) in enumerate(prog))


# --- loading and attaching -------------------------------------------------------------

def load(code: bytes) -> int:
    """BPF_PROG_LOAD the program; -> its fd.

    Loaded without a verifier log (a long program's log can overflow its
    buffer and fail the load by itself); on failure it is loaded again with
    the log, whose last line goes into the error, as runc does. The call is
    ``_nscalls.bpf_prog_load`` (csrc/nscalls.c), which fills ``union bpf_attr``:
    it holds pointers to the instructions, the license and the log.
    """
    from .. import syscalls as sc
    # any license string: the program calls no GPL-only helper
    try:
        return sc.bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, code, b"Apache-2.0", b"pyc_devices")
    except OSError as exc:
        first = exc
    log = bytearray(1 << 16)
    try:
        return sc.bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, code, b"Apache-2.0", b"pyc_devices", log)
    except OSError:
        pass
    text = [line for line in bytes(log).split(b"\0", 1)[0].decode(errors="replace").strip().splitlines()
            if not line.startswith(("processed ", "verification time"))]
    raise CgroupError(f"BPF_PROG_LOAD of the device program: {posix.strerror(first.errno)}"
                      + (f" (verifier: {text[-1]})" if text else ""),
                      stage="cgroup", errno=first.errno) from None


def attach(cgroup_dir: str, prog_fd: int) -> None:
    """BPF_PROG_ATTACH to the cgroup, replacing the device program it has (flags 0)."""
    from .. import syscalls as sc
    cg = posix.open(cgroup_dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        # target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd
        attr = struct.pack("<IIIII", cg, prog_fd, BPF_CGROUP_DEVICE, 0, 0)
        sc.bpf(BPF_PROG_ATTACH, attr + b"\0" * (128 - len(attr)))
    except OSError as exc:
        raise CgroupError(f"BPF_PROG_ATTACH of the device program to {cgroup_dir}: {exc.strerror}",
                          stage="cgroup", errno=exc.errno) from None
    finally:
        posix.close(cg)


def attached(cgroup_dir: str) -> int:
    """How many device programs are attached to the cgroup itself (BPF_PROG_QUERY)."""
    from .. import syscalls as sc
    cg = posix.open(cgroup_dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        # target_fd, attach_type, query_flags, attach_flags, prog_ids (ptr), prog_cnt
        attr = bytearray(struct.pack("<IIIIQI", cg, BPF_CGROUP_DEVICE, 0, 0, 0, 0).ljust(128, b"\0"))
        sc.bpf(BPF_PROG_QUERY, attr)
        return struct.unpack_from("<I", attr, 24)[0]
    finally:
        posix.close(cg)


def install(cgroup_dir: str, spec_rules: list) -> None:
    """Compile the rules (the config's plus the defaults), load, attach, close our fd."""
    from .devices import v1_rules
    fd = load(compile_rules(v1_rules(spec_rules)))
    try:
        attach(cgroup_dir, fd)
    finally:
        posix.close(fd)
