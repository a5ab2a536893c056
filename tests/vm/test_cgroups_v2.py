"""The cgroup v2 lane: every host-lane enforcement test again, plus v2-only ones.

Runs only where /sys/fs/cgroup is a unified hierarchy with controllers - the VM
booted by .ci/vm-lane.sh (Debian's kernel under qemu via virtme-ng), or any
pure-v2 host - and is gathered behind the ``cgroupv2`` marker:

    pytest -m cgroupv2 tests/vm

The host-lane tests are imported from tests/integration/test_cgroups_host.py so
that on v2 they prove the v2 driver (memory.max OOM, pids.max + cgroup.kill,
cpu.weight from shares, cpu.max, cgroup.freeze, live updates, io.max on a loop
device). The tests below add what only v2 has: the files as the kernel shows
them, subtree_control delegation, the unified passthrough, and io.max on the
VM's virtio disk /dev/vda measured with dd.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

import test_cgroups_host as host                       # noqa: E402
from test_cgroups_host import *                        # noqa: E402,F401,F403  (tests, fixtures)
from test_cgroups_host import MiB, lab, loopdev        # noqa: E402,F401

from pycontainer.cgroups import mounts                 # noqa: E402


def _unified() -> bool:
    try:
        info = mounts.parse()
    except Exception:
        return False
    return info.mode == "unified" and {"memory", "pids", "cpu", "io"} <= \
        mounts.controllers(info.unified)


pytestmark = [
    pytest.mark.cgroupv2,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not _unified(),
                       reason="needs root on a unified cgroup v2 host (run .ci/vm-lane.sh)"),
]


def test_v2_files_as_the_kernel_keeps_them(lab):
    mgr = lab.cgroup("files", {"cpu": {"shares": 1024, "quota": 50000, "period": 100000},
                               "memory": {"limit": 64 * MiB, "reservation": 16 * MiB},
                               "pids": {"limit": 32}})
    rd = lambda f: open(os.path.join(mgr.dir, f)).read().strip()     # noqa: E731
    assert rd("cpu.weight") == "100"                  # shares 1024 -> weight 100
    assert rd("cpu.max") == "50000 100000"
    assert rd("memory.max") == str(64 * MiB)
    assert rd("memory.low") == str(16 * MiB)
    assert rd("pids.max") == "32"
    parent = os.path.dirname(mgr.dir)
    enabled = set(open(os.path.join(parent, "cgroup.subtree_control")).read().split())
    assert {"cpu", "memory", "pids", "io"} <= enabled
    mgr.update({"cpu": {"shares": 512}})
    assert rd("cpu.weight") == "59"


def test_v2_unified_passthrough_is_enforced(lab):
    mgr = lab.cgroup("unified", {"unified": {"pids.max": "3", "memory.high": "128M"}})
    assert open(os.path.join(mgr.dir, "memory.high")).read().strip() == str(128 * MiB)
    code = ("import os, time\nn = 0\nfor _ in range(6):\n    try:\n"
            "        if os.fork() == 0:\n            time.sleep(30); os._exit(0)\n"
            "        n += 1\n    except BlockingIOError:\n        pass\nprint(n, flush=True)\n"
            "time.sleep(30)\n")
    p = lab.spawn(mgr, code, stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == b"2"       # 1 + 2 children = pids.max 3


def test_v2_cgroup_kill_ends_everything_in_one_write(lab):
    mgr = lab.cgroup("kill", {"pids": {"limit": 20}})
    p = lab.spawn(mgr, host.FORKBOMB, stdout=subprocess.PIPE)
    p.stdout.readline()
    deadline = time.monotonic() + 15
    while len(mgr.pids()) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mgr.pids()) == 20
    assert os.path.exists(os.path.join(mgr.dir, "cgroup.kill"))
    mgr.kill_all()
    assert p.wait(timeout=10) < 0
    host._wait_empty(mgr, 5)
    assert mgr.pids() == []
    assert "populated 0" in open(os.path.join(mgr.dir, "cgroup.events")).read()


def test_v2_memory_events_count_the_oom_kill(lab):
    mgr = lab.cgroup("oomev", {"memory": {"limit": 24 * MiB}})
    p = lab.spawn(mgr, host.HOG)
    assert p.wait(timeout=60) == -9
    ev = dict(line.split() for line in open(os.path.join(mgr.dir, "memory.events")))
    assert int(ev["oom_kill"]) >= 1


def _vda():
    return "/dev/vda" if os.path.exists("/dev/vda") else None


@pytest.mark.parametrize("direction", ["read", "write"])
def test_v2_io_max_on_the_virtio_disk(lab, direction, record_property):
    """io.max rbps/wbps on /dev/vda (the scratch disk .ci/vm-lane.sh attaches),
    set from docker's --device-read-bps/--device-write-bps /dev/vda:1mb."""
    from pycontainer.cgroups.convert import docker_resources
    disk = _vda()
    if not disk:
        pytest.skip("no /dev/vda (the lane attaches a scratch disk)")
    flag = "device_read_bps" if direction == "read" else "device_write_bps"
    rdev = os.stat(disk).st_rdev
    major, minor = os.major(rdev), os.minor(rdev)
    # the device program (cgroups/ebpf.py) denies what the rules do not allow, as v1 does
    usable = {"devices": [{"allow": True, "type": "b", "major": major, "minor": minor, "access": "rw"}]}
    mgr = lab.cgroup(f"io-{direction}", {**docker_resources(**{flag: f"{disk}:1mb"}), **usable})
    free = lab.cgroup(f"io-{direction}-free", usable)
    io_max = open(os.path.join(mgr.dir, "io.max")).read()
    assert ("rbps=1048576" if direction == "read" else "wbps=1048576") in io_max
    if direction == "read":
        args = [f"if={disk}", "of=/dev/null", "iflag=direct"]
    else:
        args = ["if=/dev/zero", f"of={disk}", "oflag=direct"]
    code = ("import os\nos.execv('/bin/dd', ['dd', " + ", ".join(repr(a) for a in args) +
            ", 'bs=64k', 'count=64'])\n")                      # 4 MiB

    def timed(cg):
        t = time.monotonic()
        p = lab.spawn(cg, code, stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        return time.monotonic() - t
    fast, slow = timed(free), timed(mgr)
    record_property(f"dd_4MiB_{direction}_free_s", round(fast, 2))
    record_property(f"dd_4MiB_{direction}_at_1MiBps_s", round(slow, 2))
    print(f"io.max {direction} 1 MiB/s on {disk}: 4 MiB in {slow:.2f}s (free: {fast:.2f}s)")
    assert slow - fast > 2.0
    assert slow < fast + 10
