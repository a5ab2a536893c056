#!/usr/bin/env python3
"""create / start / delete, each timed on its own, for runc, crun and pycontainer.

Same bundle (/bin/true), same machine, same run, interleaved (runc, crun,
pycontainer, runc, ...) so load changes hit all three alike; a 0.1 s idle gap
before each timed step keeps every step a cold one (see anchors.sh --gap).
Prints medians and ratios to runc. Run by bench/startup.sh, which also runs
../shared/bench/anchors.sh for the whole `run` and puts both in one private
mount namespace without /sys/fs/cgroup/unified (crun refuses hybrid hosts).

    python3 bench/lifecycle.py BUNDLE [-n RUNS] [--runtime NAME=CMD ...]
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str]) -> float:
    # stderr goes to a file: a created container's init inherits it, and a
    # pipe would stay open (and subprocess would wait) until the init exits.
    import tempfile
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        dt = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode().strip()}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--runtime", action="append", default=[],
                    help="NAME=COMMAND (default: runc, crun, pycontainer)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    rts = dict(r.split("=", 1) for r in a.runtime) or {
        "runc": "runc", "crun": "crun", "pycontainer": "/usr/local/bin/pycontainer"}
    results = {name: {"create": [], "start": [], "delete": []} for name in rts}
    for i in range(a.n):
        for name, cmd in rts.items():
            base = shlex.split(cmd) + ["--root", f"/run/bench-lc-{name}"]
            cid = f"lc-{name}-{os.getpid()}-{i}"
            time.sleep(0.1)
            results[name]["create"].append(timed(base + ["create", "--bundle", a.bundle, cid]))
            time.sleep(0.1)
            results[name]["start"].append(timed(base + ["start", cid]))
            time.sleep(0.1)       # /bin/true has exited by now
            results[name]["delete"].append(timed(base + ["delete", cid]))
    for name in rts:                      # the state roots are empty again: remove them
        try:
            os.rmdir(f"/run/bench-lc-{name}")
        except OSError:
            pass
    ref = results.get("runc")
    print(f"## create / start / delete of /bin/true, {a.n} cold runs each, medians (ms)")
    print("| runtime | create | start | delete | create vs runc | start vs runc | delete vs runc |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        med = {k: statistics.median(v) for k, v in r.items()}
        ratios = [med[k] / statistics.median(ref[k]) if ref else float("nan")
                  for k in ("create", "start", "delete")]
        print(f"| {name} | {med['create']:.1f} | {med['start']:.1f} | {med['delete']:.1f} | "
              + " | ".join(f"{x:.2f}" for x in ratios) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    sys.exit(main())
