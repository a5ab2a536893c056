"""Lab 02's program: a child in a new mount namespace pivots into a busybox rootfs."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
rootfs = labkit.busybox_rootfs(os.path.join(labkit.state_dir("02"), "rootfs"))
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    try:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        ex.make_private()
        ex.pivot_into(rootfs)
        os.write(w, b"ok")
    except Exception as e:  # tell the parent, which reports it
        os.write(w, f"{type(e).__name__}: {e}".encode())
        os._exit(1)
    os.close(w)
    labkit.wait_forever()
os.close(w)
msg = os.read(r, 4096).decode()
if msg != "ok":
    sys.exit(msg)
labkit.report("02", pid=pid, rootfs=rootfs)
labkit.wait_forever()
