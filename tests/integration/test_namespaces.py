"""Namespaces: new ones, joined ones (by path), and a user namespace with mappings."""

import os
import subprocess
import time

import pytest

from conftest import new_id

pytestmark = pytest.mark.root


def _ns(pid, name):
    return os.readlink(f"/proc/{pid}/ns/{name}")


def test_shared_namespaces_are_the_hosts(cli, bundle, leakcheck):
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
    bundle.config.pop("hostname", None)
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0, cli.created
    pid = cli.state(cid)["pid"]
    for name in ("net", "uts", "ipc"):
        assert _ns(pid, name) == _ns("self", name)
    for name in ("mnt", "pid"):
        assert _ns(pid, name) != _ns("self", name)
    cli("delete", "--force", cid)


def test_join_namespaces_by_path(cli, bundle, tmp_path, leakcheck):
    bundle.args("sleep", "30")
    a = new_id("a")
    assert cli.create(a, bundle.path).returncode == 0
    apid = cli.state(a)["pid"]
    b_bundle = tmp_path / "b"
    os.makedirs(b_bundle)
    os.symlink(bundle.rootfs, b_bundle / "rootfs")
    cfg = dict(bundle.config)
    cfg["linux"] = dict(cfg["linux"])
    cfg["linux"]["namespaces"] = [
        {"type": "network", "path": f"/proc/{apid}/ns/net"},
        {"type": "ipc", "path": f"/proc/{apid}/ns/ipc"},
        {"type": "uts", "path": f"/proc/{apid}/ns/uts"},
        {"type": "pid", "path": f"/proc/{apid}/ns/pid"},
        {"type": "mount"},
    ]
    cfg.pop("hostname", None)
    bundle.write(cfg) and None
    with open(b_bundle / "config.json", "w") as f:
        import json
        json.dump(cfg, f)
    b = new_id("b")
    p = cli.create(b, str(b_bundle))
    assert p.returncode == 0, p.stderr
    bpid = cli.state(b)["pid"]
    for name in ("net", "ipc", "uts", "pid"):
        assert _ns(bpid, name) == _ns(apid, name), name
    assert _ns(bpid, "mnt") != _ns(apid, "mnt")
    cli("delete", "--force", b)
    cli("delete", "--force", a)


def test_user_namespace_with_mappings(cli, bundle, leakcheck):
    subprocess.run(["chown", "-R", "100000:100000", bundle.rootfs], check=True)
    # The mapped root (host uid 100000) must be able to reach the rootfs.
    d = os.path.dirname(bundle.rootfs)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.args("sh", "-c", "id -u; cat /proc/self/uid_map; sleep 30")
    cid = new_id()
    p = cli.create(cid, bundle.path)
    assert p.returncode == 0, p.stderr
    pid = cli.state(cid)["pid"]
    assert _ns(pid, "user") != _ns("self", "user")
    assert open(f"/proc/{pid}/uid_map").read().split() == ["0", "100000", "65536"]
    assert open(f"/proc/{pid}/gid_map").read().split() == ["0", "100000", "65536"]
    # Seen from the host, the container's root is uid 100000.
    uid_line = [ln for ln in open(f"/proc/{pid}/status") if ln.startswith("Uid:")][0]
    assert uid_line.split()[1:] == ["100000"] * 4
    cli("delete", "--force", cid)


def test_new_user_namespace_without_mappings_is_refused(cli, bundle, leakcheck):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.write()
    p = cli.create(new_id(), bundle.path)
    assert p.returncode != 0
    assert "uidMappings" in p.stderr and len(p.stderr.strip().splitlines()) == 1
