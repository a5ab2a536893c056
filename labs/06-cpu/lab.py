"""Lab 06's program: a capped busy child, then two busy children sharing one CPU by weight."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
cg = labkit.load_solution("05-memory-oom")


def busy_child(path: str, cpu: int | None, seconds: float) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)                     # in the cgroup now
        if cpu is not None:               # after the move: joining a cgroup whose cpuset
            os.sched_setaffinity(0, {cpu})  # controller is on resets the CPU affinity
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        os._exit(0)
    os.close(r)
    cg.join(path, pid)
    return pid, w


def usage(path: str) -> int:
    stat = dict(l.split() for l in labkit.cgroup_read(path, "cpu.stat").splitlines())
    return int(stat["usage_usec"])


capped = cg.create_cgroup("pycontainer-lab06-capped", ["cpu"])
ex.set_cpu_max(capped, 20000, 100000)
pid, go = busy_child(capped, None, 2.0)
t0 = time.monotonic()
os.write(go, b"g")
os.waitpid(pid, 0)
wall = time.monotonic() - t0
capped_share = usage(capped) / 1e6 / wall

light = cg.create_cgroup("pycontainer-lab06-w100", ["cpu"])
heavy = cg.create_cgroup("pycontainer-lab06-w300", ["cpu"])
ex.set_cpu_weight(light, 100)
ex.set_cpu_weight(heavy, 300)
cpu = min(os.sched_getaffinity(0))
kids = [busy_child(light, cpu, 3.0), busy_child(heavy, cpu, 3.0)]
for _, go in kids:
    os.write(go, b"g")
time.sleep(0.5)                              # both spinning, on the same CPU, competing now
l0, h0, t0 = usage(light), usage(heavy), time.monotonic()
time.sleep(2.0)
light_usec, heavy_usec, window = usage(light) - l0, usage(heavy) - h0, time.monotonic() - t0
for pid, _ in kids:
    os.waitpid(pid, 0)
labkit.report("06", capped=capped, light=light, heavy=heavy, capped_share=capped_share,
              light_usec=light_usec, heavy_usec=heavy_usec, window=window)
