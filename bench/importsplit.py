#!/usr/bin/env python3
"""Where the imports of a `run` go: finding, reading + unmarshalling, and running module bodies.

breakdown.py's "imports" row is -X importtime's total; this splits it. It runs
`run -b BUNDLE` once under -X importtime to learn which modules the runtime and
its init import (both processes write to stderr), then, in N fresh interpreters
started as the installed launcher starts them (`python -IS`, the checkout and the
venv first on sys.path, the import cache installed), imports the same modules in
the same order and times each part:

- the standard library and C extensions the package needs (``_json``, ``_socket``,
  ``fcntl``, ...), imported first, each timed whole (Python's own path finders);
- for each pycontainer module, from the import cache (pycontainer/importcache.py):
  the cache's find_spec (one stat of the source), the pread + marshal.loads of its
  code, and its module body (exclusive of the package modules it imports). The loading
  is timed in a copy of the Finder's exec_module (pread at the spec's offset, loads,
  exec), with the cache file opened here; the Finder's own fd identity check (one fstat)
  is left out.

Every interpreter is new, so each figure is a cold import, as a `run` pays it
(the runtime and the init together: the init's modules are imported in the
forked child, here in the same process). Medians of N; microseconds.

    python3 bench/importsplit.py [-n 15] [--bundle /tmp/perf18bundle] [--tree .]

Root only (the learning run is a real `run -b`). Read: the -X importtime section
of python(1), marshal's docs, and importlib's (meta path finders and loaders).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

PY = "/opt/pycontainer/bin/python"
SITE = "/opt/pycontainer/lib/python3.11/site-packages"

# The child: one cold interpreter; prints {"std": {name: us}, "pkg": {name: [find, unmarshal, body]}}.
CHILD = r"""
import sys, time
tree, site, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path[0:0] = [tree, site]
from pycontainer import importcache
if not importcache.install():
    raise SystemExit("no import cache in " + tree + ": run .ci/install.sh (or python -m pycontainer.importcache)")
import marshal, posix
finder, pc = sys.meta_path[0], time.perf_counter
cache = posix.open(importcache.default_path(), posix.O_RDONLY)   # read as the Finder reads it
std, pkg, stack = {}, {}, []
for name in names:
    if not name.startswith("pycontainer") and name not in sys.modules:
        t = pc(); __import__(name); std[name] = (pc() - t) * 1e6
find_spec = finder.find_spec
def timed_find(name, path=None, target=None):
    t = pc(); spec = find_spec(name, path, target)
    if spec is not None:
        pkg[name] = [(pc() - t) * 1e6, 0.0, 0.0]
    return spec
def timed_exec(module):
    offset, length = module.__spec__.loader_state
    t = pc(); code = marshal.loads(posix.pread(cache, length, offset)); t1 = pc()
    stack.append(0.0)
    exec(code, module.__dict__)
    inner = stack.pop(); t2 = pc()
    row = pkg[module.__name__]
    row[1], row[2] = (t1 - t) * 1e6, (t2 - t1) * 1e6 - inner
    if stack:
        stack[-1] += t2 - t + row[0] / 1e6
finder.find_spec, finder.exec_module = timed_find, timed_exec
for name in names:
    if name.startswith("pycontainer"):
        __import__(name)
print(__import__("json").dumps({"std": std, "pkg": pkg}))
"""


def learn(launcher: str, bundle: str) -> list[str]:
    """The modules `run -b` imports beyond the interpreter's own start, in import order."""
    base = set(subprocess.run([PY, "-IS", "-X", "importtime", "-c", "pass"], capture_output=True,
                              text=True).stderr.split())
    cid = f"importsplit-{os.getpid()}"
    r = subprocess.run([PY, "-IS", "-X", "importtime", launcher, "run", "-b", bundle, cid],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"importsplit: run -b {bundle} failed: {r.stderr.strip().splitlines()[-1:]}")
    names = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            name = line.rsplit("|", 1)[1].strip()
            if name not in names and name not in base:
                names.append(name)
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--bundle", default="/tmp/perf18bundle")
    ap.add_argument("--tree", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(f"import sys\nsys.path[0:0] = [{a.tree!r}, {SITE!r}]\n"
                "from pycontainer import importcache\nimportcache.install()\n"
                "from pycontainer.entry import main\nmain()\n")
    try:
        names = learn(f.name, a.bundle)
    finally:
        os.unlink(f.name)
    runs = [json.loads(subprocess.run([PY, "-IS", "-c", CHILD, a.tree, SITE, ",".join(names)],
                                      capture_output=True, text=True, check=True).stdout)
            for _ in range(a.n)]
    med = statistics.median
    std = {k: med(r["std"].get(k, 0.0) for r in runs) for k in runs[0]["std"]}
    pkg = {k: [med(r["pkg"][k][i] for r in runs) for i in range(3)] for k in runs[0]["pkg"]}
    print(f"## imports of `run -b` ({len(pkg)} package modules, {len(std)} others), "
          f"cold, medians of {a.n} fresh interpreters, us\n")
    print("| part | us |\n|---|---|")
    print(f"| standard library and C extensions ({', '.join(sorted(std))}) | {sum(std.values()):.0f} |")
    for i, part in enumerate(("package: find_spec (a stat each)", "package: pread + marshal.loads",
                              "package: module bodies (exclusive)")):
        print(f"| {part} | {sum(v[i] for v in pkg.values()):.0f} |")
    print(f"| = total | {sum(std.values()) + sum(sum(v) for v in pkg.values()):.0f} |\n")
    print("| module | find | unmarshal | body | all |\n|---|---|---|---|---|")
    rows = sorted(pkg.items(), key=lambda kv: -sum(kv[1]))[:15]
    rows += sorted(((k, [0.0, 0.0, v]) for k, v in std.items()), key=lambda kv: -kv[1][2])[:5]
    for k, (fi, un, bo) in rows:
        print(f"| {k} | {fi:.0f} | {un:.0f} | {bo:.0f} | {fi + un + bo:.0f} |")


if __name__ == "__main__":
    main()
