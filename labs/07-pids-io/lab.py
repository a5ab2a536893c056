"""Lab 07's program: a fork storm under pids.max, then a direct read under io.max."""

import mmap
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
cg = labkit.load_solution("05-memory-oom")


def in_cgroup(path: str, work) -> int:
    """Run work() in a child that is in PATH; return its exit status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(work())
    os.close(r)
    cg.join(path, pid)
    os.write(w, b"g")
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def fork_storm() -> int:
    started, kids = 0, []
    for _ in range(20):
        try:
            pid = os.fork()
        except BlockingIOError:          # EAGAIN: pids.max reached
            continue
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
        started += 1
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return started


def first_disk() -> tuple[str, int, int] | None:
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "ram", "zram", "sr", "nbd")):
            continue
        with open(f"/sys/block/{name}/dev") as f:
            major, minor = map(int, f.read().split(":"))
        if os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}", major, minor
    return None


def direct_read(device: str, nbytes: int) -> int:
    fd = os.open(device, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 1 << 20)             # page aligned, as O_DIRECT needs
    done = 0
    while done < nbytes:
        n = os.preadv(fd, [buf], done)
        if n <= 0:
            break
        done += n
    os.close(fd)
    return 0


pids_cg = cg.create_cgroup("pycontainer-lab07-pids", ["pids"])
ex.limit_pids(pids_cg, 8)
started = in_cgroup(pids_cg, fork_storm)
result = {"pids": pids_cg, "started": started, "io": None}
disk = first_disk()
if disk:
    device, major, minor = disk
    io_cg = cg.create_cgroup("pycontainer-lab07-io", ["io"])
    ex.limit_read_bps(io_cg, major, minor, 1 << 20)
    t0 = time.monotonic()
    in_cgroup(io_cg, lambda: direct_read(device, 2 << 20))
    result.update(io=io_cg, device=device, majmin=f"{major}:{minor}", read_s=time.monotonic() - t0)
labkit.report("07", **result)
