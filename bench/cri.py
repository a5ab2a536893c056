#!/usr/bin/env python3
"""A pod through the CRI, as the kubelet drives it: pycontainer vs runc as the handler.

One private containerd (tests/cri/node.py: CRI plugin, CNI bridge, local
registry, both handlers as io.containerd.runc.v2 runtimes) serves both
handlers in the same run, interleaved (pycontainer, runc, pycontainer, ...)
so load changes hit both alike. Each round times, in milliseconds:

* ``up``: RunPodSandbox (pause container + CNI) + CreateContainer + StartContainer
  of one busybox ``sleep`` container, until ContainerStatus says RUNNING;
* ``exec``: one ExecSync of ``true`` in the running container (what an exec probe costs);
* ``down``: StopContainer (timeout 0) + RemoveContainer + StopPodSandbox + RemovePodSandbox.

Prints medians per handler and the ratio pycontainer/runc. Root only; needs
containerd, runc, containernetworking-plugins, grpcio, grpcio-tools.

    /opt/pycontainer/bin/python bench/cri.py [-n RUNS] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "cri"))
import node as nodemod  # noqa: E402


def one_pod(n, handler: str) -> tuple[float, float, float]:
    pb, rt = n.pb, n.runtime
    uid = str(uuid.uuid4())
    cg = f"/{n.cgroup_top}/besteffort/pod{uid}"
    sandbox = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=f"bench-{handler}", uid=uid, namespace="default"),
        hostname="bench", log_directory=os.path.join(n.work, "pods", uid),
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=cg, security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD))))
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image=n.image),
                             command=["sleep", "3600"], log_path="app.log",
                             linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                                 namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER,
                                                                      ipc=pb.POD))))
    t0 = time.perf_counter()
    pod = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox, runtime_handler=handler),
                           timeout=120).pod_sandbox_id
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, config=cfg, sandbox_config=sandbox),
                             timeout=120).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=120)
    while rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid), timeout=30).status.state \
            != pb.CONTAINER_RUNNING:
        time.sleep(0.005)
    t1 = time.perf_counter()
    r = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["true"], timeout=10), timeout=60)
    assert r.exit_code == 0, r
    te = time.perf_counter()
    t_exec = (te - t1) * 1000
    t1 = te
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0), timeout=60)
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=60)
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    t2 = time.perf_counter()
    for d in sorted(os.listdir("/sys/fs/cgroup")):          # the kubelet removes the pod cgroup
        for p in (f"/sys/fs/cgroup/{d}{cg}", f"/sys/fs/cgroup{cg}"):
            try:
                os.rmdir(p)
            except OSError:
                pass
    return (t1 - t0) * 1000 - t_exec, t_exec, (t2 - t1) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    handlers = ("pycontainer", "runc")
    res = {h: {"up": [], "exec": [], "down": []} for h in handlers}
    n = nodemod.Node(tempfile.mkdtemp(prefix="pyc-cri-bench."))
    try:
        n.start()
        n.images.PullImage(n.pb.PullImageRequest(image=n.pb.ImageSpec(image=n.image)), timeout=120)
        for h in handlers:                               # warm-up: page cache, shim binary
            one_pod(n, h)
        for _ in range(a.n):
            for h in handlers:
                for k, v in zip(("up", "exec", "down"), one_pod(n, h)):
                    res[h][k].append(v)
        leaks = n.leaks()
    finally:
        n.close()
    med = {h: {k: statistics.median(v) for k, v in r.items()} for h, r in res.items()}
    print(f"CRI pod (sandbox + 1 container), {a.n} runs each, interleaved, median ms")
    print(f"{'handler':<12} {'up':>8} {'down':>8} {'up+down':>8} {'exec':>8}")
    for h in handlers:
        m = med[h]
        print(f"{h:<12} {m['up']:8.1f} {m['down']:8.1f} {m['up'] + m['down']:8.1f} {m['exec']:8.1f}")
    p, r = med["pycontainer"], med["runc"]
    print(f"ratio pycontainer/runc: up {p['up'] / r['up']:.2f}x, down {p['down'] / r['down']:.2f}x, "
          f"up+down {(p['up'] + p['down']) / (r['up'] + r['down']):.2f}x, exec {p['exec'] / r['exec']:.2f}x")
    if leaks:
        print(f"LEFT BEHIND: {leaks}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": res, "median": med}, f, indent=1)
    sys.exit(1 if leaks else 0)


if __name__ == "__main__":
    main()
