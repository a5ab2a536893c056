#!/usr/bin/env python3
"""Soak: many sandboxes (default 10,000) from a few threads, then check that nothing leaked.

    sudo /opt/pycontainer/bin/python bench/soak_sandbox.py [-n 10000] [--threads 4] [--pool]

Not part of CI (it runs for a long time). Every 500 runs, and at the end, it
prints and checks: the caller's fds and RSS, the helper's RSS and fds, the
cgroups, mounts, container dirs and network leases naming a sandbox of this
run, the bridge-family egress map. A mix of programs: ``true``, output on
both streams, a timeout, a non-zero exit, a memory limit hit, and (with
--bridge) bridged sandboxes with the egress policy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CDIR = "/var/lib/pycontainer/containers"
LEASES = "/var/lib/pycontainer/network"


def rss_kib(pid="self") -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith("VmRSS:")))


def leftovers(ids: set) -> dict:
    out = {}
    with open("/proc/self/mountinfo") as f:
        out["mounts"] = [ln.split()[4] for ln in f if any(i in ln for i in ids)]
    cg = []
    for base, _dirs, _files in os.walk("/sys/fs/cgroup"):
        if os.path.basename(base) in ids:
            cg.append(base)
        if base.count("/") > 6:
            _dirs[:] = []
    out["cgroups"] = cg
    out["dirs"] = [i for i in ids if os.path.exists(os.path.join(CDIR, i))]
    leases = []
    for base, _d, files in os.walk(LEASES):
        leases += [f for f in files if f in ids]
    out["leases"] = leases
    return {k: v for k, v in out.items() if v}


PROGRAMS = [
    (["true"], {}),
    (["sh", "-c", "echo out; echo err >&2"], {}),
    (["sleep", "5"], {"timeout": 0.2}),
    (["sh", "-c", "exit 3"], {}),
    (["sh", "-c", "x=a; while :; do x=$x$x; done"], {"mem_limit": "16m", "timeout": 20}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--image", default="busybox")
    ap.add_argument("--bridge", action="store_true")
    a = ap.parse_args()
    import pycontainer
    root = tempfile.mkdtemp(prefix="pyc-soak-")
    client = pycontainer.Client(root=root)
    client.containers.sandbox(a.image, ["true"], network_mode="none")
    helper = client.transport.helper.proc.pid
    fds0, rss0, hrss0 = len(os.listdir("/proc/self/fd")), rss_kib(), rss_kib(helper)
    ids: set = set()
    lock = threading.Lock()
    done = [0]
    errors = []

    def work():
        while True:
            with lock:
                if done[0] >= a.n or errors:
                    return
                k = done[0]
                done[0] += 1
            cmd, kw = PROGRAMS[k % len(PROGRAMS)]
            net = "bridge" if a.bridge and k % 7 == 0 else "none"
            try:
                r = client.containers.sandbox(a.image, cmd, network_mode=net, **kw)
                with lock:
                    ids.add(r.id)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            if k % 500 == 499:
                report(k + 1)

    def report(k):
        print(f"{k:6d} runs  caller fds {len(os.listdir('/proc/self/fd'))} (start {fds0})  "
              f"caller RSS {rss_kib()} KiB (start {rss0})  helper RSS {rss_kib(helper)} KiB "
              f"(start {hrss0})  helper fds {len(os.listdir(f'/proc/{helper}/fd'))}", flush=True)

    t0 = time.monotonic()
    ts = [threading.Thread(target=work) for _ in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.monotonic() - t0
    time.sleep(1)
    left = leftovers(ids)
    report(done[0])
    print(f"{done[0]} sandboxes in {took:.0f}s ({done[0] / took:.1f}/s); errors: {errors[:3]}")
    print("leftovers:", left or "none")
    client.close()
    shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if errors or left else 0)


if __name__ == "__main__":
    main()
