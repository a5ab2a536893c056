#!/usr/bin/env python3
"""Where every millisecond of `run`, `create`, `start`, `delete` goes, beside runc and crun.

For each verb on a busybox bundle (/bin/true), interleaved (runc, crun,
pycontainer, runc, ...) with a 0.1 s idle gap before each timed step, so
every step is cold and load changes hit all runtimes alike:

* the wall time of runc, crun and pycontainer (medians); pycontainer's twice
  in each round, traced (its rows add up to that) and untraced (the trace's own
  writes are part of a traced start's 13 ms): the ratios are of the untraced one;
* pycontainer's time split by the trace (``PYCONTAINER_TRACE``, JSON lines;
  ``PYCONTAINER_TRACE_T0`` anchors t=0 at the spawn, so the time to the first
  event includes the interpreter's start and the imports): interpreter start
  (``python -IS -c pass``, measured in the same loop), imports (``-X importtime``
  in a separate run of the same command: the sum of the top-level modules;
  the most expensive listed below the table), then every traced step by
  category (fork, cgroup attach, namespaces, mounts + pivot_root, ...);
  "Python between steps" is what is left (wall - everything traced).

Steps in the children (stage 1, init) are counted like the runtime's: the
runtime waits for them, so they are on the critical path. The one step done
beside the main thread, "prime cgroup attach" (cgroups/attachlock.py), is a
row of its own that is not part of the sum: its wait overlaps the rest (what
it does not hide shows in the next cgroup step, mkdir or attach).

    python3 bench/breakdown.py [-n RUNS] [--pyc NAME=CMD ...] [--bundle DIR] [--json FILE]
                               [--sandbox [--image busybox]]

With ``--sandbox``, the API's ``sandbox(["true"], network_mode="none")`` of this checkout
too, in the same loop: a client whose helper writes the trace (``t`` anchored at
CLOCK_MONOTONIC 0, so its events fall in the window between the call and its return)
and an untraced one alternate; its table adds the docker layer's work (image, options,
config.json) and "between steps, request and reply", and compares with ``crun run``.

Needs root, runc and crun. Runs itself in a private mount namespace without
/sys/fs/cgroup/unified (crun 1.8 refuses hybrid cgroup hosts), as
bench/startup.sh does, so all three see the same cgroup v1 layout.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/opt/pycontainer/bin/python"
IMPORTCACHE = ("try:\n    from pycontainer import importcache   # as .ci/install.sh's launcher\n"
               "except ImportError:                       # a tree from before it\n    pass\n"
               "else:\n    importcache.install()\n")

# trace action -> row of the table
CATEGORY = {
    "command line parsed": None, "init started": None, "exit": None, "close_range": None,
    "rmdir cgroup": None, "execve": None,
    "read config.json": "config.json read + validate",
    "mkdir cgroup": "cgroup create + limits", "write cgroup file": "cgroup create + limits",
    "write cgroup.procs": "cgroup attach (cgroup.procs)",
    "prime cgroup attach": "cgroup attach priming (thread, overlapped: not in the sum)",
    "fork": "fork (stage 1, init)",
    "unshare": "namespaces (unshare/setns)", "setns": "namespaces (unshare/setns)",
    "mount": "mounts + pivot_root", "mknod": "mounts + pivot_root", "symlink": "mounts + pivot_root",
    "pivot_root": "mounts + pivot_root", "umount2": "mounts + pivot_root",
    "seccomp": "seccomp", "seccomp load": "seccomp",
    "accept": "start barrier (init waits)", "start": "start barrier (runtime)",
    "connect start.sock": "start barrier (runtime)",
    "waitpid": "exec + program + wait",
    "read state.json": "state reads/writes", "write state.json": "state reads/writes",
    "remove state dir": "state reads/writes",
    "remove cgroup": "cgroup removal",
    "kill": "kill", "kill --all": "kill",
    # the API's sandbox: what the docker layer does before the OCI create (api/operations.py)
    "flock": "image + config.json (docker layer)", "find in index.json": "image + config.json (docker layer)",
    "read manifest, config, layer dirs": "image + config.json (docker layer)",
    "hold image": "image + config.json (docker layer)",
    "mkdir upper, work (overlay plan)": "image + config.json (docker layer)",
    "image config -> process": "image + config.json (docker layer)",
    "docker seccomp profile -> linux.seccomp": "image + config.json (docker layer)",
    "docker run flags -> config": "image + config.json (docker layer)",
    "write config.json": "image + config.json (docker layer)",
}
ROWS = ["interpreter start (python -IS -c pass)", "imports (-X importtime, all modules)",
        "config.json read + validate", "cgroup create + limits", "fork (stage 1, init)",
        "cgroup attach (cgroup.procs)", "cgroup attach priming (thread, overlapped: not in the sum)",
        "namespaces (unshare/setns)", "mounts + pivot_root",
        "process attributes (caps, rlimits, user, lo, hostname)", "seccomp",
        "start barrier (init waits)", "start barrier (runtime)", "exec + program + wait",
        "state reads/writes", "cgroup removal", "network", "kill", "Python between steps (untraced)"]

# rows of work done beside the main thread: shown, but not part of the wall time's split
OVERLAPPED = {"cgroup attach priming (thread, overlapped: not in the sum)"}


def category(action: str) -> str | None:
    # summaries and waits (their time is in other rows): the runtime's own "startup" and
    # "import X" events (the imports row comes from -X importtime), "recv from <stage>"
    if action in ("startup",) or action.startswith(("import ", "recv from ")):
        return None
    if action in CATEGORY:
        return CATEGORY[action]
    if action.startswith("docker options"):
        return "image + config.json (docker layer)"
    if action.startswith(("network", "veth", "netlink", "bridge", "ipam")):
        return "network"
    if action.startswith("seccomp"):
        return "seccomp"
    return "process attributes (caps, rlimits, user, lo, hostname)"


def timed(cmd: list[str], env=None) -> float:
    # stderr to a file: a created container's init inherits it (a pipe would stay open).
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        dt = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode().strip()}")
    return dt


def traced(cmd: list[str]) -> tuple[float, dict]:
    """Run once with the trace on; -> (wall ms, {row: ms})."""
    with tempfile.NamedTemporaryFile("r", suffix=".trace") as tf:
        env = dict(os.environ, PYCONTAINER_TRACE=tf.name)
        t = time.perf_counter()
        env["PYCONTAINER_TRACE_T0"] = repr(time.monotonic())
        with tempfile.TemporaryFile() as err:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
            wall = (time.perf_counter() - t) * 1000
            if p.returncode != 0:
                err.seek(0)
                raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode().strip()}")
        rows: dict = {}
        for line in tf.read().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            c = category(e["action"])
            if c and "ms" in e:
                rows[c] = rows.get(c, 0.0) + e["ms"]
    return wall, rows


def python_script(cmd0: str) -> str:
    """The Python launcher behind ``cmd0``: itself, or for the C command (csrc/launcher.c,
    an ELF file) the ``pycontainer-launch`` beside it (or the installed one)."""
    try:
        with open(cmd0, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return cmd0
    except OSError:
        return cmd0
    for s in (os.path.join(os.path.dirname(cmd0), "pycontainer-launch"),
              "/opt/pycontainer/bin/pycontainer-launch"):
        if os.path.exists(s):
            return s
    return cmd0


def importtime(cmd: list[str]) -> dict:
    """{top-level module: cumulative us} of one run under -X importtime."""
    if cmd[0] != PY:
        cmd = [python_script(cmd[0])] + cmd[1:]
    with tempfile.TemporaryFile() as err:
        subprocess.run([PY, "-X", "importtime"] + cmd[1:] if cmd[0] == PY else
                       [PY, "-IS", "-X", "importtime"] + cmd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        out = {}
        for line in err.read().decode(errors="replace").splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            self_us, cum, name = line[len("import time:"):].split("|", 2)
            if not cum.strip().isdigit():
                continue
            depth = (len(name) - len(name.lstrip())) // 2
            key = name.strip()
            if depth == 0 and key not in BASELINE:   # top level: cumulative covers its children
                out[key] = out.get(key, 0) + int(cum)
        return out


# what `python -IS -c pass` imports itself (part of the interpreter start row)
BASELINE = {"_io", "marshal", "posix", "_frozen_importlib_external", "time", "zipimport", "_codecs",
            "codecs", "encodings.aliases", "encodings", "encodings.utf_8", "_signal", "_abc", "abc",
            "io", "__main__", "_thread", "_warnings", "_weakref", "_imp", "_stat", "stat",
            "_collections_abc", "genericpath", "posixpath", "os", "_sitebuiltins", "site"}


# one process of this checkout's API: a Client whose helper is started (one warm-up sandbox),
# then one sandbox(["true"], network_mode="none") per line read; prints CLOCK_MONOTONIC at the
# call and at its return
SANDBOX_DRIVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pycontainer.api import Client
c = Client()
c.containers.sandbox(sys.argv[2], ["true"], network_mode="none")
print("ready", flush=True)
for _ in sys.stdin:
    t = time.monotonic()
    r = c.containers.sandbox(sys.argv[2], ["true"], network_mode="none")
    t2 = time.monotonic()
    print(t, t2, r.exit_code, flush=True)
"""


SANDBOX_CONFIG = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pycontainer.api import Client
c = Client()
ctr = c.containers.create(sys.argv[2], ["true"], network_mode="none")
try:
    with open(ctr.attrs["Dir"] + "/config.json") as f:
        print(f.read())
finally:
    ctr.remove(force=True)
    c.close()
"""


def sandbox_bundle(image: str, rootfs: str) -> str:
    """A bundle with the config.json a sandbox() runs with (docker's seccomp profile, masked and
    read-only paths, its capabilities), on ``rootfs`` (a plain directory: no overlay), for runc
    and crun to run beside it: the same work, where the runc-spec bundle has no seccomp."""
    out = subprocess.run([PY, "-c", SANDBOX_CONFIG, os.path.dirname(HERE), image], capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"breakdown: the sandbox's config.json: {out.stderr.strip()}")
    cfg = json.loads(out.stdout)
    cfg["root"] = {"path": os.path.abspath(rootfs), "readonly": False}
    cfg.pop("annotations", None)
    cfg["ociVersion"] = "1.0.2-dev"     # what `runc spec` writes: crun 1.8 refuses 1.2.0
    cfg["linux"].pop("cgroupsPath", None)
    d = tempfile.mkdtemp(prefix="breakdown-sandbox-bundle.")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    return d


class SandboxDriver:
    """A driver process; ``trace``: its helper writes the trace (t in ms of CLOCK_MONOTONIC)."""

    def __init__(self, image: str, trace: str | None):
        env = dict(os.environ)
        if trace:
            env.update(PYCONTAINER_TRACE=trace, PYCONTAINER_TRACE_T0="0")
        self.p = subprocess.Popen([PY, "-c", SANDBOX_DRIVER, os.path.dirname(HERE), image], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise SystemExit("breakdown: the sandbox driver did not start")

    def step(self) -> tuple[float, float]:
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        t, t2, code = self.p.stdout.readline().split()
        if code != "0":
            raise SystemExit(f"breakdown: sandbox exit code {code}")
        return float(t), float(t2)

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def sandbox_rows(trace: str, windows) -> list[tuple[float, dict]]:
    """Split each traced sandbox's wall time (its window) into rows, like ``traced``."""
    evs = []
    with open(trace) as f:
        for line in f:
            try:
                evs.append(json.loads(line))
            except ValueError:
                pass
    out = []
    for t, t2 in windows:
        rows: dict = {}
        for e in evs:
            if not t * 1000 <= e["t"] <= t2 * 1000:
                continue
            c = category(e["action"])
            if c and "ms" in e:
                rows[c] = rows.get(c, 0.0) + e["ms"]
            elif e["action"] == "worker page faults":      # a count, not a time
                rows["worker page faults (count)"] = e["args"]["minflt"]
        out.append(((t2 - t) * 1000, rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=9)
    ap.add_argument("--pyc", action="append", default=[], metavar="NAME=CMD",
                    help="pycontainer variant(s) to measure, interleaved with each other (A B A B) "
                         "(default: pycontainer=a launcher as .ci/install.sh writes it, for this checkout)")
    ap.add_argument("--bundle", default="/tmp/perf18bundle")
    ap.add_argument("--json", default=None)
    ap.add_argument("--sandbox", action="store_true",
                    help="also the API's sandbox(['true'], network_mode='none') of this checkout, "
                         "beside crun run (its own table)")
    ap.add_argument("--image", default="busybox", help="the sandbox's image (default busybox)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("breakdown: needs root")
    if not os.environ.get("BREAKDOWN_IN_NS"):
        os.environ["BREAKDOWN_IN_NS"] = "1"
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c",
                              "umount /sys/fs/cgroup/unified 2>/dev/null || umount -l /sys/fs/cgroup/unified "
                              "2>/dev/null; exec \"$@\"", "breakdown", sys.executable] + sys.argv)
    variants = dict(v.split("=", 1) for v in a.pyc)
    if not variants:
        d = tempfile.mkdtemp(prefix="breakdown.")
        script = os.path.join(d, "pycontainer-launch")
        root = os.path.dirname(HERE)
        with open(script, "w") as f:
            f.write(f"#!{PY} -IS\nimport sys\nsys.path[0:0] = [{root!r}, "
                    "'/opt/pycontainer/lib/python3.11/site-packages']\n" + IMPORTCACHE +
                    "from pycontainer.entry import main\nmain()\n")
        os.chmod(script, 0o755)
        # the command as .ci/install.sh builds it: csrc/launcher.c, else the script itself
        launcher = os.path.join(d, "pycontainer")
        built = subprocess.run(["gcc", "-O2", "-static", f'-DPYTHON="{PY}"', f'-DSCRIPT="{script}"',
                                "-o", launcher, os.path.join(root, "csrc", "launcher.c")],
                               capture_output=True).returncode == 0
        variants = {"pycontainer": launcher if built else script}
    rts = {"runc": ["runc"], "crun": ["crun"]}
    for k, c in variants.items():
        # each variant twice per round: traced (the rows) and untraced (the wall compared)
        rts[k] = rts[f"{k}-untraced"] = shlex.split(c)
    verbs = ("run", "create", "start", "delete")
    wall = {r: {v: [] for v in verbs} for r in rts}
    rows = {p: {v: [] for v in verbs} for p in variants}          # per run: (wall, {row: ms})
    interp = []
    imports = {p: {v: [] for v in verbs} for p in variants}
    load = [os.getloadavg()[0]]
    tag = os.getpid()
    if a.sandbox:
        sb_trace = tempfile.NamedTemporaryFile(suffix=".trace", delete=False).name
        sb_plain, sb_traced = SandboxDriver(a.image, None), SandboxDriver(a.image, sb_trace)
        sb_wall, sb_windows = [], []
        sb_bundle = sandbox_bundle(a.image, os.path.join(a.bundle, "rootfs"))
        same = {"runc": [], "crun": []}      # run of the sandbox's own config.json
    for i in range(a.n):
        for name, cmd in rts.items():
            base = cmd + ["--root", f"/run/breakdown-{name}"]
            is_py = name in variants
            for v in verbs:
                cid = f"bd-{name}-{tag}-{i}"
                if v == "run":
                    argv, cid = base + ["run", "--bundle", a.bundle, cid + "r"], cid + "r"
                elif v == "create":
                    argv = base + ["create", "--bundle", a.bundle, cid]
                else:
                    argv = base + [v, cid]
                time.sleep(0.1)
                if is_py:                   # (NAME-untraced: is_py is False, so timed())
                    w, r = traced(argv)
                    rows[name][v].append((w, r))
                else:
                    w = timed(argv)
                wall[name][v].append(w)
        if a.sandbox:
            time.sleep(0.1)
            t, t2 = sb_plain.step()
            sb_wall.append((t2 - t) * 1000)
            time.sleep(0.1)
            sb_windows.append(sb_traced.step())
            for r in same:
                time.sleep(0.1)
                same[r].append(timed([r, "--root", f"/run/breakdown-{r}", "run", "--bundle", sb_bundle,
                                      f"bd-sb-{r}-{tag}-{i}"]))
        time.sleep(0.1)
        interp.append(timed([PY, "-IS", "-c", "pass"]))
        # imports: one -X importtime run of each verb per round (not timed)
        for p in variants if i < 3 else ():
            base = rts[p] + ["--root", f"/run/breakdown-{p}"]
            cid = f"bd-imp-{tag}-{i}"
            for v, argv in (("run", base + ["run", "--bundle", a.bundle, cid + "r"]),
                            ("create", base + ["create", "--bundle", a.bundle, cid]),
                            ("start", base + ["start", cid]), ("delete", base + ["delete", cid])):
                time.sleep(0.1)
                imports[p][v].append(importtime(argv))
        load.append(os.getloadavg()[0])
    for name in rts:
        try:
            os.rmdir(f"/run/breakdown-{name}")
        except OSError:
            pass
    med = statistics.median
    print(f"## breakdown: {a.n} cold runs per verb, interleaved (runc, crun, {', '.join(variants)}); "
          f"medians in ms; load average {min(load):.1f}-{max(load):.1f}")
    tables = {}
    for p in variants:
        table = tables[p] = {}
        for v in verbs:
            imp = [sum(d.values()) / 1000 for d in imports[p][v]] or [0.0]
            t = {"interpreter start (python -IS -c pass)": med(interp),
                 "imports (-X importtime, all modules)": med(imp)}
            for row in ROWS[2:-1]:
                t[row] = med([r.get(row, 0.0) for _, r in rows[p][v]])
            total = med([w for w, _ in rows[p][v]])
            t["Python between steps (untraced)"] = total - sum(x for k, x in t.items()
                                                               if k not in OVERLAPPED)
            t[f"= {p} wall, traced (the rows above add up to it)"] = total
            plain = t[f"= {p} wall, untraced"] = med(wall[f"{p}-untraced"][v])
            t["runc wall"] = med(wall["runc"][v])
            t["crun wall"] = med(wall["crun"][v])
            t["/ runc (untraced)"] = plain / t["runc wall"]
            t["/ crun (untraced)"] = plain / t["crun wall"]
            table[v] = t
        print(f"\n### {p} ({' '.join(rts[p])})")
        print("| row | " + " | ".join(verbs) + " |")
        print("|---|" + "---|" * len(verbs))
        for row in ROWS + [f"= {p} wall, traced (the rows above add up to it)", f"= {p} wall, untraced",
                           "runc wall", "crun wall", "/ runc (untraced)", "/ crun (untraced)"]:
            vals = [table[v][row] for v in verbs]
            if all(abs(x) < 0.005 for x in vals):
                continue
            fmt = "{:.2f}x" if row.startswith("/ ") else "{:.1f}"
            print(f"| {row} | " + " | ".join(fmt.format(x) for x in vals) + " |")
        print("\nslowest imports (top-level, cumulative ms, median of the -X importtime runs):")
        for v in verbs:
            mods: dict = {}
            for d in imports[p][v]:
                for m, us in d.items():
                    mods.setdefault(m, []).append(us / 1000)
            top = sorted(((med(x), m) for m, x in mods.items()), reverse=True)[:8]
            print(f"  {v:7s} " + ", ".join(f"{m} {ms:.1f}" for ms, m in top))
    if a.sandbox:
        sb_plain.close()
        sb_traced.close()
        split = sandbox_rows(sb_trace, sb_windows)
        os.unlink(sb_trace)
        t = {}
        for row in ROWS[2:-1] + ["image + config.json (docker layer)"]:
            t[row] = med([r.get(row, 0.0) for _, r in split])
        total = med([w for w, _ in split])
        t["Python between steps, request and reply (untraced)"] = total - sum(
            x for k, x in t.items() if k not in OVERLAPPED)
        # most of that: the worker's copy-on-write faults (a fork of the helper per request)
        t["worker page faults (count, not ms)"] = med([r.get("worker page faults (count)", 0) for _, r in split])
        t["= sandbox() wall, traced"] = total
        t["= sandbox() wall, untraced"] = med(sb_wall)
        t["crun run wall"] = med(wall["crun"]["run"])
        t["runc run wall"] = med(wall["runc"]["run"])
        t["/ crun run (untraced)"] = t["= sandbox() wall, untraced"] / t["crun run wall"]
        # the same work: runc and crun run the config.json the sandbox runs with (its seccomp
        # profile, masks and caps; a plain rootfs where the sandbox mounts an overlay)
        t["crun run of the sandbox's config.json"] = med(same["crun"])
        t["runc run of the sandbox's config.json"] = med(same["runc"])
        t["/ crun run of the sandbox's config.json"] = t["= sandbox() wall, untraced"] / med(same["crun"])
        t["/ runc run of the sandbox's config.json"] = t["= sandbox() wall, untraced"] / med(same["runc"])
        import shutil
        shutil.rmtree(sb_bundle, ignore_errors=True)
        tables["sandbox"] = t
        print(f"\n### the API: sandbox({a.image!r}, ['true'], network_mode='none') of {os.path.dirname(HERE)}"
              " (a warm helper: its start is the Client's, once; a traced and an untraced client"
              " alternate)")
        print("| row | sandbox() |\n|---|---|")
        for row, x in t.items():
            if abs(x) >= 0.005:
                fmt = "{:.2f}x" if row.startswith("/ ") else "{:.0f}" if "count" in row else "{:.1f}"
                print(f"| {row} | " + fmt.format(x) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"tables": tables, "wall": wall, "imports": imports, "load": load}, f)


if __name__ == "__main__":
    sys.exit(main())
