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


def steps():                       # in PID 1 of the new PID namespace
    # The mount namespace belongs to the child alone: pivot_root moves every
    # process of the namespace whose root is the old root, the parent too.
    syscalls.unshare(syscalls.CLONE_NEWNS)
    lab02.make_private()
    ex.make_dev(rootfs)            # before the pivot: the host's /dev is still there
    lab02.pivot_into(rootfs)
    ex.mount_proc()
    ex.mask(next(p for p in MASK_CANDIDATES if os.path.exists(p)))
    ex.make_readonly("/proc/sys")


pid = labkit.fork_and_stay(steps)
masked = next(p for p in MASK_CANDIDATES if os.path.exists(p))
labkit.report("03", pid=pid, rootfs=rootfs, masked=masked)
labkit.wait_forever()
