#!/usr/bin/env python3
"""The docker form people type: ``run --rm --net none busybox true``, pycontainer beside docker and podman.

    sudo /opt/pycontainer/bin/python bench/dockerform.py [-n RUNS] [--pyc NAME=CMD ...]
                                                        [--no-docker] [--no-podman] [--json FILE]

Each round runs every command line once, cold (a new CLI process each time),
interleaved, the order rotating from round to round, with an idle gap
before each (``--gap``, 0.1 s) so load changes hit all alike:

* ``CMD run --rm --net none busybox true`` for each ``--pyc NAME=CMD``
  (default: this checkout as .ci/install.sh installs it, ``python -IS`` and a
  launcher; give several to compare branches in the same run);
* ``docker run --rm --net none busybox true`` against a private dockerd
  (``engines.private_dockerd``: its own data root, ``--bridge=none
  --iptables=false``, stopped and removed afterwards; the docker CLI found
  on PATH);
* ``podman run --rm --net none busybox true`` with a private root
  (``engines.private_podman``).

busybox is loaded into docker and podman from pycontainer's store (``pycontainer
save``): nothing is pulled. Prints medians, p90, each pycontainer's ratio to
docker's and podman's medians (the goal of issue 18: <= 0.5x docker, <= 1.0x
podman) and the load average before and after.

``--phases``: instead, where each pycontainer's time goes (its trace,
``--trace-to FILE``, interleaved): milliseconds from exec to the end of
Python's start + imports + parsing, to config.json written (image lookup and
config generation), to stage 1's fork, to the init being ready (created), to
the program's exit, to the last trace event; medians. A benchmark: not run by CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from engines import private_dockerd, private_podman  # noqa: E402

ARGS = ["run", "--rm", "--net", "none"]
PROGRAM = ["true"]


def launcher(tmp: str, repo: str = REPO) -> str:
    """A launcher for ``repo`` as .ci/install.sh writes /usr/local/bin/pycontainer."""
    import sysconfig
    paths = [repo, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    path = os.path.join(tmp, "pycontainer")
    with open(path, "w") as f:
        f.write(f"#!{sys.executable} -IS\nimport sys\nsys.path[0:0] = {paths!r}\n"
                "try:\n    from pycontainer import importcache   # as .ci/install.sh's\n"
                "except ImportError:                       # a tree from before it\n    pass\n"
                "else:\n    importcache.install()\n"
                "from pycontainer.entry import main\nmain()\n")
    os.chmod(path, 0o755)
    return path


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def once(argv, env=None) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env=env)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)}: exit {r.returncode}: {r.stderr.decode()[-400:]}")
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=30, help="rounds (default 30)")
    ap.add_argument("--pyc", action="append", default=[], metavar="NAME=CMD",
                    help="a pycontainer command line to time (repeatable)")
    ap.add_argument("--image", default="busybox")
    ap.add_argument("--gap", type=float, default=0.1, help="idle seconds before each run")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--phases", action="store_true", help="split each pycontainer's time (trace)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("dockerform.py: run it as root")
    tmp = tempfile.mkdtemp(prefix="pyc-bench-dockerform-")
    try:
        pycs = [p.partition("=")[::2] for p in a.pyc] or [("pycontainer", launcher(tmp))]
        if a.phases:
            return phases(pycs, a, tmp)
        with contextlib.ExitStack() as stack:
            cmds = {name: (shlex.split(cmd) + ARGS + [a.image] + PROGRAM, None) for name, cmd in pycs}
            sock = None if a.no_docker else stack.enter_context(private_dockerd(a.image))
            if sock:
                cmds["docker"] = (["docker", "-H", "unix://" + sock] + ARGS + [a.image] + PROGRAM, None)
            pm = None if a.no_podman else stack.enter_context(private_podman(a.image))
            if pm:
                cmds["podman"] = (["podman"] + ARGS + [a.image] + PROGRAM, pm.env)
            res = run_rounds(cmds, a)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    report(res, [n for n, _ in pycs], a.json)


def run_rounds(cmds: dict, a) -> dict:
    for argv, env in cmds.values():
        for _ in range(a.warmup):
            once(argv, env)
    names = list(cmds)
    times: dict[str, list[float]] = {n: [] for n in names}
    load_before = os.getloadavg()
    for i in range(a.n):
        order = names[i % len(names):] + names[:i % len(names)]
        for n in order:
            time.sleep(a.gap)
            times[n].append(once(*cmds[n]))
    return {"load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(),
            "rounds": a.n, "commands": {n: shlex.join(cmds[n][0]) for n in names},
            "results": {n: {"p50_ms": round(statistics.median(t) * 1e3, 1),
                            "p90_ms": round(pct(t, 90) * 1e3, 1), "min_ms": round(min(t) * 1e3, 1),
                            "all_ms": [round(x * 1e3, 2) for x in t]} for n, t in times.items()}}


MARKS = (
    ("python + imports + parse", lambda e: e["action"] == "startup"),
    ("config.json written", lambda e: e["action"] == "write config.json"),
    ("stage 1 forked", lambda e: e["action"] == "fork" and e["stage"] == "runtime"),
    ("created (init ready)", lambda e: e["action"] == "write state.json" and
     (e.get("args") or {}).get("status") == "created"),
    ("program exited", lambda e: e["action"] == "exit" and e["stage"] == "runtime"),
)


def _end(e: dict) -> float:
    """When a trace event ended (a step's ``t`` is its start; startup's ``ms`` lies before)."""
    return e["t"] if e["action"] == "startup" else e["t"] + e.get("ms", 0)


def phases(pycs, a, tmp: str) -> None:
    out: dict[str, dict[str, list[float]]] = {n: {} for n, _ in pycs}
    trace = os.path.join(tmp, "trace.jsonl")
    for _ in range(a.n):
        for name, cmd in pycs:
            time.sleep(a.gap)
            argv = shlex.split(cmd) + ["--trace-to", trace] + ARGS + [a.image] + PROGRAM
            wall = once(argv)
            with open(trace) as f:
                ev = [json.loads(x) for x in f]
            os.unlink(trace)
            start = next(e for e in ev if e["action"] == "startup")      # t: when tracing began
            t0 = start["t"] - start["ms"]                                # ms: since the exec
            for label, pred in MARKS:
                e = next((e for e in ev if pred(e)), None)
                if e is not None:
                    out[name].setdefault(label, []).append(_end(e) - t0)
            out[name].setdefault("last trace event", []).append(max(_end(e) for e in ev) - t0)
            out[name].setdefault("wall (the caller's)", []).append(wall * 1e3)
    print(f"{'ms from exec, medians':<26}" + "".join(f"{n:>14}" for n, _ in pycs))
    for label in out[pycs[0][0]]:
        print(f"{label:<26}" + "".join(f"{statistics.median(out[n][label]):14.1f}" if label in out[n]
                                      else f"{'-':>14}" for n, _ in pycs))
    print(f"{a.n} rounds, interleaved; load average {os.getloadavg()} ({os.cpu_count()} CPUs)")


def report(res: dict, pyc_names: list[str], json_path: str | None) -> None:
    r = res["results"]
    print(f"{'':<14} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8}   command")
    for n, v in r.items():
        print(f"{n:<14} {v['p50_ms']:8.1f} {v['p90_ms']:8.1f} {v['min_ms']:8.1f}   {res['commands'][n]}")
    for n in pyc_names:
        ratios = [f"{r[n]['p50_ms'] / r[o]['p50_ms']:.2f}x {o}" for o in ("docker", "podman") if o in r]
        ratios += [f"{r[n]['p50_ms'] / r[o]['p50_ms']:.2f}x {o}" for o in pyc_names if o != n]
        if ratios:
            print(f"{n}: " + ", ".join(ratios) + " (medians)")
    print(f"{res['rounds']} rounds, interleaved; load average before {res['load_before']}, "
          f"after {res['load_after']} ({res['cpus']} CPUs)")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
