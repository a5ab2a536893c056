"""Device control on a pure cgroup v2 kernel (the VM lane): the eBPF program at work.

The made-up vendor's CDI spec (tests/cdi_acme.py) is applied to a bundle's
config.json the way the porcelain does it, and the container runs under the
runtime's v2 driver, whose only device control is the BPF_PROG_TYPE_CGROUP_DEVICE
program (pycontainer/cgroups/ebpf.py): the allowed node opens, a node made
with mknod with other numbers does not (EPERM), and ``update`` replaces the
program (one program attached before and after) so that the other node opens.
"""

import json
import os
import time

import pytest

import cdi_acme
from conftest import new_id

pytestmark = [pytest.mark.root, pytest.mark.cgroupv2]


@pytest.fixture(autouse=True)
def _need_v2():
    from pycontainer import cgroups
    if cgroups.detect() != "unified":
        pytest.skip("needs a pure cgroup v2 host (run by .ci/vm-lane.sh)")


def _with_acme(bundle, tmp_path):
    from pycontainer.cdi import requests
    from pycontainer.cdi.registry import Registry
    acme = cdi_acme.make(str(tmp_path / "acme"))
    plan = requests.plan({"device": [cdi_acme.NAME]}, registry=Registry([acme["specs"]]))
    requests.apply(bundle.config, plan)
    caps = bundle.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = sorted(set(caps.get(k, [])) | {"CAP_MKNOD"})      # mknod is allowed; opening is what is checked
    bundle.config["root"]["readonly"] = False
    return acme


def test_cdi_device_under_the_ebpf_program(cli, bundle, leakcheck, tmp_path):
    acme = _with_acme(bundle, tmp_path)
    bundle.args("sh", "-c", cdi_acme.CHECK)
    cid = new_id()
    p = cli("run", "-b", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == cdi_acme.EXPECTED
    assert json.load(open(acme["marker"]))["id"] == cid


def test_update_replaces_the_program(cli, bundle, leakcheck, tmp_path):
    from pycontainer.cgroups import ebpf
    _with_acme(bundle, tmp_path)
    bundle.args("sh", "-c", "mknod /dev/other c 10 228; sleep 30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    try:
        cg = "/sys/fs/cgroup" + json.load(open(os.path.join(cli.root, cid, "state.json")))["cgroup"]
        assert ebpf.attached(cg) == 1
        assert cli("start", cid).returncode == 0
        for _ in range(100):
            p = cli("exec", cid, "sh", "-c", "test -c /dev/other && (: < /dev/other) 2>&1")
            if "not permitted" in p.stdout:
                break
            time.sleep(0.05)
        assert "Operation not permitted" in p.stdout
        rules = bundle.config["linux"]["resources"]["devices"] + [
            {"allow": True, "type": "c", "major": 10, "minor": 228, "access": "r"}]
        res = tmp_path / "res.json"
        res.write_text(json.dumps({"devices": rules}))
        p = cli("update", "-r", str(res), cid)
        assert p.returncode == 0, p.stderr
        assert ebpf.attached(cg) == 1
        p = cli("exec", cid, "sh", "-c", "(: < /dev/other) 2>&1; echo rc=$?")
        assert "not permitted" not in p.stdout
    finally:
        cli("delete", "--force", cid)


def test_privileged_devices_are_all_allowed_by_the_program(cli, bundle, leakcheck):
    # the porcelain's --privileged edits (cdi/requests.py): every host node and one allow-all
    # rule, which the v2 driver compiles into the eBPF program: a node with numbers no rule
    # names opens (a loop device: ENXIO at most, never EPERM), the host's kmsg is there.
    from pycontainer.cdi import requests
    requests.apply(bundle.config, requests.plan({"privileged": True}))
    caps = bundle.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = sorted(set(caps.get(k, [])) | {"CAP_MKNOD"})
    bundle.config["root"]["readonly"] = False
    bundle.args("sh", "-c", "mknod /tmp/l b 7 200 && (: < /tmp/l) 2>&1; test -c /dev/kmsg && "
                "echo kmsg; readlink /dev/ptmx")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert "not permitted" not in p.stdout and p.stdout.splitlines()[-2:] == ["kmsg", "pts/ptmx"]
