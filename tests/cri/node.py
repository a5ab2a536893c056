"""A one-machine Kubernetes node without the kubelet: a private containerd
with its CRI plugin, a CNI bridge network, a local registry and a CRI client.

``Node(work).start()`` brings up, all under the temp dir ``work``:

* a launcher script ``work/bin/pycontainer`` that runs *this checkout's*
  pycontainer (as .ci/install.sh's /usr/local/bin/pycontainer does for the
  installed one), so the handler under test is the code under test;
* an HTTP registry on 127.0.0.1 (a thread, cri_images.py) serving a busybox image, for
  PullImage; and a pause-like image (busybox ``sleep``) imported with
  ``ctr -n k8s.io image import`` from an OCI archive, as ``sandbox_image``;
* a CNI config (bridge + host-local, Debian's containernetworking-plugins)
  with its own bridge name, subnet and lease dir;
* containerd with its own root, state, sockets and config: the CRI plugin
  on, cgroupfs driver, two runtime handlers of type io.containerd.runc.v2:
  ``runc`` (BinaryName=/usr/sbin/runc) and ``pycontainer`` (BinaryName=the
  launcher), each with its own runtime root (options.Root);
* grpc stubs for the CRI (tests/cri/cri.proto) generated with grpcio-tools.

``close()`` stops containerd and its shims (by PID), removes the bridge,
netns, mounts, cgroups and directories it made, and restores ip_forward.
``leaks()`` lists what a pod left behind once it is gone. Used by
tests/cri/test_cri.py and bench/cri.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from cri_images import Registry, busybox_image, oci_archive

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV = "/opt/pycontainer"
PACKAGES = {"containerd": "containerd", "ctr": "containerd", "containerd-shim-runc-v2": "containerd",
            "runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins",
            "/bin/busybox": "busybox-static"}


class NodeError(Exception):
    pass


def missing_packages() -> list[str]:
    out = []
    for cmd, pkg in PACKAGES.items():
        ok = os.path.exists(cmd) if cmd.startswith("/") else shutil.which(cmd)
        if not ok and pkg not in out:
            out.append(pkg)
    return out


def install_packages() -> None:
    want = missing_packages()
    if want:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", *want]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(cmd, env=env, capture_output=True, check=True)


def write_launcher(path: str, checkout: str = REPO, venv: str = VENV) -> str:
    """A pycontainer command for ``checkout`` (containerd's BinaryName needs a path)."""
    py = os.path.join(venv, "bin", "python")
    paths = subprocess.run([py, "-c", "import sysconfig, json; p = sysconfig.get_paths(); "
                            "print(json.dumps([p['purelib'], p['platlib']]))"],
                           capture_output=True, text=True, check=True).stdout
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"#!{py} -IS\n# pycontainer launcher for {checkout} (tests/cri/node.py)\nimport sys\n"
                f"sys.path[0:0] = {json.dumps([checkout, *json.loads(paths)])}\n"
                "from pycontainer.entry import main\nmain()\n")
    os.chmod(path, 0o755)
    return path


# --- the node ----------------------------------------------------------------------------

def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_matching(text: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid() and text in _cmdline(int(d)):
            out.append(int(d))
    return out


def _stop_pid(pid: int, grace: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or _state(pid) == "Z":
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    return out


class Node:
    """See the module docstring. ``tag`` keeps names unique between runs."""

    HANDLERS = ("pycontainer", "runc")

    def __init__(self, work: str, checkout: str = REPO, subnet: str | None = None):
        self.work = os.path.abspath(work)
        self.checkout = checkout
        self.tag = "%04x" % (os.getpid() & 0xFFFF)
        self.bridge = f"pyccri{self.tag}"
        self.subnet = subnet
        self.sock = os.path.join(self.work, "containerd.sock")
        self.cgroup_top = f"pyc-kubepods-{self.tag}"     # the kubelet's "kubepods" root
        self.proc = None
        self.registry = None
        self.channel = None
        self.pb = self.rpc = None
        self.runtime = self.images = None
        self.fwd_before = open("/proc/sys/net/ipv4/ip_forward").read().strip()
        self.netns_before = set(os.listdir("/var/run/netns")) if os.path.isdir("/var/run/netns") else set()
        self.run_ctrd_existed = os.path.exists("/run/containerd")
        self.launcher = os.path.join(self.work, "bin", "pycontainer")

    # --- setup ----------------------------------------------------------------------
    def start(self) -> "Node":
        os.makedirs(self.work, exist_ok=True)
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode == 0:
            raise NodeError(f"bridge {self.bridge} exists already")
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        if self.subnet is None:            # a free /24 of 10.231.17-40 (cni.sh uses 10.231.9)
            self.subnet = next((f"10.231.{i}" for i in range(17, 41) if f"10.231.{i}." not in routes), None)
        if self.subnet is None or f"{self.subnet}." in routes:
            raise NodeError(f"no free subnet for the pod network (tried 10.231.17-40.0/24): {routes}")
        write_launcher(self.launcher, self.checkout)
        self._stubs()
        pause = busybox_image(self.work, ["sleep", "2147483647"])
        app = busybox_image(self.work, ["sh"])
        self.registry = Registry({"pyc/busybox:1": app})
        self.image = f"127.0.0.1:{self.registry.port}/pyc/busybox:1"
        self.pause_image = "docker.io/library/pyc-pause:1"
        self._cni()
        self._containerd()
        self.ctr("image", "import", oci_archive(os.path.join(self.work, "pause.tar"), pause,
                                                self.pause_image))
        return self

    def _stubs(self) -> None:
        out = os.path.join(self.work, "stubs")
        os.makedirs(out, exist_ok=True)
        from grpc_tools import protoc
        import grpc_tools
        inc = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        rc = protoc.main(["protoc", f"-I{HERE}", f"-I{inc}", f"--python_out={out}",
                          f"--grpc_python_out={out}", os.path.join(HERE, "cri.proto")])
        if rc != 0:
            raise NodeError(f"protoc failed ({rc})")
        sys.path.insert(0, out)
        import cri_pb2
        import cri_pb2_grpc
        sys.path.remove(out)
        self.pb, self.rpc = cri_pb2, cri_pb2_grpc

    def _cni(self) -> None:
        conf = os.path.join(self.work, "cni", "net.d")
        os.makedirs(conf, exist_ok=True)
        self.ipam_dir = os.path.join(self.work, "cni", "ipam")
        self.netname = f"pyccri-{self.tag}"
        with open(os.path.join(conf, "10-pyccri.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": self.netname, "plugins": [{
                "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "dataDir": self.ipam_dir,
                         "ranges": [[{"subnet": f"{self.subnet}.0/24", "gateway": f"{self.subnet}.1"}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}}]}, f, indent=1)

    def runtime_root(self, handler: str) -> str:
        return os.path.join(self.work, "runtime-root", handler)

    def config_toml(self) -> str:
        w = self.work
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        runtimes = ""
        for h, binary in (("runc", shutil.which("runc") or "/usr/sbin/runc"), ("pycontainer", self.launcher)):
            runtimes += f"""
[{cri}.containerd.runtimes.{h}]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.{h}.options]
  BinaryName = "{binary}"
  Root = "{self.runtime_root(h)}"
  SystemdCgroup = false
"""
        return f"""version = 2
root = "{w}/root"
state = "{w}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = "{w}/debug.sock"
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "{w}/opt"
[{cri}]
  sandbox_image = "{self.pause_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_tcp_service = true
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true     # no CAP_SYS_RESOURCE here: never below our own
[{cri}.containerd]
  default_runtime_name = "runc"
  snapshotter = "overlayfs"
{runtimes}
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{w}/cni/net.d"
  max_conf_num = 1
[{cri}.registry.mirrors."127.0.0.1:{self.registry.port}"]
  endpoint = ["http://127.0.0.1:{self.registry.port}"]
"""

    def _containerd(self) -> None:
        cfg = os.path.join(self.work, "config.toml")
        with open(cfg, "w") as f:
            f.write(self.config_toml())
        for h in self.HANDLERS:
            os.makedirs(self.runtime_root(h), exist_ok=True)
        self.log = open(os.path.join(self.work, "containerd.log"), "wb")
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        import grpc
        self.channel = grpc.insecure_channel("unix://" + self.sock)
        self.runtime = self.rpc.RuntimeServiceStub(self.channel)
        self.images = self.rpc.ImageServiceStub(self.channel)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.runtime.Version(self.pb.VersionRequest(version="v1"), timeout=2)
                return
            except grpc.RpcError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise NodeError(f"containerd did not come up ({exc.code()}): "
                                    + self.containerd_log()[-2000:]) from None
                time.sleep(0.2)

    def containerd_log(self) -> str:
        try:
            return open(os.path.join(self.work, "containerd.log"), errors="replace").read()
        except OSError:
            return ""

    def ctr(self, *args: str) -> str:
        p = subprocess.run(["ctr", "--address", self.sock, "--namespace", "k8s.io", *args],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    # --- what a pod leaves ----------------------------------------------------------------
    def leaks(self) -> list[str]:
        """What is left once every pod is removed (empty list: nothing)."""
        out = []
        for h in self.HANDLERS:           # the shim passes --root <Root>/<namespace>
            left = [os.path.join(ns, c) for ns in _listdir(self.runtime_root(h))
                    for c in _listdir(os.path.join(self.runtime_root(h), ns))]
            if left:
                out.append(f"{h} runtime state: {left}")
        for d in self._cgroup_dirs():     # <top>/<qos>/pod<uid>[/<container>] are the pods'
            for dirpath, _, _ in os.walk(d):
                if os.path.relpath(dirpath, d).count("/") >= 1:
                    out.append(f"cgroup {dirpath}")
        mounts = _mounts_under(self.work)
        if mounts:
            out.append(f"mounts: {mounts}")
        if os.path.isdir("/var/run/netns"):
            new = set(os.listdir("/var/run/netns")) - self.netns_before
            if new:
                out.append(f"netns: {sorted(new)}")
        veths = subprocess.run(["ip", "-br", "link", "show", "master", self.bridge],
                               capture_output=True, text=True).stdout.strip()
        if veths:
            out.append(f"veths on {self.bridge}: {veths}")
        leases = [n for n in _listdir(os.path.join(self.ipam_dir, self.netname))
                  if n not in ("lock",) and not n.startswith("last_reserved_ip")]
        if leases:
            out.append(f"CNI leases: {leases}")
        shims = [p for p in _pids_matching(self.sock) if self.proc is None or p != self.proc.pid]
        if shims:
            out.append(f"shims: {[(p, _cmdline(p)[:80]) for p in shims]}")
        return out

    def _cgroup_dirs(self) -> list[str]:
        out = []
        for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            for ctl in [""] + (os.listdir(base) if os.path.isdir(base) else []):
                d = os.path.join(base, ctl, self.cgroup_top)
                if os.path.isdir(d) and d not in out:
                    out.append(d)
        return out

    # --- teardown -----------------------------------------------------------------------------
    def close(self) -> None:
        if self.channel is not None and self.proc is not None and self.proc.poll() is None:
            try:
                self.remove_all_pods()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None:
            _stop_pid(self.proc.pid)
            self.proc.wait(timeout=30)
            self.log.close()
        for p in _pids_matching(self.sock):     # shims (their argv names our socket)
            _stop_pid(p, 3)
        for h in self.HANDLERS:               # containers a shim left, by their runtime's own verbs
            binary = self.launcher if h == "pycontainer" else "runc"
            for ns in _listdir(self.runtime_root(h)):
                root = os.path.join(self.runtime_root(h), ns)
                for cid in _listdir(root):
                    subprocess.run([binary, "--root", root, "delete", "--force", cid], capture_output=True)
        for m in sorted(_mounts_under(self.work), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        if os.path.isdir("/var/run/netns"):
            for n in set(os.listdir("/var/run/netns")) - self.netns_before:
                if n.startswith("cni-"):
                    subprocess.run(["umount", "-l", f"/var/run/netns/{n}"], capture_output=True)
                    try:
                        os.unlink(f"/var/run/netns/{n}")
                    except OSError:
                        pass
        for d in self._cgroup_dirs():
            for dirpath, _, _ in sorted(os.walk(d), key=lambda t: len(t[0]), reverse=True):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        if open("/proc/sys/net/ipv4/ip_forward").read().strip() != self.fwd_before:
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(self.fwd_before)
        if self.registry is not None:
            self.registry.close()
        if not self.run_ctrd_existed:
            for d in ("/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc",
                      "/run/containerd"):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        shutil.rmtree(self.work, ignore_errors=True)

    def reset(self) -> None:
        """Remove every pod (through the CRI) and the pod cgroups a test made."""
        try:
            self.remove_all_pods()
        finally:
            for d in self._cgroup_dirs():
                for dirpath, _, _ in sorted(os.walk(d), key=lambda t: len(t[0]), reverse=True):
                    if dirpath != d:
                        try:
                            os.rmdir(dirpath)
                        except OSError:
                            pass

    def remove_all_pods(self) -> None:
        pb = self.pb
        for c in self.runtime.ListContainers(pb.ListContainersRequest(), timeout=30).containers:
            self.runtime.StopContainer(pb.StopContainerRequest(container_id=c.id, timeout=0), timeout=60)
            self.runtime.RemoveContainer(pb.RemoveContainerRequest(container_id=c.id), timeout=60)
        for s in self.runtime.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=30).items:
            self.runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=60)
            self.runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=s.id), timeout=60)


def _listdir(d: str) -> list[str]:
    try:
        return sorted(os.listdir(d))
    except OSError:
        return []
