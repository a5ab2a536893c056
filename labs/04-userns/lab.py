"""Lab 04's program: a child in a new user namespace, mapped by the parent, becomes root inside."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402
from pycontainer import syscalls  # noqa: E402

OUTSIDE, COUNT = 100000, 65536
ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
shared = os.path.join(labkit.state_dir("04"), "shared")
os.makedirs(shared, exist_ok=True)
os.chmod(shared, 0o1777)            # writable by the child's outside uid
to_parent, from_child = os.pipe()
from_parent, to_child = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(to_parent)                       # so a parent that dies gives us EOF, not a hang
    os.close(to_child)
    syscalls.unshare(syscalls.CLONE_NEWUSER)
    os.write(from_child, b"u")               # "I have unshared: map me"
    if os.read(from_parent, 1) != b"m":       # "mapped"
        os._exit(1)
    os.setresgid(0, 0, 0)                     # root inside: possible only once mapped
    os.setresuid(0, 0, 0)
    with open(os.path.join(shared, "made-by-root-inside"), "w") as f:
        f.write(f"uid inside: {os.getuid()}\n")
    os.write(from_child, b"d")
    labkit.wait_forever()
os.close(from_child)
os.close(from_parent)
os.read(to_parent, 1)
ex.write_id_maps(pid, OUTSIDE, COUNT)
os.write(to_child, b"m")
if os.read(to_parent, 1) != b"d":
    sys.exit("the child could not become root inside: are both maps written?")
labkit.report("04", pid=pid, outside=OUTSIDE, count=COUNT, shared=shared)
labkit.wait_forever()
