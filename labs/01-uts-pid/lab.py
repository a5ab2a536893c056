"""Lab 01's program: new UTS + PID namespaces, a child as PID 1 with its own hostname."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
syscalls.unshare(ex.namespace_flags())   # we are in the new UTS ns; our children in the new PID ns
r, w = os.pipe()
pid = os.fork()
if pid == 0:                              # PID 1 of the new PID namespace
    os.close(r)
    ex.set_hostname("lab01")
    os.write(w, str(os.getpid()).encode())
    os.close(w)
    labkit.wait_forever()
os.close(w)
inside = int(os.read(r, 32) or b"0")
labkit.report("01", pid=pid, pid_inside=inside)
labkit.wait_forever()
