"""Lab 10's program: a child drops capabilities, sets no_new_privs, loads a filter, tries mkdir."""

import ctypes
import errno
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402

KEEP = ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
SYS_MKDIR, SYS_MKDIRAT = 83, 258       # x86-64 syscall numbers (asm/unistd_64.h)
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def load_filter(prog: list[tuple[int, int, int, int]]) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog)."""
    arr = (SockFilter * len(prog))(*[SockFilter(*ins) for ins in prog])
    fprog = SockFprog(len(prog), arr)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_SECCOMP): {os.strerror(e)}")


ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
target = os.path.join(labkit.state_dir("10"), "made-by-child")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    try:
        ex.drop_capabilities(KEEP)
        ex.set_no_new_privs()
        load_filter(ex.seccomp_program([SYS_MKDIR, SYS_MKDIRAT], errno.EPERM))
        try:
            os.mkdir(target)
            result = {"mkdir": "succeeded"}
        except OSError as e:
            result = {"mkdir": errno.errorcode.get(e.errno, str(e.errno))}
        os.write(w, json.dumps(result).encode())
    except Exception as e:
        os.write(w, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        os._exit(1)
    os.close(w)
    labkit.wait_forever()
os.close(w)
result = json.loads(os.read(r, 4096) or b'{"error": "the child died (a KILL from its own filter?)"}')
if "error" in result:
    sys.exit(result["error"])
labkit.report("10", pid=pid, keep=KEEP, target=target, **result)
labkit.wait_forever()
