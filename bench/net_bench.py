#!/usr/bin/env python3
"""Added latency of bridge networking: pycontainer vs CNI bridge + host-local.

Run as root:  /opt/pycontainer/bin/python bench/net_bench.py [-n 20]

Both sides configure the same thing for a fresh network namespace made with
``ip netns add`` (not timed): a veth pair on a bridge, an address from a
file-per-IP allocator, a default route via the gateway, masquerade — CNI's
config is the one ../shared/clients/cni.sh uses (containernetworking-plugins
``bridge`` with isGateway/ipMasq/hairpinMode and ``host-local`` IPAM).
What is timed:

* ``cni ADD`` / ``cni DEL``: the plugin process, fork+exec to exit, as an
  engine (containerd, podman-CNI) pays it per container;
* ``pyc setup warm`` / ``pyc teardown``: ``network.setup()`` in a
  pycontainer process that has pyroute2 imported already (what a runtime
  pays when it calls ``network.preload()`` after its last fork, so the
  import overlaps the container's own setup);
* ``pyc setup cold``: ``network.setup()`` in a fresh process, including the
  import of pyroute2's rtnetlink messages (network/rtnl.py; ~15-25 ms here,
  ~150-200 ms while the whole package was imported) — the worst case, without
  preload;
* ``pyc none``: ``--net none`` (``lo`` up by ioctl, no pyroute2).

The first ADD/setup of each side also creates the bridge (and nft table /
iptables chains); it is reported apart ("first"), the rest are medians.
Iterations alternate between the two sides so both see the same machine.
Everything made here has a ``pyc`` prefix and is removed at the end; traffic:
none (nothing is sent, only configured).

End to end (issue #18), with ``--tree NAME=CHECKOUT`` (repeatable; default:
this checkout), every sample interleaved across trees and modes, cold:

* ``--cli``: wall time of a fresh ``pycontainer`` process (a launcher as
  .ci/install.sh writes it: ``python -IS``) for ``run --rm busybox true``
  (docker form, default bridge) vs ``run --rm --net none busybox true``, and
  the runc form ``run -b BUNDLE ID`` of /bin/true with the annotation
  ``org.pycontainer.network: bridge`` vs without (runc's own behaviour: a
  new netns, ``lo`` up). Goal: bridge adds <= 60 ms.
* ``--sandbox``: the API's ``client.containers.sandbox(image, ["true"],
  network_mode="bridge")`` (with its default egress policy, deny-private)
  vs ``network_mode="none"``, one Client per tree (a helper process each,
  warmed by 3 sandboxes of each mode). Goal: bridge adds <= 15 ms.

Both print medians per tree and mode, the difference, and the load average.
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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

CNI_DIR = "/usr/lib/cni"
CNI_BR, CNI_SUB = "pycbcni0", "10.231.29"
PYC_BR, PYC_SUB = "pycbpyc0", "10.89.229.0/24"
PYC_TABLE = "pycbench"

COLD = r"""
import sys, time, json
t0 = time.perf_counter()
from pycontainer import network
t1 = time.perf_counter()
saved = network.setup(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "setup_ms": (t2 - t1) * 1e3, "saved": saved}))
"""


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, **kw)


def ms(f, *a, **kw):
    t = time.perf_counter()
    r = f(*a, **kw)
    return (time.perf_counter() - t) * 1e3, r


def cni(cmd, cid, nspath, conf):
    env = {**os.environ, "CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_NETNS": nspath,
           "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR}
    r = subprocess.run([f"{CNI_DIR}/bridge"], input=conf, capture_output=True, text=True, env=env)
    if r.returncode:
        raise SystemExit(f"CNI {cmd} failed: {r.stdout} {r.stderr}")
    return r.stdout


LAUNCHER = ("#!{python} -IS\nimport sys\nsys.path[0:0]=[{tree!r},{site!r}]\n"
            "try:\n    from pycontainer import importcache   # as .ci/install.sh's launcher\n"
            "except ImportError:                       # a tree from before it\n    pass\n"
            "else:\n    importcache.install()\n"
            "from pycontainer.entry import main\nmain()\n")

SANDBOX_LOOP = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import pycontainer
image, n = sys.argv[2], int(sys.argv[3])
c = pycontainer.Client()
def one(mode):
    t = time.perf_counter()
    r = c.containers.sandbox(image, ["true"], network_mode=mode)
    assert r.exit_code == 0, r
    return (time.perf_counter() - t) * 1e3
for _ in range(3):
    one("bridge"), one("none")
out = {"bridge": [], "none": []}
for i in range(n):
    for mode in (("bridge", "none") if i % 2 else ("none", "bridge")):
        out[mode].append(one(mode))
c.close()
print(json.dumps(out))
"""


def _trees(specs):
    out = {}
    for spec in specs or [f"this={os.path.dirname(HERE)}"]:
        name, _, path = spec.partition("=")
        if not os.path.isfile(os.path.join(path, "pycontainer", "__init__.py")):
            raise SystemExit(f"--tree {spec}: no pycontainer checkout at {path}")
        out[name] = os.path.abspath(path)
    return out


def _load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def _print_pairs(title, samples, pairs, goal):
    print(f"# {title}; load average before: {samples.pop('_load0')}, after: {_load()}")
    print(f"{'tree':<10}{'what':<22}{'median ms':>10}{'bridge - none':>15}")
    for tree, kinds in samples.items():
        for bridged, plain in pairs:
            if not kinds.get(bridged):
                continue
            mb, mn = statistics.median(kinds[bridged]), statistics.median(kinds[plain])
            print(f"{tree:<10}{bridged:<22}{mb:>10.1f}{mb - mn:>15.1f}")
            print(f"{tree:<10}{plain:<22}{mn:>10.1f}")
    print(f"goal: bridge - none <= {goal} ms")


def cli_bench(trees, n, image):
    """Cold CLI runs, docker form and runc form, bridge vs none, interleaved."""
    site = next(p for p in sys.path if p.endswith("site-packages"))
    work = tempfile.mkdtemp(prefix="pyc-netbench-cli.")
    samples = {"_load0": _load()}
    try:
        launchers = {}
        for name, tree in trees.items():
            launchers[name] = os.path.join(work, f"pyc-{name}")
            with open(launchers[name], "w") as f:
                f.write(LAUNCHER.format(python=sys.executable, tree=tree, site=site))
            os.chmod(launchers[name], 0o755)
            samples[name] = {k: [] for k in ("docker bridge", "docker none", "runc bridge", "runc none")}
        first = next(iter(launchers.values()))
        from pycontainer.image.store import Store
        layers = Store().resolve(image).layers
        bundles = {}
        for mode in ("bridge", "none"):
            b = bundles[mode] = os.path.join(work, f"bundle-{mode}")
            os.mkdir(b)
            sh(first, "spec", cwd=b)
            with open(os.path.join(b, "config.json")) as f:
                spec = json.load(f)
            if len(layers) == 1:
                spec["root"] = {"path": layers[0], "readonly": True}
            else:
                raise SystemExit(f"--cli: {image} has {len(layers)} layers; use a one-layer image")
            spec["process"].update(args=["true"], terminal=False)
            if mode == "bridge":
                spec.setdefault("annotations", {})["org.pycontainer.network"] = "bridge"
            with open(os.path.join(b, "config.json"), "w") as f:
                json.dump(spec, f)
        cmds = {"docker bridge": ["run", "--rm", image, "true"],
                "docker none": ["run", "--rm", "--net", "none", image, "true"],
                "runc bridge": ["run", "-b", bundles["bridge"]],
                "runc none": ["run", "-b", bundles["none"]]}
        for i in range(n + 2):                       # 2 warm-up rounds (page cache), not counted
            order = [(t, k) for t in launchers for k in cmds]
            if i % 2:
                order.reverse()
            for tree, kind in order:
                argv = [launchers[tree], *cmds[kind]]
                if kind.startswith("runc"):
                    argv.append(f"pycnb{os.getpid()}{i}{kind[-4:]}{tree}"[:60])
                t = time.perf_counter()
                r = subprocess.run(argv, capture_output=True, text=True)
                dt = (time.perf_counter() - t) * 1e3
                if r.returncode:
                    raise SystemExit(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
                if i >= 2:
                    samples[tree][kind].append(dt)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print_pairs(f"cold CLI, n={n} per tree and kind, {os.cpu_count()} CPUs", samples,
                 [("docker bridge", "docker none"), ("runc bridge", "runc none")], 60)
    return samples


def sandbox_bench(trees, n, image):
    """API sandboxes, bridge vs none, interleaved inside each Client, trees alternating."""
    samples = {"_load0": _load()}
    for name in trees:
        samples[name] = {"sandbox bridge": [], "sandbox none": []}
    rounds = 4
    for r in range(rounds):
        for name, tree in (trees.items() if r % 2 == 0 else reversed(trees.items())):
            out = sh(sys.executable, "-c", SANDBOX_LOOP, tree, image, str(max(1, n // rounds)),
                     timeout=900)
            got = json.loads(out.stdout)
            samples[name]["sandbox bridge"] += got["bridge"]
            samples[name]["sandbox none"] += got["none"]
    _print_pairs(f"API sandbox, n={n} per tree and mode", samples,
                 [("sandbox bridge", "sandbox none")], 15)
    return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20, help="containers per side (default 20)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--cli", action="store_true", help="cold CLI run: bridge vs --net none")
    ap.add_argument("--sandbox", action="store_true", help="API sandbox: bridge vs none")
    ap.add_argument("--tree", action="append", metavar="NAME=CHECKOUT",
                    help="a pycontainer checkout to measure (repeatable; default: this one)")
    ap.add_argument("--image", default="busybox")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if args.cli or args.sandbox:
        trees, res = _trees(args.tree), {}
        if args.cli:
            res["cli"] = cli_bench(trees, args.n, args.image)
        if args.sandbox:
            res["sandbox"] = sandbox_bench(trees, args.n, args.image)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
        return
    if not os.path.exists(f"{CNI_DIR}/bridge") or not shutil.which("iptables"):
        raise SystemExit("CNI plugins missing: apt-get install containernetworking-plugins iptables "
                         "(../shared/clients/cni.sh installs them too)")
    from pycontainer import network
    from pycontainer.network import bridge  # noqa: F401

    work = tempfile.mkdtemp(prefix="pyc-netbench.")
    conf = json.dumps({
        "cniVersion": "1.0.0", "name": "pycbench", "type": "bridge", "bridge": CNI_BR,
        "isGateway": True, "ipMasq": True, "hairpinMode": True,
        "ipam": {"type": "host-local", "dataDir": f"{work}/ipam",
                 "ranges": [[{"subnet": f"{CNI_SUB}.0/24", "gateway": f"{CNI_SUB}.1"}]],
                 "routes": [{"dst": "0.0.0.0/0"}]}})
    req = {"mode": "bridge", "network": "bench", "bridge": PYC_BR, "subnet": PYC_SUB,
           "state_dir": f"{work}/pyc", "nft_table": PYC_TABLE}
    fwd = open("/proc/sys/net/ipv4/ip_forward").read()
    netns, res = [], {k: [] for k in ("cni_add", "cni_del", "pyc_warm", "pyc_down", "pyc_cold",
                                       "pyc_cold_import", "pyc_none")}
    first = {}

    def newns(tag):
        name = f"pycbench-{os.getpid()}-{tag}"
        sh("ip", "netns", "add", name)
        netns.append(name)
        return f"/run/netns/{name}"

    try:
        # warm the pyroute2 import in this process, as network.preload() would
        from pycontainer.network import rtnl
        rtnl.load()
        for i in range(args.n):
            # CNI bridge + host-local
            p = newns(f"c{i}")
            t, out = ms(cni, "ADD", f"pycbc{i}", p, conf)
            (first.setdefault("cni_add", t) if i == 0 else res["cni_add"].append(t))
            delconf = json.dumps({**json.loads(conf), "prevResult": json.loads(out)})
            t, _ = ms(cni, "DEL", f"pycbc{i}", p, delconf)
            res["cni_del"].append(t)
            # pycontainer, pyroute2 already imported
            p = newns(f"p{i}")
            t, saved = ms(network.setup, f"pycbp{i}", p, req)
            (first.setdefault("pyc_warm", t) if i == 0 else res["pyc_warm"].append(t))
            t, _ = ms(network.teardown, f"pycbp{i}", saved)
            res["pyc_down"].append(t)
            # pycontainer in a fresh process (pyroute2 import included)
            if i < min(args.n, 8):
                p = newns(f"q{i}")
                out = json.loads(sh(sys.executable, "-c", COLD, f"pycbq{i}", p, json.dumps(req)).stdout)
                res["pyc_cold"].append(out["setup_ms"])
                res["pyc_cold_import"].append(out["import_ms"])
                network.teardown(f"pycbq{i}", out["saved"])
            # --net none
            p = newns(f"n{i}")
            t, _ = ms(network.setup, f"pycbn{i}", p, "none")
            res["pyc_none"].append(t)
    finally:
        for n in netns:
            sh("ip", "netns", "del", n, check=False)
        try:
            network.gc([], f"{work}/pyc", prune=True)
        except Exception as exc:
            print("gc:", exc, file=sys.stderr)
        for b in (CNI_BR, PYC_BR):
            sh("ip", "link", "del", b, check=False)
        sh("nft", "delete", "table", "inet", PYC_TABLE, check=False)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(fwd)
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in res.items() if v}
    lines = [
        f"# {args.n} containers per side, {os.cpu_count()} CPUs, kernel {os.uname().release}",
        f"{'what':<34}{'median ms':>10}{'first ms':>10}",
        f"{'CNI bridge+host-local ADD':<34}{med['cni_add']:>10.1f}{first['cni_add']:>10.1f}",
        f"{'CNI bridge+host-local DEL':<34}{med['cni_del']:>10.1f}",
        f"{'pyc setup (pyroute2 preloaded)':<34}{med['pyc_warm']:>10.1f}{first['pyc_warm']:>10.1f}",
        f"{'pyc teardown':<34}{med['pyc_down']:>10.1f}",
        f"{'pyc setup cold (fresh process)':<34}{med['pyc_cold']:>10.1f}",
        f"{'  of which pyroute2 import':<34}{med['pyc_cold'] - med['pyc_warm']:>10.1f}",
        f"{'pyc --net none (lo up, ioctl)':<34}{med['pyc_none']:>10.2f}",
        f"ratio pyc preloaded / CNI ADD: {med['pyc_warm'] / med['cni_add']:.2f} (goal <= 0.50)",
        f"ratio pyc cold / CNI ADD:      {med['pyc_cold'] / med['cni_add']:.2f}",
    ]
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"median_ms": med, "first_ms": first, "samples_ms": res}, f, indent=1)


if __name__ == "__main__":
    main()
