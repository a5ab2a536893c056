"""Resource limits through the runtime's verbs: run, events, update, pause/resume, kill --all.

The Manager-level proofs are in test_cgroups_host.py; these check the same
limits arrive through config.json and the CLI, and that what the kernel did is
reported back (exit 137, ``oom_kill`` in ``events --stats``). The container
payload is busybox; its cgroup is /pycontainer/<id> in every hierarchy.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import new_id

from pycontainer import cgroups

pytestmark = pytest.mark.root

MiB = 1 << 20


def _limits(bundle, args, resources):
    bundle.config["process"]["args"] = args
    bundle.config["linux"]["resources"] = dict(bundle.config["linux"].get("resources") or {},
                                               **resources)
    bundle.write()


def _wait_status(cli, cid, status, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = cli.state(cid)
        if st["status"] == status:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{cid} never became {status}: {cli.state(cid)}")


def _file(cid, controller_file):
    """Read a control file of the container's cgroup, whichever the layout."""
    mgr = cgroups.open(None, cid)
    if mgr.version == 2:
        d = mgr.dir
    else:
        d = mgr.dirs[controller_file.split(".", 1)[0]]
    with open(os.path.join(d, controller_file)) as f:
        return f.read().strip()


def test_run_under_6m_starts(cli, bundle, leakcheck):
    """Docker's floor: --memory 6m must start (a container peaks near 1 MiB here)."""
    _limits(bundle, ["sh", "-c", "echo started"], {"memory": {"limit": 6 * MiB}})
    p = cli("run", "-b", bundle.path, new_id("mem6"))
    assert (p.returncode, p.stdout) == (0, "started\n"), p.stderr


def test_run_under_4m_is_refused_before_anything_exists(cli, bundle, leakcheck):
    _limits(bundle, ["true"], {"memory": {"limit": 4 * MiB}})
    p = cli("run", "-b", bundle.path, new_id("mem4"))
    assert p.returncode != 0
    assert "below 6291456 (6MiB)" in p.stderr and "\n" not in p.stderr.strip()


def test_oom_kill_exits_137_and_events_count_it(cli, bundle, leakcheck):
    # busybox tail keeps the current line; /dev/zero has no newline: it grows until killed.
    _limits(bundle, ["sh", "-c", "tail /dev/zero; echo tail=$?; sleep 30"],
            {"memory": {"limit": 16 * MiB}})
    cid = new_id("oom")
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    deadline = time.monotonic() + 30
    stats = {}
    while time.monotonic() < deadline:
        p = cli("events", "--stats", cid)
        stats = json.loads(p.stdout)
        if stats["data"]["memory"]["oom_kill"] >= 1:
            break
        time.sleep(0.1)
    assert stats["type"] == "stats" and stats["data"]["memory"]["oom_kill"] == 1
    assert cli.state(cid)["status"] == "running"      # only the hog died; pid 1 goes on
    assert cli("kill", cid, "KILL").returncode == 0
    _wait_status(cli, cid, "stopped")
    assert cli("delete", cid).returncode == 0


def test_run_of_a_memory_hog_exits_137(cli, bundle, leakcheck):
    _limits(bundle, ["tail", "/dev/zero"], {"memory": {"limit": 16 * MiB}})
    p = cli("run", "-b", bundle.path, new_id("hog"), timeout=60)
    assert p.returncode == 137, p.stderr


def test_update_pause_resume_kill_all(cli, bundle, leakcheck):
    _limits(bundle, ["sleep", "60"], {"pids": {"limit": 50}, "memory": {"limit": 64 * MiB}})
    cid = new_id("upd")
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    assert _file(cid, "pids.max") == "50"

    p = cli("update", "--pids-limit", "7", "--memory", "32m", cid)
    assert p.returncode == 0, p.stderr
    assert _file(cid, "pids.max") == "7"
    mem_file = "memory.max" if cgroups.detect() == "unified" else "memory.limit_in_bytes"
    assert _file(cid, mem_file) == str(32 * MiB)

    p = cli("update", "--resources", "-", cid, input=json.dumps({"pids": {"limit": 9}}))
    assert p.returncode == 0, p.stderr
    assert _file(cid, "pids.max") == "9"

    p = cli("update", "--memory", "2m", cid)
    assert p.returncode != 0 and "6MiB" in p.stderr
    assert _file(cid, "pids.max") == "9"

    assert cli("pause", cid).returncode == 0
    assert cli.state(cid)["status"] == "paused"
    assert cli("resume", cid).returncode == 0
    assert cli.state(cid)["status"] == "running"

    assert cli("kill", "--all", cid, "KILL").returncode == 0
    _wait_status(cli, cid, "stopped")
    assert cli("delete", cid).returncode == 0


def test_relative_cgroups_path_is_found_again_from_another_cgroup(cli, bundle, leakcheck):
    """A relative cgroupsPath lies below the creating runtime's own cgroup in *each* v1
    hierarchy (runc's rule; docker's --cgroup-parent NAME makes one). create runs here from a
    pids cgroup of the test's own, so its directories differ between hierarchies; update,
    pause, ps and delete --force, run from the test's cgroups, must find those same ones.
    They re-resolved one recorded path in every tree: pause failed and delete left the
    container's cgroups behind."""
    from pycontainer.cgroups import mounts
    info = mounts.parse()
    if info.mode == "unified" or "pids" not in info.v1:
        pytest.skip("one tree on cgroup v2: the path is the same in it")
    cid = new_id("rel")
    own = os.path.join(info.v1["pids"], f"pyc-test-{cid}")
    os.mkdir(own)
    made: list[str] = []
    try:
        _limits(bundle, ["sleep", "60"], {"pids": {"limit": 50}})
        bundle.config["linux"]["cgroupsPath"] = f"relgrp/{cid}"
        bundle.write()

        def into_own():
            with open(os.path.join(own, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        p = cli("create", "--bundle", bundle.path, cid, preexec_fn=into_own)   # files, not pipes
        assert p.returncode == 0, p.stderr
        with open(os.path.join(cli.root, cid, "state.json")) as f:
            made = json.load(f)["cgroup_dirs"]
        pids_dir = os.path.join(own, "relgrp", cid)
        assert pids_dir in made and all(os.path.isdir(d) for d in made), made
        assert cli("start", cid).returncode == 0
        assert cli("update", "--pids-limit", "7", cid).returncode == 0
        with open(os.path.join(pids_dir, "pids.max")) as f:
            assert f.read().strip() == "7"
        assert cli("pause", cid).returncode == 0, cli("pause", cid).stderr
        assert cli.state(cid)["status"] == "paused"
        assert cli("resume", cid).returncode == 0
        assert len(json.loads(cli("ps", "--format", "json", cid).stdout)) == 1
        assert cli("delete", "--force", cid).returncode == 0
        assert [d for d in made if os.path.exists(d)] == []
    finally:
        for d in made:                        # the parents create made (runc leaves them)
            try:
                os.rmdir(os.path.dirname(d))
            except OSError:
                pass
        os.rmdir(own)
