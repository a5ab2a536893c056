"""The init's last fd moves (process/finalize.py, security/exeseal.py): the sealed exec
helper goes to a *free* fd (it was dup2'ed over fd+1, whatever that was: the trace's sink,
which then lost the init's last events and closed the helper's fd), and close_from keeps
exactly the report socket and the helper, whatever their distance."""

import os

from pycontainer.process import finalize
from pycontainer.security import exeseal


def _in_child(fn) -> bytes:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, fn())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 4096)
    os.close(r)
    os.waitpid(pid, 0)
    return out


def test_place_never_lands_on_an_fd_in_use_and_close_from_keeps_both():
    def body():
        a, b, c, d = (os.open("/dev/null", os.O_RDONLY) for _ in range(4))
        report = finalize.move_fd_above(os.dup(a), 50)          # 50
        busy = os.dup2(b, report + 1)                            # someone's fd at report + 1
        dmz = exeseal.place(os.dup(c), report + 1)
        keep = min(a, b, c, d)
        finalize.close_from(keep, report, dmz)
        alive = sorted(int(n) for n in os.listdir("/proc/self/fd")
                       if int(n) >= keep and os.path.exists(f"/proc/self/fd/{n}"))   # not listdir's
        return repr((dmz != busy, dmz > report, alive == sorted({report, dmz}) or alive)).encode()
    assert _in_child(body) == b"(True, True, True)"
