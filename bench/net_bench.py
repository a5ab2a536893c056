#!/usr/bin/env python3
"""Added latency of bridge networking: pycontainer vs CNI bridge + host-local.

Run as root:  /opt/pycontainer-venv/bin/python bench/net_bench.py [-n 20]

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
  pyroute2 import (~150-200 ms here) — the worst case, without preload;
* ``pyc none``: ``--net none`` (``lo`` up by ioctl, no pyroute2).

The first ADD/setup of each side also creates the bridge (and nft table /
iptables chains); it is reported apart ("first"), the rest are medians.
Iterations alternate between the two sides so both see the same machine.
Everything made here has a ``pyc`` prefix and is removed at the end; traffic:
none (nothing is sent, only configured).
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20, help="containers per side (default 20)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
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
        import pyroute2.iproute  # noqa: F401
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
