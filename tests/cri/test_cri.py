"""pycontainer as a Kubernetes runtime handler, driven through the CRI as the kubelet would.

A private containerd (CRI plugin, cgroupfs driver, CNI bridge network,
tests/cri/node.py) has two runtime handlers of type io.containerd.runc.v2:
``pycontainer`` (a launcher for this checkout) and ``runc`` (Debian's). The
same pod lifecycle runs against each, through a Python gRPC client of the
CRI v1 API (tests/cri/cri.proto), and is checked from outside: /proc, the
cgroup tree, the CRI log file, the network. With ``runc`` it proves the
client; with ``pycontainer`` the runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import IS_ROOT

pytestmark = [pytest.mark.root, pytest.mark.clients]
MiB = 1 << 20


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    if not IS_ROOT:
        pytest.skip("needs root")
    pytest.importorskip("grpc", reason="pip install grpcio grpcio-tools (the test extra)")
    pytest.importorskip("grpc_tools", reason="pip install grpcio grpcio-tools (the test extra)")
    import node as nodemod
    try:
        nodemod.install_packages()
    except subprocess.CalledProcessError:
        pytest.skip(f"cannot install {nodemod.missing_packages()}")
    n = nodemod.Node(str(tmp_path_factory.mktemp("cri")))
    try:
        n.start()
        yield n
    finally:
        n.close()


@pytest.fixture
def pods(node):
    """Whatever a failed test left (pods, pod cgroups) goes before the next one."""
    yield
    node.reset()


def wait_for(fn, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def cgroup_dir(pid: int, controller: str) -> str:
    """The container's cgroup directory for ``controller`` (v1), or its v2 directory."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [ln.rstrip("\n").split(":", 2) for ln in f]
    for _, ctls, path in lines:
        if controller in ctls.split(","):
            return f"/sys/fs/cgroup/{controller}{path}"
    for hid, ctls, path in lines:
        if hid == "0" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            return f"/sys/fs/cgroup{path}"
    raise AssertionError(f"pid {pid}: no {controller} cgroup in {lines}")


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def limits(pid: int) -> dict:
    mem = cgroup_dir(pid, "memory")
    cpu = cgroup_dir(pid, "cpu")
    if os.path.exists(os.path.join(mem, "memory.max")):
        quota, period = read(os.path.join(cpu, "cpu.max")).split()
        return {"memory": int(read(os.path.join(mem, "memory.max"))), "quota": int(quota),
                "period": int(period), "cgroup": mem}
    return {"memory": int(read(os.path.join(mem, "memory.limit_in_bytes"))),
            "quota": int(read(os.path.join(cpu, "cpu.cfs_quota_us"))),
            "period": int(read(os.path.join(cpu, "cpu.cfs_period_us"))),
            "shares": int(read(os.path.join(cpu, "cpu.shares"))), "cgroup": mem}


class Kubelet:
    """The calls a kubelet makes for one pod, with the configs it would send."""

    def __init__(self, node, handler: str):
        self.n, self.pb, self.rt = node, node.pb, node.runtime
        self.handler = handler
        self.uid = str(uuid.uuid4())
        self.pod_cgroup = f"/{node.cgroup_top}/burstable/pod{self.uid}"
        self.logdir = os.path.join(node.work, "pods", f"default_web-{handler}_{self.uid}")
        os.makedirs(self.logdir, exist_ok=True)
        pb = self.pb
        self.sandbox_config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=f"web-{handler}", uid=self.uid, namespace="default"),
            hostname=f"web-{handler}", log_directory=self.logdir,
            labels={"app": "web"}, annotations={"example.com/pod": "yes"},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.pod_cgroup,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD),
                    seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault)),
                resources=pb.LinuxContainerResources(memory_limit_in_bytes=256 * MiB, cpu_shares=1024)))
        self.pod = None

    def make_pod_cgroup(self):
        """The kubelet makes the pod's cgroup (with the pod's limits) before RunPodSandbox."""
        for d in self._pod_cgroup_dirs(create=True):
            if os.path.exists(os.path.join(d, "memory.limit_in_bytes")):
                with open(os.path.join(d, "memory.limit_in_bytes"), "w") as f:
                    f.write(str(256 * MiB))
            elif os.path.exists(os.path.join(d, "memory.max")):
                with open(os.path.join(d, "memory.max"), "w") as f:
                    f.write(str(256 * MiB))

    def _pod_cgroup_dirs(self, create=False):
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            bases = ["/sys/fs/cgroup"]
        elif create:
            bases = [f"/sys/fs/cgroup/{c}" for c in ("memory", "cpu,cpuacct", "pids")]
        else:
            bases = [f"/sys/fs/cgroup/{c}" for c in sorted(os.listdir("/sys/fs/cgroup"))
                     if not os.path.islink(f"/sys/fs/cgroup/{c}")]
        out = []
        for b in bases:
            d = b + self.pod_cgroup
            if create:
                os.makedirs(d, exist_ok=True)
            out.append(d)
        return out

    def run_pod(self):
        self.pod = self.rt.RunPodSandbox(self.pb.RunPodSandboxRequest(
            config=self.sandbox_config, runtime_handler=self.handler), timeout=120).pod_sandbox_id
        return self.pod

    def pod_status(self):
        return self.rt.PodSandboxStatus(self.pb.PodSandboxStatusRequest(
            pod_sandbox_id=self.pod, verbose=True), timeout=30)

    def create(self, name, command, *, memory=0, quota=0, shares=0, oom_score_adj=0, pid=None,
               swap=None, tty=False):
        pb = self.pb
        res = pb.LinuxContainerResources(cpu_period=100000 if quota else 0, cpu_quota=quota,
                                         cpu_shares=shares, memory_limit_in_bytes=memory,
                                         oom_score_adj=oom_score_adj,
                                         memory_swap_limit_in_bytes=swap if swap is not None else memory)
        cfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name), image=pb.ImageSpec(image=self.n.image),
            command=command, log_path=f"{name}/0.log", tty=tty,
            envs=[pb.KeyValue(key="POD_HANDLER", value=self.handler)],
            labels={"io.kubernetes.container.name": name},
            annotations={"example.com/container": name},
            linux=pb.LinuxContainerConfig(
                resources=res,
                security_context=pb.LinuxContainerSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.POD, ipc=pb.POD,
                                                         pid=pid if pid is not None else pb.CONTAINER),
                    seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
                    masked_paths=["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                    readonly_paths=["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                    "/proc/sysrq-trigger"])))
        return self.rt.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id=self.pod, config=cfg, sandbox_config=self.sandbox_config), timeout=120).container_id

    def start(self, cid):
        self.rt.StartContainer(self.pb.StartContainerRequest(container_id=cid), timeout=120)

    def status(self, cid):
        r = self.rt.ContainerStatus(self.pb.ContainerStatusRequest(container_id=cid, verbose=True),
                                    timeout=30)
        return r.status, json.loads(r.info.get("info", "{}") or "{}")

    def wait_exited(self, cid, timeout=30):
        return wait_for(lambda: (lambda s: s if s.state == self.pb.CONTAINER_EXITED else None)(
            self.status(cid)[0]), timeout, f"container {cid[:12]} EXITED")

    def exec_sync(self, cid, cmd, timeout=10):
        return self.rt.ExecSync(self.pb.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout),
                                timeout=timeout + 30)

    def runtime_state(self, cid):
        """The runtime's own `state` of a container (the handler's binary, its root)."""
        binary = self.n.launcher if self.handler == "pycontainer" else "runc"
        root = os.path.join(self.n.runtime_root(self.handler), "k8s.io")
        p = subprocess.run([binary, "--root", root, "state", cid],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


@pytest.mark.parametrize("handler", ["pycontainer", "runc"])
def test_pod_lifecycle_through_cri(node, pods, handler):
    pb, rt = node.pb, node.runtime
    k = Kubelet(node, handler)

    # Version, PullImage, ImageStatus
    v = rt.Version(pb.VersionRequest(version="v1"), timeout=10)
    assert v.runtime_name == "containerd" and v.runtime_api_version == "v1", v
    ref = node.images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=node.image)), timeout=120).image_ref
    assert ref.startswith("sha256:"), ref
    st = node.images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=node.image)), timeout=10)
    assert st.image.id == ref and node.image in st.image.repo_tags

    # RunPodSandbox with the handler, pod cgroup parent, CNI pod IP
    k.make_pod_cgroup()
    pod = k.run_pod()
    ps = k.pod_status()
    assert ps.status.state == pb.SANDBOX_READY, ps.status
    assert ps.status.runtime_handler == handler
    ip = ps.status.network.ip
    assert ip.startswith(node.subnet + "."), ps.status.network
    sinfo = json.loads(ps.info["info"])
    assert sinfo["runtimeHandler"] == handler
    sandbox_pid = sinfo["pid"]
    assert cgroup_dir(sandbox_pid, "memory").endswith(f"{k.pod_cgroup}/{pod}")
    sandbox_netns = os.readlink(f"/proc/{sandbox_pid}/ns/net")
    assert sandbox_netns != os.readlink("/proc/self/ns/net")

    # two containers: a server on the pod IP, a client over localhost (shared netns)
    server = k.create("server", ["sh", "-c", "mkdir -p /www && echo hello-from-$POD_HANDLER > "
                                             "/www/index.html && echo server-up && exec httpd -f -p 8080 -h /www"],
                      memory=64 * MiB, quota=50000, shares=256, oom_score_adj=500)
    k.start(server)
    client = k.create("client", ["sh", "-c", "until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; "
                                             "echo client-done; exec sleep 3600"], pid=pb.POD)
    k.start(client)
    for cid in (server, client):
        s, info = k.status(cid)
        assert s.state == pb.CONTAINER_RUNNING, s
        assert os.readlink(f"/proc/{info['pid']}/ns/net") == sandbox_netns
        assert os.readlink(f"/proc/{info['pid']}/ns/ipc") == os.readlink(f"/proc/{sandbox_pid}/ns/ipc")
        assert os.readlink(f"/proc/{info['pid']}/ns/uts") == os.readlink(f"/proc/{sandbox_pid}/ns/uts")
    spid = k.status(server)[1]["pid"]
    cpid = k.status(client)[1]["pid"]
    # pid: the server has its own pid namespace, the client joins the sandbox's (by path)
    assert os.readlink(f"/proc/{spid}/ns/pid") != os.readlink(f"/proc/{sandbox_pid}/ns/pid")
    assert os.readlink(f"/proc/{cpid}/ns/pid") == os.readlink(f"/proc/{sandbox_pid}/ns/pid")
    body = wait_for(lambda: _get(f"http://{ip}:8080/"), 15, "httpd on the pod IP")
    assert body.strip() == f"hello-from-{handler}"
    log = os.path.join(k.logdir, "client", "0.log")
    wait_for(lambda: os.path.exists(log) and "client-done" in open(log).read(), 15, "client-done in CRI log")
    # the CRI log format: RFC3339Nano time, stream, P/F tag, line
    lines = [ln.split(" ", 3) for ln in open(log).read().splitlines()]
    assert [ln[1:] for ln in lines] == [["stdout", "F", f"hello-from-{handler}"], ["stdout", "F", "client-done"]]
    assert all(ln[0].endswith("Z") and "T" in ln[0] for ln in lines)

    # the runtime saw what containerd put in config.json
    state = k.runtime_state(server)
    ann = state.get("annotations", {})
    assert ann.get("io.kubernetes.cri.container-type") == "container"
    assert ann.get("io.kubernetes.cri.sandbox-id") == pod
    assert ann.get("io.kubernetes.cri.container-name") == "server"
    assert read(f"/proc/{spid}/oom_score_adj") == "500"
    status = dict(ln.split(":\t", 1) for ln in read(f"/proc/{spid}/status").splitlines() if ":\t" in ln)
    assert status["Seccomp"].strip() == "2", "RuntimeDefault seccomp profile not applied"
    mi = k.exec_sync(server, ["cat", "/proc/self/mountinfo"]).stdout.decode()
    mps = {ln.split()[4]: ln.split()[5] for ln in mi.splitlines()}
    assert "/proc/keys" in mps and "/sys/firmware" in mps, mps            # masked
    assert mps["/proc/sys"].split(",")[0] == "ro", mps                    # read-only

    # a tty container: the runtime hands the shim a pty master over --console-socket
    tty = k.create("tty", ["sh", "-c", "tty; echo tty-done; exec sleep 3600"], tty=True)
    k.start(tty)
    tlog = os.path.join(k.logdir, "tty", "0.log")
    wait_for(lambda: os.path.exists(tlog) and "tty-done" in open(tlog).read(), 15, "tty-done in CRI log")
    assert "stdout F /dev/pts/0" in open(tlog).read(), open(tlog).read()

    # ExecSync: exit code and both streams
    r = k.exec_sync(server, ["sh", "-c", "echo out-$POD_HANDLER; echo err >&2; exit 3"])
    assert (r.exit_code, r.stdout, r.stderr) == (3, f"out-{handler}\n".encode(), b"err\n")
    assert k.exec_sync(server, ["hostname"]).stdout.decode().strip() == f"web-{handler}"

    # limits in the container's cgroup, below the pod's; UpdateContainerResources changes them
    lim = limits(spid)
    assert lim["cgroup"].endswith(f"{k.pod_cgroup}/{server}"), lim
    assert (lim["memory"], lim["quota"], lim["period"]) == (64 * MiB, 50000, 100000), lim
    if "shares" in lim:
        assert lim["shares"] == 256
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=server, linux=pb.LinuxContainerResources(
            cpu_period=100000, cpu_quota=25000, cpu_shares=512, memory_limit_in_bytes=96 * MiB,
            memory_swap_limit_in_bytes=96 * MiB)), timeout=30)
    lim = limits(spid)
    assert (lim["memory"], lim["quota"]) == (96 * MiB, 25000), lim
    if "shares" in lim:
        assert lim["shares"] == 512

    # a container exiting non-zero is EXITED with its code
    bad = k.create("fails", ["sh", "-c", "echo failing; exit 7"])
    k.start(bad)
    s = k.wait_exited(bad)
    assert (s.exit_code, s.reason) == (7, "Error"), s

    # a container over its memory limit is OOMKilled
    # (after a second: the shim watches memory.oom_control only once `start` has returned)
    oom = k.create("oom", ["sh", "-c", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1"],
                   memory=16 * MiB)
    k.start(oom)
    s = k.wait_exited(oom)
    # containerd sets the reason from the shim's TaskOOM event, which may come after TaskExit
    deadline = time.monotonic() + 5
    while s.reason != "OOMKilled" and time.monotonic() < deadline:
        time.sleep(0.1)
        s = k.status(oom)[0]
    assert (s.exit_code, s.reason) == (137, "OOMKilled"), s

    # StopContainer with a timeout on a program that ignores SIGTERM
    stubborn = k.create("stubborn", ["sh", "-c", "trap '' TERM; echo ignoring-term; "
                                                 "while :; do sleep 0.2; done"])
    k.start(stubborn)
    wait_for(lambda: os.path.exists(os.path.join(k.logdir, "stubborn", "0.log")) and
             "ignoring-term" in open(os.path.join(k.logdir, "stubborn", "0.log")).read(), 10, "trap set")
    t0 = time.monotonic()
    rt.StopContainer(pb.StopContainerRequest(container_id=stubborn, timeout=2), timeout=60)
    took = time.monotonic() - t0
    s = k.status(stubborn)[0]
    assert s.state == pb.CONTAINER_EXITED and s.exit_code == 137, s
    assert 1.9 <= took < 15, took

    # stop and remove everything, as the kubelet does
    for cid in (server, client, tty, bad, oom, stubborn):
        rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=1), timeout=60)
        assert k.status(cid)[0].state == pb.CONTAINER_EXITED
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=60)
    assert not rt.ListContainers(pb.ListContainersRequest(
        filter=pb.ContainerFilter(pod_sandbox_id=pod)), timeout=10).containers
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    assert k.pod_status().status.state == pb.SANDBOX_NOTREADY
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    assert pod not in [p.id for p in rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=10).items]
    for pid in (sandbox_pid, spid, cpid):
        assert not os.path.exists(f"/proc/{pid}"), f"pid {pid} still alive"
    # the kubelet removes the pod cgroup; nothing else may be left
    for d in k._pod_cgroup_dirs():
        if os.path.isdir(d):
            assert not [x for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))], d
            os.rmdir(d)
    assert node.leaks() == []


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None
