"""kill -9 of the runtime of a `run --rm` (issue 11 item 5, security.md S22).

The foreground `run --rm` deletes its container when the program exits; if
that process is killed first, nobody would: the state dir, cgroup, IP lease,
nft elements, container dir and image hold stayed, `ps -a` said
"Exited (unknown)" and `gc` reported nothing. Now the record says who will
delete it (``autoremove`` + ``creator``), and once the container has stopped
and its creator is gone, `gc`, `ps`, `list` and the next create of the same
name reclaim it. A container that is alive, whose creator lives, that did
not ask for --rm, or that lives under another state root is never touched.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, new_id

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


def _holds() -> set:
    from pycontainer.image.store import Store
    return set(Store(None).holds())


def _leases() -> dict:
    from pycontainer import network
    out = {}
    for net in network.networks():
        out.update({ip: cid for ip, cid in net["leases"].items()})
    return out


def _cgroups(cid: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/pycontainer/{cid}") + glob.glob(f"/sys/fs/cgroup/pycontainer/{cid}")


def _nft() -> str:
    if not shutil.which("nft"):
        return ""
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout


def _listing(root: str) -> set:
    return set(os.listdir(root)) if os.path.isdir(root) else set()


def _start_and_kill_cli(cli, name: str, *flags: str, seconds: float = 2.0) -> dict:
    """Foreground `run --name NAME` of `sleep <seconds>`; kill -9 of the CLI once the
    container runs. Its record (``record["id"]``: the ID docker's form chose, which a
    foreground run does not print: the state dir that appeared in the test's root)."""
    before = _listing(cli.root)
    p = subprocess.Popen(cli.cmd("run", *flags, "--name", name, "busybox", "sleep", str(seconds)),
                         cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    from pycontainer import state as st
    deadline = time.monotonic() + 30
    record = {}
    while time.monotonic() < deadline and record.get("status") != "running":
        for cid in _listing(cli.root) - before:
            try:
                record = st.StateDir(cli.root, cid).read()      # "running" once start.sock is gone
            except Exception:  # noqa: BLE001 - not there yet, or being written
                pass
        time.sleep(0.05)
    assert record.get("status") == "running", record
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    return record


def _wait_stopped(record: dict, timeout: float = 20) -> None:
    from pycontainer import state as st
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and st.status_of(record) != st.STOPPED:
        time.sleep(0.05)
    assert st.status_of(record) == st.STOPPED


def _stop(record: dict) -> None:
    """End the container's program (as its own exit would) and wait until it is stopped.
    The callers run a long `sleep` and stop it here rather than rely on a short one: a
    `sleep 1` could end before a stalled host let _start_and_kill_cli see it running."""
    from pycontainer import state as st
    if st.status_of(record) != st.STOPPED:          # still the same init: pid_start matches
        try:
            os.kill(record["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_stopped(record)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(cli, cid: str, ip: str | None) -> None:
    assert not os.path.exists(os.path.join(cli.root, cid)), "state dir left"
    assert not os.path.exists(os.path.join(CDIR, cid)), "container dir left"
    assert _cgroups(cid) == [], _cgroups(cid)
    assert cid not in _holds(), "image hold left"
    assert cid not in _leases().values(), "IP lease left"
    if ip:
        assert ip not in _nft(), f"nft elements for {ip} left"


def _ip(record: dict) -> str | None:
    net = record.get("network") or {}
    ip = net.get("ip") or (net.get("interfaces") or [{}])[0].get("ip") if isinstance(net, dict) else None
    return ip.split("/")[0] if isinstance(ip, str) else None


def test_gc_reclaims_a_dead_runtimes_rm_container_only_once_it_stopped(cli):
    port = _free_port()
    record = _start_and_kill_cli(cli, new_id("crash"), "--rm", "-p", f"127.0.0.1:{port}:80", seconds=60)
    cid, ip = record["id"], _ip(record)
    assert cid in _leases().values()
    # alive: gc must not touch it
    rep = json.loads(cli("gc", check=True).stdout)
    assert cid not in rep["containers"]
    assert cli.state(cid)["status"] == "running"
    _stop(record)
    rep = json.loads(cli("gc", check=True).stdout)
    assert cid in rep["containers"], rep
    _gone(cli, cid, ip)


def test_ps_a_reclaims_it_instead_of_showing_exited_unknown(cli):
    record = _start_and_kill_cli(cli, new_id("crash"), "--rm", seconds=60)
    cid = record["id"]
    _stop(record)
    ps = cli("ps", "-a", check=True).stdout
    assert cid[:12] not in ps, ps
    _gone(cli, cid, _ip(record))


def test_the_same_name_can_be_run_again(cli):
    name = new_id("crash")
    record = _start_and_kill_cli(cli, name, "--rm", "--net", "none", seconds=60)
    _stop(record)
    p = cli("run", "--rm", "--net", "none", "--name", name, "busybox", "true")
    assert p.returncode == 0, p.stderr
    _gone(cli, record["id"], None)


def test_without_rm_or_under_another_root_it_is_kept(cli, tmp_path):
    from conftest import CLI
    record = _start_and_kill_cli(cli, new_id("kept"), "--net", "none", seconds=60)
    kept = record["id"]
    other = CLI(str(tmp_path / "other-root"))
    orecord = _start_and_kill_cli(other, new_id("other"), "--rm", "--net", "none", seconds=60)
    oid = orecord["id"]
    try:
        _stop(record)
        _stop(orecord)
        rep = json.loads(cli("gc", check=True).stdout)
        assert kept not in rep["containers"] and oid not in rep["containers"]
        assert os.path.isdir(os.path.join(cli.root, kept))           # no --rm: docker keeps it
        assert os.path.isdir(os.path.join(other.root, oid))          # another root's
        assert os.path.isdir(os.path.join(CDIR, oid))
        rep = json.loads(other("gc", check=True).stdout)               # its own root reclaims it
        assert oid in rep["containers"]
        _gone(other, oid, None)
    finally:
        cli("rm", "-f", kept)
        other.cleanup()
        other("rm", "-f", oid)


def test_reclaim_unit_rules(tmp_path):
    """_abandoned: --rm, stopped and creator gone; nothing else."""
    sys.path.insert(0, ROOT)
    from pycontainer import state as st
    from pycontainer.reclaim import is_abandoned as _abandoned
    me = {"pid": os.getpid(), "start": st.proc_start_time(os.getpid())}
    dead_init = {"pid": 0, "status": "stopped"}
    assert _abandoned(dict(dead_init, autoremove=True, creator={"pid": 999999999, "start": 1}))
    assert not _abandoned(dict(dead_init, autoremove=True, creator=me))           # creator alive
    assert not _abandoned(dict(dead_init, autoremove=False, creator={"pid": 999999999}))
    alive = {"pid": os.getpid(), "pid_start": me["start"], "status": "running"}
    assert not _abandoned(dict(alive, autoremove=True, creator={"pid": 999999999}))  # init alive


def test_gc_leaves_a_container_being_made_alone_and_takes_a_crashed_one(cli):
    """Between its container dir (and image hold) and its runtime state, a container is only
    its creator's work: a concurrent gc kept removing the dir (create then failed with
    "root.path does not exist") and releasing the hold. Once the creator is gone it is a
    leftover and gc takes it."""
    from pycontainer.image import rootfs
    from pycontainer.image.store import Store
    cid = new_id("making")
    rootfs.prepare(cid, "busybox")                       # this process: alive, still "making"
    cdir = rootfs.container_dir(cid)
    try:
        rep = json.loads(cli("gc", check=True).stdout)
        assert os.path.isdir(cdir) and cid in Store().holds(), rep
    finally:
        rootfs.cleanup(cid)
        shutil.rmtree(cdir, ignore_errors=True)
    cid = new_id("making")
    pid = os.fork()
    if pid == 0:                                         # a creator killed half-way
        try:
            rootfs.prepare(cid, "busybox")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.path.isdir(rootfs.container_dir(cid)) and cid in Store().holds()
    cli("gc", check=True)
    assert not os.path.exists(rootfs.container_dir(cid)) and cid not in Store().holds()


def test_a_build_killed_during_run_leaves_no_step_container(cli, tmp_path):
    # a RUN step's container is kept at exit (the builder reads its upper dir, then deletes
    # it): with the builder killed it stayed, shown by ps -a as "Exited (unknown)"
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN sleep 1.5\n")
    builder = subprocess.Popen(cli.cmd("build", "--no-cache", "--network", "none", str(tmp_path)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps, record = [], {}
    for _ in range(400):                   # killed once the step runs (not mid-create: that
        steps = [n for n in os.listdir(cli.root) if n.startswith("build-")] \
            if os.path.isdir(cli.root) else []      # is another case gc already takes)
        if steps and os.path.exists(os.path.join(cli.root, steps[0], "state.json")):
            record = json.load(open(os.path.join(cli.root, steps[0], "state.json")))
            if record.get("status") == "created" and record.get("pid") and \
                    not os.path.exists(os.path.join(cli.root, steps[0], "start.sock")):
                break
        time.sleep(0.02)
    assert record.get("pid"), "the RUN step never started"
    time.sleep(0.2)
    builder.send_signal(signal.SIGKILL)
    builder.wait()
    _wait_stopped(record)
    assert cli("gc").returncode == 0
    assert not os.path.exists(os.path.join(cli.root, steps[0]))
    assert not os.path.exists(os.path.join("/var/lib/pycontainer/containers", steps[0]))
    assert steps[0] not in _holds() and _cgroups(steps[0]) == []


def test_a_commit_killed_mid_way_leaves_no_frozen_container(cli):
    # commit freezes a running container while it reads its upper dir; killed then, it left
    # the container paused for good. gc thaws what a dead commit froze.
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "dd if=/dev/urandom of=/big bs=1M count=48 2>/dev/null; touch /ready; sleep 60"
               ).returncode == 0
    try:
        for _ in range(200):
            if cli("exec", cid, "test", "-e", "/ready").returncode == 0:
                break
            time.sleep(0.05)
        committer = subprocess.Popen(cli.cmd("commit", cid), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            if cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "paused":
                break
            time.sleep(0.01)
        committer.send_signal(signal.SIGKILL)
        committer.wait()
        assert cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "paused"
        rep = json.loads(cli("gc", check=True).stdout)
        assert rep["thawed"] == [cli.id_of(cid)]
        assert cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
        assert json.loads(cli("gc", check=True).stdout)["thawed"] == []
        assert cli("pause", cid).returncode == 0                  # a user's pause: left alone
        assert json.loads(cli("gc", check=True).stdout)["thawed"] == []
        assert cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "paused"
    finally:
        cli("rm", "-f", cid)


def test_gc_during_a_build_leaves_its_scratch_dirs_alone(cli, tmp_path):
    # a RUN --mount=type=bind's copy (and COPY's scratch) live in build-* dirs beside the
    # containers' dirs; a gc meanwhile took them for leftovers and the step failed
    (tmp_path / "f").write_text("data\n")
    (tmp_path / "Containerfile").write_text(
        "FROM busybox\nRUN --mount=type=bind,source=.,target=/ctx sleep 1.5 && cat /ctx/f\n")
    builder = subprocess.Popen(cli.cmd("build", "--no-cache", "--network", "none", "-q", str(tmp_path)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)
    assert cli("gc").returncode == 0
    out, err = builder.communicate(60)
    assert builder.returncode == 0, err
    assert not [n for n in os.listdir(CDIR) if n.startswith("build-")]
    subprocess.run(cli.cmd("rmi", out.strip()), capture_output=True)
