"""S20 ★ fork bomb -> pids.max, S21 ★ memory hog -> OOM inside the container's cgroup.

The host-side effects: the container's pids.current never passes the limit,
the OOM kill is counted in the container's own cgroup (memory.oom_control on
v1), the runtime returns the program's status (137) and keeps working, and
the host can still fork.
"""

import os
import subprocess
import time

import pytest

from conftest import new_id

pytestmark = pytest.mark.root


def _v1(controller: str) -> str:
    return f"/sys/fs/cgroup/{controller}"


def test_S20_fork_bomb_stops_at_pids_limit(cli, bundle, leakcheck):
    if not os.path.isdir(_v1("pids")) and not os.path.isfile("/sys/fs/cgroup/pids.max"):
        pytest.skip("no pids controller on this host")
    bundle.config["linux"]["resources"]["pids"] = {"limit": 10}
    # The bomb runs in a subshell (a shell that cannot fork exits); pid 1 stays to hold the pids.
    bundle.args("sh", "-c", "(for i in $(seq 40); do sleep 3 & done); sleep 3")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    cg = os.path.join(_v1("pids"), "pycontainer", cid)
    assert open(os.path.join(cg, "pids.max")).read().strip() == "10"
    assert cli("start", cid).returncode == 0
    peak = 0
    deadline = time.time() + 2.5
    while time.time() < deadline:
        try:
            peak = max(peak, int(open(os.path.join(cg, "pids.current")).read()))
        except OSError:
            break
        time.sleep(0.05)
    events = open(os.path.join(cg, "pids.events")).read() if os.path.exists(os.path.join(cg, "pids.events")) else ""
    assert 5 < peak <= 10, peak
    if events:
        assert int(events.split()[1]) > 0, events        # forks were refused, and counted
    assert subprocess.run(["true"]).returncode == 0       # the host still forks
    cli("delete", "--force", cid)


def test_S20_fork_bomb_in_the_foreground_says_eagain(cli, bundle, leakcheck):
    bundle.config["linux"]["resources"]["pids"] = {"limit": 10}
    bundle.args("sh", "-c", "for i in $(seq 30); do sleep 1 & done; wait")
    p = cli("run", "-b", bundle.path, new_id(), timeout=60)
    assert "Resource temporarily unavailable" in p.stderr or "can't fork" in p.stderr, p.stderr


def test_S21_memory_hog_is_oom_killed_in_its_own_cgroup(cli, bundle, leakcheck):
    if not os.path.isdir(_v1("memory")) and not os.path.isfile("/sys/fs/cgroup/memory.max"):
        pytest.skip("no memory controller on this host")
    limit = 32 << 20
    bundle.config["linux"]["resources"]["memory"] = {"limit": limit, "swap": limit}
    bundle.args("sh", "-c", "head -c 300m /dev/zero | tail; echo survived")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    for _ in range(300):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    state = cli.state(cid)
    assert state["status"] == "stopped"
    oom = os.path.join(_v1("memory"), "pycontainer", cid, "memory.oom_control")
    if os.path.exists(oom):
        kills = dict(ln.split() for ln in open(oom))
        assert int(kills.get("oom_kill", "0")) >= 1, kills
    assert state.get("oomKilled", True)
    assert cli("delete", cid).returncode == 0
    # the runtime is fine afterwards: the next container runs
    bundle.config["linux"]["resources"].pop("memory")
    bundle.args("true")
    assert cli("run", "-b", bundle.path, new_id()).returncode == 0


def test_S21_foreground_run_returns_137(cli, bundle, leakcheck):
    bundle.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    bundle.args("sh", "-c", "head -c 300m /dev/zero | tail")
    p = cli("run", "-b", bundle.path, new_id(), timeout=60)
    assert p.returncode == 137, (p.returncode, p.stderr)
