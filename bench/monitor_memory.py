#!/usr/bin/env python3
"""The detached monitor's memory: ours (the C loop and the Python one) beside podman's conmon.

For each monitor, ``RUNS`` containers are started one after the other, each
left running (``sleep``) while its monitor is measured, from
/proc/PID/smaps_rollup: Private (Private_Clean + Private_Dirty: what the
monitor alone costs), Private_Dirty, Pss and Rss, in KiB, medians. Private_Clean
depends on whether another process maps the same file pages (the first of a
kind pays its text), so Private_Dirty is given as well: it does not.

* ``pycontainer (C)``: ``pycontainer run -d --net none busybox sleep 100``
  with the built ``pycontainer-monitor`` (csrc/monitor.c);
* ``pycontainer (python)``: the same with ``PYCONTAINER_MONITOR=python``
  (pycontainer/monitor.py under ``python -I -S``);
* ``python -IS floor``: ``python -IS -c 'import time; time.sleep(9)'``, the floor
  of any monitor written in Python;
* ``conmon``: when ``which conmon`` finds it (podman's), conmon runs
  ``runc`` on a bundle of busybox ``sleep 100`` in a temporary directory
  (``--root`` of its own; removed after), as podman would start it.

    python3 bench/monitor_memory.py [-n RUNS] [--pyc CMD]

Needs root, busybox in pycontainer's store and, for conmon, runc and /bin/busybox.
Not a test: numbers, no assertions.
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CDIR = "/var/lib/pycontainer/containers"


def mem(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                out[k] = int(v.split()[0])
    out["Private"] = out["Private_Clean"] + out["Private_Dirty"]
    return out


def pycontainer(cmd: list, env: dict) -> dict:
    cid = subprocess.run([*cmd, "run", "-d", "--net", "none", "busybox", "sleep", "100"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        time.sleep(0.5)
        with open(os.path.join(CDIR, cid, "monitor.json")) as f:
            return mem(json.load(f)["pid"])
    finally:
        subprocess.run([*cmd, "rm", "-f", cid], env=env, capture_output=True)


def python_floor() -> dict:
    p = subprocess.Popen([sys.executable, "-IS", "-c", "import time; time.sleep(9)"])
    try:
        time.sleep(0.5)
        return mem(p.pid)
    finally:
        p.kill()
        p.wait()


def conmon(conmon_path: str) -> dict:
    runc = shutil.which("runc")
    d = tempfile.mkdtemp(prefix="pyc-bench-conmon.")
    cid = os.path.basename(d).replace(".", "-")
    runtime = [runc, f"--root={d}/runc"]
    try:
        rootfs = os.path.join(d, "bundle", "rootfs", "bin")
        os.makedirs(rootfs)
        shutil.copy2("/bin/busybox", rootfs)
        subprocess.run([runc, "spec"], cwd=os.path.join(d, "bundle"), check=True)
        cfgp = os.path.join(d, "bundle", "config.json")
        with open(cfgp) as f:
            cfg = json.load(f)
        cfg["process"].update(args=["/bin/busybox", "sleep", "100"], terminal=False)
        with open(cfgp, "w") as f:
            json.dump(cfg, f)
        for sub in ("exits", "sock"):
            os.mkdir(os.path.join(d, sub))
        subprocess.run([conmon_path, "--api-version", "1", "-c", cid, "-u", cid, "-n", cid, "-r", runc,
                        "-b", os.path.join(d, "bundle"), "-p", f"{d}/pid", "-P", f"{d}/conmon.pid",
                        "-l", f"k8s-file:{d}/ctr.log", "--exit-dir", f"{d}/exits",
                        "--socket-dir-path", f"{d}/sock", "--runtime-arg", f"--root={d}/runc",
                        "--log-level", "error"], stdin=subprocess.DEVNULL, check=True, timeout=30)
        deadline = time.monotonic() + 10
        while subprocess.run([*runtime, "start", cid], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("runc start under conmon failed")
            time.sleep(0.05)
        time.sleep(0.5)
        with open(f"{d}/conmon.pid") as f:
            return mem(int(f.read()))
    finally:
        subprocess.run([*runtime, "kill", cid, "KILL"], capture_output=True)
        time.sleep(0.3)
        subprocess.run([*runtime, "delete", "-f", cid], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=3)
    ap.add_argument("--pyc", default=f"{sys.executable} -m pycontainer",
                    help="the pycontainer command (default: this checkout's, run as a module)")
    a = ap.parse_args()
    cmd = shlex.split(a.pyc)
    env = dict(os.environ)
    if cmd[1:3] == ["-m", "pycontainer"]:
        env["PYTHONPATH"] = HERE
    kinds = {"pycontainer (C)": lambda: pycontainer(cmd, {**env, "PYCONTAINER_MONITOR": "c"}),
             "pycontainer (python)": lambda: pycontainer(cmd, {**env, "PYCONTAINER_MONITOR": "python"}),
             "python -IS floor": python_floor}
    conmon_path = shutil.which("conmon")
    if conmon_path and shutil.which("runc") and os.path.exists("/bin/busybox"):
        kinds["conmon"] = lambda: conmon(conmon_path)
    got: dict = {k: [] for k in kinds}
    for _ in range(a.runs):                    # interleaved: load changes hit all alike
        for k, f in kinds.items():
            got[k].append(f())
    print(f"detached monitor memory, KiB, median of {a.runs} (load {os.getloadavg()[0]:.2f})")
    print(f"{'monitor':24} {'Private':>8} {'Pr_Dirty':>8} {'Pss':>8} {'Rss':>8}")
    for k, rows in got.items():
        med = {f: statistics.median(r[f] for r in rows) for f in ("Private", "Private_Dirty", "Pss", "Rss")}
        print(f"{k:24} {med['Private']:8.0f} {med['Private_Dirty']:8.0f} {med['Pss']:8.0f} {med['Rss']:8.0f}")
    if "conmon" not in kinds:
        print("(conmon not installed: `which conmon` found nothing)")


if __name__ == "__main__":
    main()
