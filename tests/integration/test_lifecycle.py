"""The OCI lifecycle on the real kernel: create -> created -> start -> running -> stopped -> delete.

Checked from outside: the init's pid and its namespaces in /proc, its
parent, the state JSON, and that delete leaves nothing behind.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import HOT_IMPORTS_BANNED, ROOT, as_installed, engine_verbs_as_installed, new_id, pid_alive, proc_status

pytestmark = pytest.mark.root

NS = ("pid", "mnt", "uts", "ipc", "net", "cgroup")


def test_run_prints_and_exits_with_status(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "echo hello; exit 3")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.stdout == "hello\n"
    assert p.returncode == 3


def test_run_reports_death_by_signal_as_128_plus_n(cli, bundle, leakcheck):
    # pid 1 of a pid namespace cannot be killed from inside: kill it from the host.
    bundle.args("sleep", "30")
    cid = new_id()
    proc = subprocess.Popen(cli.cmd("run", "-b", bundle.path, cid))
    for _ in range(200):
        p = cli("state", cid)
        if p.returncode == 0 and json.loads(p.stdout)["status"] == "running":
            break
        time.sleep(0.02)
    os.kill(json.loads(p.stdout)["pid"], signal.SIGKILL)
    assert proc.wait(timeout=20) == 128 + 9


def test_the_runtime_itself_loads_no_c_extension(cli, bundle, leakcheck):
    """Neither create's own process nor the init it forks loads cffi, pycontainer._native or
    python-prctl's _prctl (with libcap): the init's calls, capset(2) included, are in
    pycontainer._nscalls. The runtime was the largest process of a run, and cffi was 0.35 MiB
    of its peak memory (anchors.sh's peak RSS); loading cffi cost a forked init ~1.5 ms of
    every create, _prctl the runtime ~0.27 ms."""
    bundle.args("true")
    cid = new_id()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pycontainer.container import Runtime; "
            "rt = Runtime(sys.argv[2]); rt.create(sys.argv[3], sys.argv[4]); "
            "print([m for m in ('_cffi_backend', 'pycontainer._native', '_prctl') if m in sys.modules]); "
            "maps = open(f'/proc/{rt.state(sys.argv[3])[\"pid\"]}/maps').read(); "
            "print([m for m in ('_cffi_backend', '_native', '_prctl', 'libcap', '_nscalls') if m in maps]); "
            "rt.start(sys.argv[3])")
    try:
        p = subprocess.run([sys.executable, "-c", code, ROOT, cli.root, cid, bundle.path],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split("\n")[:2] == ["[]", "['_nscalls']"], p.stdout
    finally:
        assert cli("delete", "--force", cid).returncode == 0


def test_start_state_kill_delete_import_neither_os_nor_json(cli, bundle, leakcheck):
    """The verbs engines call around every container (``state`` after create and start,
    ``start``, ``kill``, ``delete``) run on the ``posix`` module and the C modules (_json,
    _socket): importing ``os`` is ~1 ms and json/re/enum/socket more, where runc's whole
    start or delete takes ~6 ms (paths.py); ``paused`` is read from the recorded cgroup
    directories (cgroups/freezer.py), and so is a stopped one's OOM count (cgroups/events.py)."""
    engine_verbs_as_installed(cli, bundle)


def test_run_imports_os_in_neither_the_runtime_nor_the_init(cli, bundle, leakcheck):
    """``run -b`` (create's steps, the init's namespaces, mounts, devices, capabilities and
    user, start, wait, delete) runs on ``posix`` and pycontainer.paths: ``import os`` was
    1.25-1.38 ms of each container's CPU (its _collections_abc classes and os.environ). -X
    importtime lists the init's imports too: it writes to the same stderr until it execs.
    (``create`` alone cannot be run with pipes here: its init keeps them open.)"""
    bundle.args("true")
    os.makedirs(cli.root, exist_ok=True)    # the first container under a --root makes it (os)
    out = as_installed(cli, "run", "--bundle", bundle.path, new_id())
    assert out == ""


def test_exec_process_imports_neither_json_nor_socket(cli, bundle, tmp_path, leakcheck):
    """``exec --process FILE ID``, containerd's ExecSync (every kubelet probe): the process
    file is read with jsonio, the sync socket is _socket's, the signals _signal's; `json`
    (re, enum), `socket` (selectors) and `signal` were ~8 ms of every exec."""
    bundle.args("sleep", "30")
    cid = new_id()
    cli.create(cid, bundle.path)
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "echo probed $0", "ok"], "cwd": "/",
                                "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}))
    try:
        cli("start", cid, check=True)
        out = as_installed(cli, "exec", "--process", str(proc), cid,
                            banned=[m for m in HOT_IMPORTS_BANNED if m != "os"])
        assert out == "probed ok\n"
    finally:
        cli("delete", "--force", cid)


def test_create_leaves_only_the_init_waiting(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "echo started > /tmp/mark; sleep 30")
    cid = new_id()
    pidfile = os.path.join(bundle.path, "pid")
    p = cli.create(cid, bundle.path, "--pid-file", pidfile)
    assert p.returncode == 0, p.stderr
    st = cli.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == bundle.path
    assert st["rootfs"] == bundle.rootfs and st["created"].endswith("Z")
    pid = st["pid"]
    assert int(open(pidfile).read()) == pid
    assert pid_alive(pid)
    # `create` has exited: the init's parent is not a pycontainer process.
    ppid = int(proc_status(pid)["PPid"])
    assert "pycontainer" not in open(f"/proc/{ppid}/cmdline").read()
    # Every namespace of the config is new.
    for ns in NS:
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # The program has not run yet: the init waits at the barrier.
    assert not os.path.exists(os.path.join(bundle.rootfs, "tmp", "mark"))
    barrier = os.path.join(cli.root, cid, "start.sock")
    assert os.path.exists(barrier)
    assert cli("start", cid).returncode == 0
    assert cli.state(cid)["status"] == "running"
    # as runc's exec.fifo: the barrier is gone once the init has the word, which is what tells
    # running from created (state.json itself was not written again)
    assert not os.path.exists(barrier)
    with open(os.path.join(cli.root, cid, "state.json")) as f:
        assert json.load(f)["status"] == "created"
    for _ in range(100):
        if os.path.exists(os.path.join(bundle.rootfs, "tmp", "mark")):
            break
        time.sleep(0.02)
    assert open(os.path.join(bundle.rootfs, "tmp", "mark")).read() == "started\n"
    # Start twice is an error.
    p = cli("start", cid)
    assert p.returncode != 0 and "not created" in p.stderr
    # Delete of a running container needs --force.
    p = cli("delete", cid)
    assert p.returncode != 0 and "not stopped" in p.stderr
    assert cli("kill", cid, "KILL").returncode == 0
    for _ in range(200):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    st = cli.state(cid)
    assert st["status"] == "stopped" and st["pid"] == 0
    assert cli("delete", cid).returncode == 0
    assert cli("state", cid).returncode != 0


def test_program_is_pid_1_with_the_configured_hostname(cli, bundle, leakcheck):
    bundle.config["hostname"] = "box1"
    bundle.args("sh", "-c", "echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' '")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["1", "box1"]


def test_delete_of_created_container_kills_its_init(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    pid = cli.state(cid)["pid"]
    assert cli("delete", cid).returncode == 0
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.02)
    assert not pid_alive(pid)


def _lines(path: str, n: int, timeout: float = 10) -> list[str]:
    """The lines of ``path`` once it has ``n`` (or at ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_kill_accepts_names_and_numbers(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "trap 'echo got USR1 >> /tmp/sig' USR1; trap 'echo got TERM >> /tmp/sig; exit 0' TERM; "
                "echo ready > /tmp/sig; while :; do sleep 0.05; done")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    sigfile = os.path.join(bundle.rootfs, "tmp", "sig")
    assert _lines(sigfile, 1) == ["ready"]                 # the traps are set
    # one signal at a time, each handled before the next (two USR1 pending would be one)
    assert cli("kill", cid, "USR1").returncode == 0
    assert len(_lines(sigfile, 2)) == 2
    assert cli("kill", cid, "SIGUSR1").returncode == 0
    assert len(_lines(sigfile, 3)) == 3
    assert cli("kill", cid, "15").returncode == 0
    for _ in range(200):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert _lines(sigfile, 4) == ["ready", "got USR1", "got USR1", "got TERM"]
    p = cli("kill", cid, "NOTASIGNAL")
    assert p.returncode != 0 and "invalid signal" in p.stderr
    assert cli("delete", cid).returncode == 0


def test_kill_all_signals_every_process(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "sleep 100 & sleep 100 & wait")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    for _ in range(100):
        pids = json.loads(cli("ps", "--format", "json", cid).stdout)
        if len(pids) >= 3:
            break
        time.sleep(0.02)
    assert len(pids) == 3
    assert cli("kill", "--all", cid, "9").returncode == 0
    for _ in range(200):
        if not any(pid_alive(p) for p in pids):
            break
        time.sleep(0.02)
    assert not any(pid_alive(p) for p in pids)
    assert cli("delete", cid).returncode == 0


def test_list_and_ps(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    out = cli("list", "--format", "json").stdout
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [cid] and rows[0]["status"] == "created"
    # runc's: one compact line; OWNER the user owning the state dir, in both forms
    assert out.count("\n") == 1 and '", "' not in out and rows[0]["owner"] == "root"
    table = cli("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and table[1].startswith(cid)
    assert table[0].split()[-1] == "OWNER" and table[1].split()[-1] == "root"
    assert cli("list", "-q").stdout.split() == [cid]
    pid = rows[0]["pid"]
    assert json.loads(cli("ps", "--format", "json", cid).stdout) == [pid]
    out = cli("ps", cid).stdout.splitlines()
    assert "PID" in out[0] and len(out) == 2
    assert cli("delete", "--force", cid).returncode == 0


def test_foreground_run_forwards_signals(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "trap 'echo term; exit 7' TERM; echo ready; while :; do sleep 0.05; done")
    proc = subprocess.Popen(cli.cmd("run", "-b", bundle.path, new_id()), stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert out == "term\n"
    assert proc.returncode == 7


def test_detached_run_returns_and_keeps_running(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    p = cli("run", "-d", "-b", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    assert cli.state(cid)["status"] == "running"
    assert cli("delete", "--force", cid).returncode == 0


def test_pause_and_resume(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.01; done")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    n = os.path.join(bundle.rootfs, "tmp", "n")

    def counter() -> str:
        try:
            with open(n) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def until(cond, timeout: float = 10.0) -> None:     # a loaded host may stall for seconds
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.02)

    until(lambda: counter().strip() not in ("", "1"))      # it runs and counts
    assert counter().strip() not in ("", "1")
    assert cli("pause", cid).returncode == 0
    assert cli.state(cid)["status"] == "paused"
    a = counter()
    time.sleep(0.3)
    assert counter() == a                                   # frozen: no step in 0.3 s
    assert cli("resume", cid).returncode == 0
    until(lambda: counter() != a)
    assert counter() != a
    assert cli.state(cid)["status"] == "running"
    assert cli("delete", "--force", cid).returncode == 0


def test_kill_and_delete_force_of_a_paused_container_as_runcs(cli, bundle, leakcheck):
    """A frozen task dies only when thawed (cgroup v1's freezer): runc thaws after SIGKILL, so
    `kill ID KILL` stops a paused container and `delete --force` takes ~0.1 s. Ours waited 10 s
    for the init, then thawed."""
    bundle.args("sleep", "60")
    for how in ("kill", "delete"):
        cid = new_id()
        assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
        assert cli("pause", cid).returncode == 0 and cli.state(cid)["status"] == "paused"
        t0 = time.monotonic()
        if how == "kill":
            assert cli("kill", cid, "KILL").returncode == 0
            end = time.monotonic() + 5
            while cli.state(cid)["status"] != "stopped" and time.monotonic() < end:
                time.sleep(0.02)
            assert cli.state(cid)["status"] == "stopped"
            assert cli("delete", cid).returncode == 0
        else:
            assert cli("delete", "--force", cid).returncode == 0
        assert time.monotonic() - t0 < 5
        assert not os.path.exists(os.path.join(cli.root, cid))


def test_oom_kill_is_137_and_reported_by_state(cli, bundle, leakcheck):
    bundle.config["linux"]["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    bundle.args("sh", "-c", "tail /dev/zero")
    cid = new_id()
    proc = subprocess.Popen(cli.cmd("run", "-d", "-b", bundle.path, cid))
    assert proc.wait(timeout=30) == 0
    for _ in range(500):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    st = cli.state(cid)
    assert st["status"] == "stopped" and st.get("oomKilled") is True
    assert json.loads(cli("events", "--stats", cid).stdout)["data"]["memory"]["oom_kill"] >= 1
    assert cli("delete", cid).returncode == 0


FAILED_ATTACH = """
import sys
from pycontainer.cgroups import v1, v2
from pycontainer.container import Runtime
from pycontainer.errors import PyContainerError

def refuse(self, pid):
    raise PyContainerError("attach refused (test)")

v1.Manager.add_pid = v2.Manager.add_pid = refuse
try:
    Runtime(sys.argv[1]).create(sys.argv[2], sys.argv[3])
except PyContainerError as exc:
    print("refused:", exc)
"""


def test_a_failed_cgroup_attach_fails_create_and_leaves_nothing(cli, bundle, leakcheck, tmp_path):
    """Between the fork and GO, stage 1 waits for the runtime: a failure there must kill it,
    not wait for it (a create whose attach failed hung forever in waitpid)."""
    import subprocess
    import sys
    from conftest import ROOT, new_id
    cid = new_id()
    p = subprocess.run([sys.executable, "-c", FAILED_ATTACH, cli.root, cid, bundle.path], cwd=ROOT,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("refused: attach refused"), p.stdout + p.stderr
    assert cli("state", cid).returncode != 0


def test_delete_removes_the_recorded_cgroup_dirs_and_falls_back_for_a_child(cli, bundle, leakcheck):
    """delete of a stopped container rmdirs the directories create recorded (cgroup_dirs); one
    that will not go (here a child cgroup someone made) sends it the cgroups package's way."""
    bundle.args("true")
    for child in (False, True):
        cid = new_id()
        assert cli.create(cid, bundle.path).returncode == 0
        with open(os.path.join(cli.root, cid, "state.json")) as f:
            dirs = json.load(f)["cgroup_dirs"]
        assert dirs and all(os.path.isdir(d) for d in dirs)
        assert cli("start", cid).returncode == 0
        for _ in range(200):
            if cli.state(cid)["status"] == "stopped":
                break
            time.sleep(0.02)
        if child:
            os.mkdir(os.path.join(dirs[0], "child"))
        p = cli("delete", cid)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert not any(os.path.exists(d) for d in dirs)
