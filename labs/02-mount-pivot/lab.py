"""Lab 02's program: a child in a new mount namespace pivots into a busybox rootfs."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
rootfs = labkit.busybox_rootfs(os.path.join(labkit.state_dir("02"), "rootfs"))


def steps():
    syscalls.unshare(syscalls.CLONE_NEWNS)
    ex.make_private()
    ex.pivot_into(rootfs)


pid = labkit.fork_and_stay(steps)
labkit.report("02", pid=pid, rootfs=rootfs)
labkit.wait_forever()
