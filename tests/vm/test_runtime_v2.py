"""The runtime's own cgroup v2 paths, on a pure v2 kernel (the VM lane).

The same containers as the host lane, but now the container's cgroup is a
cgroup2 directory: the config's limits become memory.max/pids.max/cpu.max,
the container sees its own cgroup at /sys/fs/cgroup (with or without a
cgroup namespace), an OOM kill is exit 137, and kill --all uses cgroup.kill.
"""

import json
import os
import time

import pytest

from conftest import HOT_IMPORTS_BANNED, as_installed, engine_verbs_as_installed, new_id

pytestmark = [pytest.mark.root, pytest.mark.cgroupv2]


@pytest.fixture(autouse=True)
def _need_v2():
    from pycontainer import cgroups
    if cgroups.detect() != "unified":
        pytest.skip("needs a pure cgroup v2 host (run by .ci/vm-lane.sh)")


@pytest.mark.parametrize("cgroupns", [True, False])
def test_container_sees_its_v2_limits(cli, bundle, leakcheck, cgroupns):
    linux = bundle.config["linux"]
    if not cgroupns:
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "cgroup"]
    linux["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 33},
                          "cpu": {"quota": 50000, "period": 100000}}
    bundle.args("sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; "
                "cat /proc/self/cgroup")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:3] == [str(64 << 20), "33", "50000 100000"]
    if cgroupns:
        assert lines[3] == "0::/"


def test_oom_kill_is_exit_137_and_counted(cli, bundle, leakcheck):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 16 << 20, "swap": 16 << 20}}
    bundle.args("sh", "-c", "tail /dev/zero")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    cg = json.loads(open(os.path.join(cli.root, cid, "state.json")).read())["cgroup"]
    assert cli("start", cid).returncode == 0
    for _ in range(500):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    events = open(f"/sys/fs/cgroup{cg}/memory.events").read()
    assert "oom_kill 1" in events
    assert cli("delete", cid).returncode == 0


def test_kill_all_and_pause_on_v2(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "sleep 100 & sleep 100 & wait")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    assert cli("pause", cid).returncode == 0
    assert cli.state(cid)["status"] == "paused"
    assert cli("resume", cid).returncode == 0
    assert cli("kill", "--all", cid, "KILL").returncode == 0
    for _ in range(200):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert cli.state(cid)["status"] == "stopped"
    assert cli("delete", cid).returncode == 0


def test_v2_run_imports_neither_os_nor_cffi(cli, bundle, leakcheck):
    """``run -b`` on a v2 host (the v2 manager and the device program) runs on
    posix, pycontainer.paths, _struct and _nscalls, as the v1 path does (test_lifecycle.py):
    `os` was ~1 ms of every v2 create (its _collections_abc), cffi 0.6-1 ms. -X importtime
    lists the init's imports too."""
    bundle.args("true")
    os.makedirs(cli.root, exist_ok=True)    # the first container under a --root makes it (os)
    out = as_installed(cli, "run", "--bundle", bundle.path, new_id(),
                       banned=HOT_IMPORTS_BANNED + ("struct", "_cffi_backend", "pycontainer._native"))
    assert out == ""


def test_v2_engine_verbs_import_neither_os_nor_json(cli, bundle, leakcheck):
    """state, start, kill and delete on v2 (paused from cgroup.freeze, the OOM count from
    memory.events, the v2 directory removed), as the installed command runs them: the same
    modules banned as on v1 (test_lifecycle.py)."""
    engine_verbs_as_installed(cli, bundle)
