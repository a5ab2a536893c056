#!/usr/bin/env python3
"""What loading docker's seccomp profile costs the kernel: the linear program and the binary tree.

    sudo /opt/pycontainer/bin/python bench/seccomp_load.py [-n ROUNDS]

libseccomp.compile makes a binary tree of syscall numbers (SCMP_FLTATR_CTL_OPTIMIZE=2);
this compiles docker's default profile (docker's 14 capabilities) both ways and times
``prctl(PR_SET_SECCOMP)`` of each in a fresh forked child (after PR_SET_NO_NEW_PRIVS),
alternating, and prints medians and the 10th percentile. Every container start and every
exec with the profile pays the load once (process/finalize.py: in the same C call as the
execve). The verdicts are the same (tests/unit/test_seccomp_tree.py).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pycontainer import spec, syscalls as sc  # noqa: E402
from pycontainer.security import libseccomp, seccomp, seccomp_profile  # noqa: E402

PR_SET_NO_NEW_PRIVS = 38


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=60)
    a = ap.parse_args()
    section = seccomp_profile.docker_default(spec.DEFAULT_CAPS)
    filters = {name: seccomp.Filter(*libseccomp.compile(section, seccomp.parse_flags, tree=tree))
               for name, tree in (("linear", False), ("tree", True))}
    ms: dict = {name: [] for name in filters}
    for _ in range(a.n):
        for name, flt in filters.items():
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    sc.prctl(PR_SET_NO_NEW_PRIVS, 1)
                    t = time.perf_counter_ns()
                    flt.load()
                    os.write(w, str(time.perf_counter_ns() - t).encode())
                finally:
                    os._exit(0)
            os.close(w)
            ms[name].append(int(os.read(r, 64) or 0) / 1e6)
            os.close(r)
            os.waitpid(pid, 0)
    for name, flt in filters.items():
        print(f"{name:6s} {flt.instructions:5d} instructions: load median {statistics.median(ms[name]):.3f} ms, "
              f"p10 {statistics.quantiles(ms[name], n=10)[0]:.3f} ms ({a.n} loads)")


if __name__ == "__main__":
    main()
