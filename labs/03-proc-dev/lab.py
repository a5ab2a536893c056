"""Lab 03's program: PID 1 of new mount+PID namespaces with /dev, /proc, a mask and a read-only path."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402

# The first of OCI's default masked paths this kernel has (/proc/kcore needs CONFIG_PROC_KCORE).
MASK_CANDIDATES = ["/proc/kcore", "/proc/keys", "/proc/timer_list"]
ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
lab02 = labkit.load_solution("02-mount-pivot")
rootfs = labkit.busybox_rootfs(os.path.join(labkit.state_dir("03"), "rootfs"))
syscalls.unshare(syscalls.CLONE_NEWPID)   # our next child is PID 1 of a new PID namespace
r, w = os.pipe()
pid = os.fork()
if pid == 0:                       # PID 1 inside
    os.close(r)
    try:
        # The mount namespace belongs to the child alone: pivot_root moves every
        # process of the namespace whose root is the old root, the parent too.
        syscalls.unshare(syscalls.CLONE_NEWNS)
        lab02.make_private()
        ex.make_dev(rootfs)        # before the pivot: the host's /dev is still there
        lab02.pivot_into(rootfs)
        ex.mount_proc()
        masked = next(p for p in MASK_CANDIDATES if os.path.exists(p))
        ex.mask(masked)
        ex.make_readonly("/proc/sys")
        os.write(w, b"ok")
    except Exception as e:
        os.write(w, f"{type(e).__name__}: {e}".encode())
        os._exit(1)
    os.close(w)
    labkit.wait_forever()
os.close(w)
msg = os.read(r, 4096).decode()
if msg != "ok":
    sys.exit(msg)
masked = next(p for p in MASK_CANDIDATES if os.path.exists(p))
labkit.report("03", pid=pid, rootfs=rootfs, masked=masked)
labkit.wait_forever()
