"""CVE-2019-5736: the runtime's own executable out of the container's reach.

While pycontainer sets a container up, some of its processes (stage 1, the
init, exec's joiner and new process) live inside the container's
namespaces, and the kernel names their executable in ``/proc/<pid>/exe``
— a *magic link* that opens the host's file whatever the mount namespace.
For pycontainer that file is the host's Python interpreter (here
``/root/.pyenv/versions/3.11.7/bin/python3.11``), and its code lives in
``libpython3.11.so`` and ``pycontainer/_nscalls*.so``. Two ways in
(security.md S01, S11):

1. A process already in the container opens ``/proc/<runtime pid>/exe``
   (or ``/mem``, ``/fd/N``, ``/map_files/...``) while the runtime is there
   (``exec`` into a running container; a shared pid namespace).
2. The container's program is ``#!/proc/self/exe`` (or an ELF whose
   interpreter is ``/proc/self/exe``): the kernel resolves that *during* the
   runtime's final execve, in the runtime's own context, and runs the host
   interpreter inside the container; a container process then holds an
   ``O_PATH`` fd to it and, once it stops running (ETXTBSY until then),
   reopens it for writing through ``/proc/self/fd/N`` and trojans every
   Python program on the host.

The defences, and why these (measured on the CI machine, kernel 6.18):

* **Non-dumpable runtime stages** (``prctl(PR_SET_DUMPABLE, 0)``, set in
  stage 0 just before it forks, so stage 1, the init, the exec joiner and
  the exec'd process inherit it; runc's nsexec does the same). Every
  ``/proc/<pid>/`` file of a non-dumpable process is owned by root and
  guarded by ``ptrace_may_access``: only a caller with CAP_SYS_PTRACE *in the
  user namespace the runtime's memory belongs to* (the host's) gets in. That
  closes way 1 for every container without host CAP_SYS_PTRACE (docker's
  default set has none; a user namespace never grants it over the host).
  Cost: one prctl, ~1 µs. The kernel makes a process dumpable again at
  execve, i.e. only once the container's own program runs.
* **A sealed "dmz" exec** for way 2 (runc 1.2.0-rc's ``runc-dmz``). The
  init's last step is not ``execve(program)`` but ``execveat`` of an 840-byte
  static x86-64 program held in a sealed memfd (``F_SEAL_SEAL|SHRINK|GROW|
  WRITE``), which does nothing but ``execve(argv[1], &argv[2], envp)`` (and, if that
  fails, says why on stderr, as runc's init does). At the
  moment the kernel resolves the program (and any ``#!/proc/self/exe``),
  ``/proc/self/exe`` is that memfd: the container can re-run it but never
  write it (and re-run by a ``#!`` line it gets no argv[0] for a program and
  exits 127, so it cannot even loop). Cost, measured: making the sealed
  memfd in stage 0 takes 13 µs; the extra execve of an 840-byte static binary
  with no dynamic loader is below the noise of fork+exec (< 0.1 ms). Its source is ``dmz_x86_64.S`` beside this file;
  ``tests/security/test_cve_2019_5736.py`` rebuilds it with binutils and
  checks the bytes here are that program.

Why not re-execute the interpreter itself from a sealed memfd, as runc and
crun do with their binary (security.md's first sketch)? runc pays nothing
extra for it because ``runc init`` is an exec anyway; pycontainer's stages
are forks of one process, so it would cost a second interpreter start on
every create, run and exec — measured at 11-14 ms here, more than a third
of runc's whole ``run`` (40 ms) — and it could not protect the Python API,
whose stage 0 is the caller's own process. PR_SET_MM_EXE_FILE, which
repoints ``/proc/self/exe`` without an exec, needs CAP_SYS_RESOURCE (absent
on the CI machine) and no remaining mapping of the old file. The ``_nscalls``
extension and ``libpython`` are mapped, never open fds: reaching them needs
``/proc/<pid>/map_files`` (CAP_SYS_ADMIN in the host namespace *and* the
ptrace check above), so non-dumpable covers them.

What is not covered: a container given CAP_SYS_PTRACE in the host user
namespace (``--cap-add SYS_PTRACE`` or ``--privileged``) can still open the
runtime's ``/proc/<pid>/exe`` while it sets up; on architectures other than
x86-64 the dmz is not built and way 2 stays open (``available()`` says so).
"""

from __future__ import annotations

import fcntl
import posix


PR_SET_DUMPABLE = 4
MFD_EXEC = 0x0010                   # memfd_create(2), Linux 6.3+: explicitly executable
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8
SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
MEMFD_NAME = "pycontainer-dmz"

# `as --64 dmz_x86_64.S && ld -static -nostdlib -s --build-id=none -z noexecstack
#  -z noseparate-code` (GNU binutils 2.40); sha256 946bfab3eab0df8b262cafe9eac2c75a...
DMZ_X86_64 = bytes.fromhex(      # hex, not base64: importing base64 costs 0.7 ms
    "7f454c4602010100000000000000000002003e0001000000b000400000000000400000000000000088020000"
    "0000000000000000400038000200400003000200010000000500000000000000000000000000400000000000"
    "000040000000000074020000000000007402000000000000001000000000000051e574640600000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000001000000000000000"
    "488b0c244883f9030f82ae000000488b7c2410488d742418488d54cc10b83b0000000f054989c44c8b6c2410"
    "488d35a2000000ba12000000e88b0000004c89ee31d2803c1600740548ffc2ebf5e87600000041be7e000000"
    "488d3588000000ba450000004983fcf87448488d35bb000000ba140000004983fcf37436488d35bd000000ba"
    "1a0000004983fcff742441be7f000000488d35bf000000ba590000004983fcfe740c488d3506010000ba1100"
    "0000e8110000004489f7eb05bf7f000000b8e70000000f05b801000000bf020000000f05c37079636f6e7461"
    "696e65723a2065786563203a206578656320666f726d6174206572726f7220286e6f202321206c696e652c20"
    "6f7220616e6f746865722061726368697465637475726527732070726f6772616d3f290a3a207065726d6973"
    "73696f6e2064656e6965640a3a206f7065726174696f6e206e6f74207065726d69747465640a3a206e6f2073"
    "7563682066696c65206f72206469726563746f7279202861206d697373696e6720696e746572707265746572"
    "3a20697473202321206c696e6527732c206f722069747320454c46206c6f6164657227733f290a3a2063616e"
    "6e6f7420657865637574650a002e7368737472746162002e7465787400000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000b000000010000000600000000000000b000400000000000b000000000000000c4010000"
    "0000000000000000000000000100000000000000000000000000000001000000030000000000000000000000"
    "0000000000000000740200000000000011000000000000000000000000000000010000000000000000000000"
    "00000000")
_DMZ = {"x86_64": DMZ_X86_64}


def available() -> bool:
    return posix.uname().machine in _DMZ


def nondumpable() -> None:
    """Stage 0, right before it forks the processes that enter the container."""
    from .. import syscalls
    syscalls.prctl(PR_SET_DUMPABLE, 0)


def dmz_fd(min_fd: int = 3) -> int | None:
    """A read-only, sealed, close-on-exec memfd holding the dmz, numbered >= ``min_fd``.

    Made in stage 0 (the host's procfs reopens it read-only: an fd open for
    writing would make execve fail with ETXTBSY). None where no dmz exists
    for this architecture or the kernel refuses executable memfds
    (vm.memfd_noexec=2): the init then execs the program directly.
    """
    code = _DMZ.get(posix.uname().machine)
    if code is None:
        return None
    flags = posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING
    try:
        rw = posix.memfd_create(MEMFD_NAME, flags | MFD_EXEC)
    except OSError:
        try:
            rw = posix.memfd_create(MEMFD_NAME, flags)     # before 6.3 there is no MFD_EXEC
        except OSError:
            return None
    try:
        posix.write(rw, code)
        posix.fchmod(rw, 0o555)
        fcntl.fcntl(rw, fcntl.F_ADD_SEALS, SEALS)
        ro = posix.open(f"/proc/self/fd/{rw}", posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return None
    finally:
        posix.close(rw)
    if ro >= min_fd:
        return ro
    high = fcntl.fcntl(ro, fcntl.F_DUPFD_CLOEXEC, min_fd)
    posix.close(ro)
    return high


def place(fd: int | None, low: int) -> int | None:
    """Move the dmz fd to the lowest free fd >= ``low`` (F_DUPFD_CLOEXEC: never over an fd
    in use, such as the trace's) and return it; the init closes every other fd above."""
    if fd is None:
        return None
    if fd >= low:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    posix.close(fd)
    return new
