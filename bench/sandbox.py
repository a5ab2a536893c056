#!/usr/bin/env python3
"""The sandbox API's speed: cold sandbox(), warm pool.run(), throughput from threads, and crun.

    sudo /opt/pycontainer/bin/python bench/sandbox.py [-n RUNS] [--image busybox] [--json OUT]
    sudo /opt/pycontainer/bin/python bench/sandbox.py --interleaved [-n RUNS] [--gap 0.1]

* ``sandbox(["true"])``: p50/p99 of the caller's wall time, one at a time
  (network none: the network is another cost, measured in net_bench.py).
* ``pool.run(["true"])``: a pool of 4; a 50 ms pause between runs lets the
  background replacement keep up (an agent's loop has such pauses); also
  back to back, where replacement is the bottleneck.
* ``--interleaved``: only the cold ``sandbox(["true"])`` and the warm
  ``pool.run(["true"])`` alternately in one loop (``--gap`` seconds of pause
  before each, so the pool's background replacement of the previous run is
  not on either's clock), then the pool back to back: the ratio of the two
  under the same load, which a shared machine needs. No threads, crun, docker.
* 100 sandboxes from 8 threads: sandboxes per second.
* ``crun run`` of the same image's rootfs as a bundle (the layer itself,
  read-only root; no network namespace difference: both get a new one), in a
  private mount namespace without /sys/fs/cgroup/unified (crun refuses
  hybrid cgroup hosts), if crun is installed.

* with ``--docker PYTHON`` (an interpreter that has the docker SDK, e.g. a venv
  with ``pip install docker``; dockerd from Debian's docker.io): the same
  workload through ``docker.from_env().containers.run(image, ["true"],
  remove=True, network_mode="none")``. The bench starts its own dockerd
  (private --data-root/--exec-root/socket under a temp dir, ``--bridge=none
  --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false``: it
  touches no network setting of the host), loads the image into it from
  pycontainer's store (``image save``), and stops it and removes its
  directory afterwards.

Run on a loaded machine, numbers move: the script prints the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # engines.py


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(name, xs):
    return {"name": name, "n": len(xs), "p50_ms": round(statistics.median(xs) * 1e3, 2),
            "p99_ms": round(pct(xs, 99) * 1e3, 2)}


def bench_cold(client, image, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.containers.sandbox(image, ["true"], network_mode="none")
        out.append(time.perf_counter() - t)
        assert r.exit_code == 0, r
    return out


def bench_pool(client, image, n, gap):
    out = []
    with client.pool(image, size=4, network_mode="none") as pool:
        time.sleep(2)                                   # let it fill
        for _ in range(n):
            if gap:
                time.sleep(gap)
            t = time.perf_counter()
            r = pool.run(["true"])
            out.append(time.perf_counter() - t)
            assert r.exit_code == 0, r
    return out


def bench_interleaved(client, image, n, gap):
    """(cold sandbox() times, pool.run() times), alternating, ``gap`` s of pause before each."""
    cold, warm = [], []
    with client.pool(image, size=4, network_mode="none") as pool:
        time.sleep(2)
        for _ in range(n):
            time.sleep(gap)
            t = time.perf_counter()
            r = client.containers.sandbox(image, ["true"], network_mode="none")
            cold.append(time.perf_counter() - t)
            assert r.exit_code == 0, r
            time.sleep(gap)
            t = time.perf_counter()
            r = pool.run(["true"])
            warm.append(time.perf_counter() - t)
            assert r.exit_code == 0, r
    return cold, warm


def bench_threads(client, image, total=100, threads=8):
    errors = []
    per = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]

    def work(k):
        try:
            for _ in range(k):
                assert client.containers.sandbox(image, ["true"], network_mode="none").exit_code == 0
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    ts = [threading.Thread(target=work, args=(k,)) for k in per]
    t = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    took = time.perf_counter() - t
    assert not errors, errors[:3]
    return total / took


CRUN_LOOP = r"""
import json, subprocess, sys, time
bundle, n = sys.argv[1], int(sys.argv[2])
out = []
for i in range(n):
    t = time.perf_counter()
    subprocess.run(["crun", "run", "--bundle", bundle, f"pyc-bench-crun-{i}"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    out.append(time.perf_counter() - t)
print(json.dumps(out))
"""


def bench_crun(image, n):
    if not shutil.which("crun"):
        return None
    from pycontainer.image.store import Store
    img = Store().resolve(image)
    if len(img.layers) != 1:
        return None                                     # a bundle of a one-layer image only
    tmp = tempfile.mkdtemp(prefix="pyc-bench-crun-")
    try:
        subprocess.run(["crun", "spec"], cwd=tmp, check=True, capture_output=True)
        with open(os.path.join(tmp, "config.json")) as f:
            spec = json.load(f)
        spec["root"] = {"path": img.layers[0], "readonly": True}
        spec["process"]["args"] = ["true"]
        spec["process"]["terminal"] = False
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(spec, f)
        script = ("mount --make-rprivate / && (umount /sys/fs/cgroup/unified 2>/dev/null || true) && "
                  f"exec {sys.executable} -c \"$0\" {tmp} {n}")
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, CRUN_LOOP], capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            print("crun failed:", r.stderr.strip()[-300:], file=sys.stderr)
            return None
        return json.loads(r.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


DOCKER_LOOP = r"""
import json, sys, threading, time, docker
sock, image, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = docker.DockerClient(base_url="unix://" + sock, timeout=120)
for _ in range(3):
    c.containers.run(image, ["true"], remove=True, network_mode="none")
one = []
for _ in range(n):
    t = time.perf_counter()
    c.containers.run(image, ["true"], remove=True, network_mode="none")
    one.append(time.perf_counter() - t)
def work(k):
    for _ in range(k):
        c.containers.run(image, ["true"], remove=True, network_mode="none")
ts = [threading.Thread(target=work, args=(k,)) for k in [13, 13, 13, 13, 12, 12, 12, 12]]
t = time.perf_counter()
for th in ts: th.start()
for th in ts: th.join()
print(json.dumps({"one": one, "per_s": 100 / (time.perf_counter() - t)}))
"""


def bench_docker(python, image, n):
    """The docker SDK against a dockerd of our own (see the module docstring); None if absent."""
    from engines import private_dockerd
    with private_dockerd(image) as sock:
        if sock is None:
            return None
        r = subprocess.run([python, "-c", DOCKER_LOOP, sock, image, str(n)], capture_output=True, text=True,
                           timeout=900)
        if r.returncode != 0:
            print("docker SDK run failed:", r.stderr.strip()[-300:], file=sys.stderr)
            return None
        return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--image", default="busybox")
    ap.add_argument("--json")
    ap.add_argument("--docker", metavar="PYTHON", help="an interpreter with the docker SDK")
    ap.add_argument("--interleaved", action="store_true",
                    help="only cold sandbox() and pool.run() alternately, then pool.run back to back")
    ap.add_argument("--gap", type=float, default=0.1, help="--interleaved: pause before each run (s)")
    a = ap.parse_args()
    import pycontainer
    root = tempfile.mkdtemp(prefix="pyc-bench-sandbox-")
    client = pycontainer.Client(root=root)
    res = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    try:
        bench_cold(client, a.image, 5)                  # warm the helper and the page cache
        if a.interleaved:
            cold, warm = bench_interleaved(client, a.image, a.n, a.gap)
            res["sandbox"] = summary("sandbox(['true']), interleaved", cold)
            res["pool_interleaved"] = summary("pool.run(['true']), interleaved", warm)
            res["pool_back_to_back"] = summary("pool.run(['true']), back to back",
                                               bench_pool(client, a.image, a.n, 0))
            res["pool_ratio"] = round(res["pool_interleaved"]["p50_ms"] / res["sandbox"]["p50_ms"], 2)
            res["load_after"] = os.getloadavg()
            return report(res, a)
        res["sandbox"] = summary("sandbox(['true'])", bench_cold(client, a.image, a.n))
        res["pool_gap50ms"] = summary("pool.run(['true']), 50 ms between runs",
                                      bench_pool(client, a.image, a.n, 0.05))
        res["pool_back_to_back"] = summary("pool.run(['true']), back to back",
                                           bench_pool(client, a.image, a.n, 0))
        res["threads_per_s"] = round(bench_threads(client, a.image), 1)
        crun = bench_crun(a.image, min(a.n, 50))
        if crun:
            res["crun_run"] = summary("crun run (same rootfs as a bundle)", crun)
        if a.docker:
            dk = bench_docker(a.docker, a.image, min(a.n, 50))
            if dk:
                res["docker_sdk"] = summary("docker SDK containers.run(remove=True)", dk["one"])
                res["docker_threads_per_s"] = round(dk["per_s"], 1)
        res["load_after"] = os.getloadavg()
    finally:
        client.close()
        shutil.rmtree(root, ignore_errors=True)
    report(res, a)


def report(res, a):
    for k in ("sandbox", "pool_interleaved", "pool_gap50ms", "pool_back_to_back", "crun_run", "docker_sdk"):
        if k in res:
            r = res[k]
            print(f"{r['name']:<45} n={r['n']:<4} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms")
    if "pool_ratio" in res:
        print(f"pool.run p50 / sandbox() p50 (interleaved): {res['pool_ratio']}x")
    if "threads_per_s" in res:
        print(f"100 sandboxes from 8 threads: {res['threads_per_s']} per s")
    if "docker_sdk" in res:
        print(f"100 docker SDK runs from 8 threads: {res['docker_threads_per_s']} per s; sandbox() p50 is "
              f"{res['sandbox']['p50_ms'] / res['docker_sdk']['p50_ms']:.2f}x the docker SDK's")
    print(f"load average before {res['load_before']}, after {res['load_after']} ({res['cpus']} CPUs)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
