"""Lab 05's program: a child in a 32 MiB cgroup tries to use 256 MiB."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402

LIMIT = 32 << 20
ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
path = ex.create_cgroup("pycontainer-lab05", ["memory"])
ex.limit_memory(path, LIMIT)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    os.read(r, 1)                         # wait until we are in the cgroup
    hog = bytearray(256 << 20)            # 256 MiB, touched page by page
    for i in range(0, len(hog), 4096):
        hog[i] = 1
    os._exit(0)
os.close(r)
ex.join(path, pid)
os.write(w, b"g")
_, status = os.waitpid(pid, 0)
labkit.report("05", path=path, limit=LIMIT,
              signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
              exit=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None)
