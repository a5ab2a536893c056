"""Lab 09's program: two layers, an overlay, a copy-up, a whiteout and an opaque directory."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
area = os.path.join(labkit.state_dir("09"), "area")
os.makedirs(area, exist_ok=True)


def steps():
    # A mount namespace of our own and a tmpfs for the layers: the upper dir
    # cannot be on an overlay itself (as /tmp is in the VM lane).
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    syscalls.mount("tmpfs", area, "tmpfs", 0, "size=16m")
    d = {n: os.path.join(area, n) for n in ("bottom", "top", "upper", "work", "merged")}
    for p in d.values():
        os.makedirs(p)
    os.makedirs(f"{d['bottom']}/etc")
    os.makedirs(f"{d['bottom']}/data")
    for path, text in ((f"{d['bottom']}/etc/motd", "from the bottom layer\n"),
                       (f"{d['bottom']}/data/old", "old data\n"),
                       (f"{d['top']}/deleted.txt", "from the top layer\n")):
        with open(path, "w") as f:
            f.write(text)
    ex.mount_overlay(ex.overlay_options([d["top"], d["bottom"]], d["upper"], d["work"]), d["merged"])
    m = d["merged"]
    with open(f"{m}/etc/motd", "a") as f:          # copy-up
        f.write("and a line from the container\n")
    os.unlink(f"{m}/deleted.txt")                   # whiteout
    os.unlink(f"{m}/data/old")                      # opaque directory
    os.rmdir(f"{m}/data")
    os.mkdir(f"{m}/data")


pid = labkit.fork_and_stay(steps)
labkit.report("09", pid=pid, area=area)
labkit.wait_forever()
