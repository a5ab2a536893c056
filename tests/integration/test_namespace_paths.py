"""runc's namespace options (issue 11 item 3): namespaces joined by path, and no mount namespace.

runc accepts a config whose ``linux.namespaces`` has no ``mount`` entry (it
mounts into the runtime's own mount namespace and chroots) or joins one by
``path``; it refuses masked/readonly paths without a mount entry ("unable to
restrict sys entries without a private MNT namespace"). pycontainer does the
same, and, unlike runc, ``delete`` unmounts every mount it made in a mount
table it shares. The checks compare ``/proc/PID/ns/*`` of the container's
init with the joined (or inherited) namespace, and mountinfo before and
after.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import _mounts as _all_mounts, new_id

pytestmark = pytest.mark.root

NS = {"network": "net", "ipc": "ipc", "uts": "uts", "cgroup": "cgroup", "pid": "pid", "mount": "mnt",
      "user": "user"}


class Holder:
    """A process of ours (``unshare ... sleep``) whose namespaces a container joins."""

    def __init__(self, *flags: str):
        self.p = subprocess.Popen(["unshare", *flags, "--fork", "sleep", "120"],
                                  stdin=subprocess.DEVNULL)
        self.pid = self._child()

    def _child(self) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.p.pid}/task/{self.p.pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    pid = int(kids[0])
                    if os.readlink(f"/proc/{pid}/exe").endswith("sleep"):
                        return pid
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("unshare's child did not start")

    def ns(self, name: str) -> str:
        return os.readlink(f"/proc/{self.pid}/ns/{name}")

    def mountinfo(self) -> list[str]:
        with open(f"/proc/{self.pid}/mountinfo") as f:
            return sorted(" ".join(line.split()[3:5]) for line in f)

    def stop(self):
        self.p.kill()
        self.p.wait()


@pytest.fixture
def holder():
    hs = []

    def make(*flags):
        h = Holder(*flags)
        hs.append(h)
        return h
    yield make
    for h in hs:
        h.stop()


def _mounts() -> list[str]:
    """The host's mounts that tests of this file can have made (other helpers' come and go)."""
    import tempfile
    return [m for m in _all_mounts() if tempfile.gettempdir() + "/pytest-of-" in m and "/cri" not in m
            and "io.containerd" not in m]


def _init_ns(cli, cid: str, name: str) -> str:
    return os.readlink(f"/proc/{cli.state(cid)['pid']}/ns/{name}")


def test_every_namespace_joined_by_path(cli, bundle, holder, leakcheck):
    """net, ipc, uts, cgroup, pid and mount all given by path: the init (and exec) are in
    exactly those; the joined mount namespace has the same mounts after delete."""
    h = holder("--net", "--ipc", "--uts", "--cgroup", "--pid", "--mount", "--propagation", "private")
    before = h.mountinfo()
    bundle.config["linux"]["namespaces"] = [
        {"type": t, "path": f"/proc/{h.pid}/ns/{NS[t]}"} for t in ("network", "ipc", "uts", "cgroup",
                                                                   "pid", "mount")]
    bundle.args("sleep", "30")
    cid = new_id("nsp")
    cli("run", "-d", "--bundle", bundle.path, cid, check=True)
    for t in ("network", "ipc", "uts", "cgroup", "pid", "mount"):
        assert _init_ns(cli, cid, NS[t]) == h.ns(NS[t]), t
    p = cli("exec", cid, "sh", "-c", "for n in net uts ipc; do readlink /proc/self/ns/$n; done; "
            "ls /bin/busybox", check=True)
    assert p.stdout.split()[:3] == [h.ns("net"), h.ns("uts"), h.ns("ipc")], p.stdout
    assert h.mountinfo() != before               # the container's mounts are in the joined table
    assert cli("delete", "--force", cid).returncode == 0
    assert h.mountinfo() == before, sorted(set(h.mountinfo()) ^ set(before))


def test_user_and_mount_joined_by_path(cli, bundle, holder, leakcheck):
    h = holder("--user", "--map-root-user", "--mount")
    linux = bundle.config["linux"]
    linux["namespaces"] = [{"type": "user", "path": f"/proc/{h.pid}/ns/user"},
                           {"type": "mount", "path": f"/proc/{h.pid}/ns/mnt"},
                           {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]
    linux.pop("uidMappings", None)
    linux.pop("gidMappings", None)
    linux.pop("cgroupsPath", None)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m.get("type") != "cgroup"]
    for m in bundle.config["mounts"]:      # only uid/gid 0 is mapped in the joined user ns
        m["options"] = [o for o in m.get("options", []) if not o.startswith("gid=")]
    bundle.args("sleep", "30")
    before = h.mountinfo()
    cid = new_id("nsu")
    p = cli("run", "-d", "--bundle", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    assert _init_ns(cli, cid, "user") == h.ns("user")
    assert _init_ns(cli, cid, "mnt") == h.ns("mnt")
    assert cli("delete", "--force", cid).returncode == 0
    assert h.mountinfo() == before, sorted(set(h.mountinfo()) ^ set(before))


def test_no_mount_namespace_mounts_in_ours_chroots_and_delete_unmounts(cli, bundle, leakcheck):
    """No 'mount' entry: the init is in the runtime's mount namespace, chroot'ed into the
    rootfs (so is exec); delete leaves the host's mountinfo exactly as it was."""
    host = _mounts()
    linux = bundle.config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "mount"]
    linux["maskedPaths"], linux["readonlyPaths"] = [], []
    bundle.args("sleep", "30")
    cid = new_id("nsn")
    cli("run", "-d", "--bundle", bundle.path, cid, check=True)
    assert _init_ns(cli, cid, "mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{cli.state(cid)['pid']}/root") == bundle.rootfs
    assert any(bundle.rootfs in m for m in _mounts())
    marker = os.path.join(os.path.dirname(bundle.rootfs), "outside-marker")
    open(marker, "w").close()
    p = cli("exec", cid, "sh", "-c", f"test -e {marker} && echo HOST || echo CONTAINED; ls /bin/busybox")
    assert p.returncode == 0 and "CONTAINED" in p.stdout, (p.stdout, p.stderr)
    assert cli("delete", "--force", cid).returncode == 0
    assert _mounts() == host, sorted(set(_mounts()) ^ set(host))
    # and `run` in the foreground (create, start, wait, delete)
    bundle.args("sh", "-c", "exit 3")
    assert cli("run", "--bundle", bundle.path, new_id("nsn")).returncode == 3
    assert _mounts() == host


def test_no_mount_namespace_with_masked_paths_is_refused_as_runc_does(cli, bundle, leakcheck):
    host = _mounts()
    linux = bundle.config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "mount"]
    bundle.write()
    p = cli.create(new_id("nsr"), bundle.path)
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "without a private MNT namespace" in p.stderr
    assert _mounts() == host
    assert not os.path.isdir(cli.root) or os.listdir(cli.root) == []


def test_failed_create_without_mount_namespace_leaves_no_mount(cli, bundle, leakcheck):
    host = _mounts()
    linux = bundle.config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "mount"]
    linux["maskedPaths"], linux["readonlyPaths"] = [], []
    bundle.args("/no/such/program")
    p = cli.create(new_id("nsf"), bundle.path)
    assert p.returncode != 0, p.stderr
    assert _mounts() == host, sorted(set(_mounts()) ^ set(host))
    json.dumps(bundle.config)
