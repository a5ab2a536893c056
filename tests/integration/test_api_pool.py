"""Warm pools' fast path (issue 14): a pool container is created with a deferred process and
``pool.run`` *starts* it with the command (Runtime.start(process=, stdio=)), so the command is
pid 1 of a container exactly as created. Real kernel, checked from outside (/proc/PID)."""

import os
import socket
import threading
import time

import pytest

import pycontainer
from conftest import leftovers_of as leftovers
from conftest import in_threads, new_id, pid_alive, record_ids
from pycontainer.container import Runtime
from pycontainer.errors import InvalidState, PyContainerError, SpecError

pytestmark = pytest.mark.root

DEFENCES = ("Seccomp", "Seccomp_filters", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs",
            "Uid", "Gid", "Groups")


def _fields(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() in DEFENCES:
            out[k.strip()] = " ".join(v.split())
    return out


@pytest.fixture
def client(tmp_path):
    c = pycontainer.Client(root=str(tmp_path / "state"))
    ids = record_ids(c)
    yield c
    c.close()

    def dirs():
        return [i for i in ids if os.path.exists(f"/var/lib/pycontainer/containers/{i}")]
    deadline = time.monotonic() + 10
    while (leftovers(ids) or dirs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(ids) == []
    assert not dirs()
    assert not os.path.isdir(c.root) or os.listdir(c.root) == []


def _running(root: str) -> list[dict]:
    return [s for s in Runtime(root).list() if s["status"] == "running"]


def test_pool_command_is_pid1_with_the_created_defences(client):
    """The command is the container's init (pid 1 inside, the state's pid outside), in its
    cgroup and namespaces, with the seccomp filter, capabilities and no_new_privs of a
    sandbox() of the same options (read from the host's /proc/PID/status)."""
    ref = client.containers.sandbox("busybox", ["cat", "/proc/self/status"], network_mode="none",
                                    pids_limit=50)
    want = _fields(ref.stdout.decode())
    assert want["Seccomp"] == "2" and want["NoNewPrivs"] == "1", want
    with client.pool("busybox", size=1, network_mode="none", pids_limit=50) as pool:
        seen = threading.Event()
        out = {}

        def run():
            out["r"] = pool.run(["sh", "-c", "echo $$; exec sleep 20"], timeout=30,
                                on_stdout=lambda _d: seen.set())
        t = threading.Thread(target=run)
        t.start()
        try:
            assert seen.wait(30)
            # the program's output can come before the worker records "running" (start writes
            # the state once the init's exec is done, as it returns): wait for that record
            deadline = time.monotonic() + 10
            while not _running(client.root) and time.monotonic() < deadline:
                time.sleep(0.01)
            [st] = _running(client.root)
            pid = st["pid"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:          # past sh's exec
                with open(f"/proc/{pid}/cmdline") as f:
                    if f.read().split("\0")[0] == "sleep":
                        break
                time.sleep(0.01)
            else:
                raise AssertionError("the container's pid 1 never became sleep")
            with open(f"/proc/{pid}/status") as f:
                got = _fields(f.read())
            assert got == want
            assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
            with open(f"/proc/{pid}/cgroup") as f:
                assert st["id"] in f.read()
        finally:
            for s in _running(client.root):
                Runtime(client.root).kill(s["id"], 9)
            t.join(30)
        assert out["r"].stdout == b"1\n" and out["r"].exit_code == 137


def test_pool_input_output_limits_and_timeout(client):
    with client.pool("busybox", size=2, network_mode="none") as pool:
        data = os.urandom(1 << 20)
        r = pool.run(["sh", "-c", "wc -c; echo err >&2"], input=data)
        assert (r.exit_code, r.stdout.split(), r.stderr) == (0, [b"1048576"], b"err\n")
        r = pool.run(["sh", "-c", "yes out & yes err >&2"], max_output=1000, timeout=1)
        assert r.timed_out and r.exit_code == 137
        assert r.stdout_truncated and r.stderr_truncated
        assert (len(r.stdout), len(r.stderr)) == (1000, 1000)
        t0 = time.monotonic()
        r = pool.run(["sh", "-c", "trap '' TERM; sleep 100 & sleep 100"], timeout=0.5)
        assert r.timed_out and r.exit_code == 137 and time.monotonic() - t0 < 0.5 + 10   # not 100 s
        chunks = []
        r = pool.run(["sh", "-c", "echo a; echo b >&2"], on_stdout=chunks.append)
        assert chunks == [b"a\n"] and r.stderr == b"b\n"
        ids = {r.id}
    deadline = time.monotonic() + 10       # the timed-out ones are gone too
    while leftovers(client.seen_ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(client.seen_ids | ids) == []


def test_pool_limits_are_the_created_ones_and_oom_is_reported(client):
    with client.pool("busybox", size=1, network_mode="none", mem_limit="32m", pids_limit=10) as pool:
        r = pool.run(["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"])
        assert r.oom_killed and r.exit_code != 0 and not r.timed_out
        r = pool.run(["sh", "-c", "for i in $(seq 30); do sleep 2 & done; wait"], timeout=20)
        assert b"can't fork" in r.stderr or b"Resource temporarily unavailable" in r.stderr, r.stderr
        assert not pool.run(["true"]).oom_killed


def test_pool_exec_failures_are_sandbox_results(client):
    """126/127 with docker's message on stderr, as sandbox() gives them."""
    with client.pool("busybox", size=2, network_mode="none") as pool:
        for cmd in (["nosuch"], ["/etc/passwd"], ["/nosuch/x"], ["sh", "-c", "exit 3"]):
            want = client.containers.sandbox("busybox", cmd, network_mode="none")
            got = pool.run(cmd)
            assert (got.exit_code, got.stdout, got.stderr, got.timed_out) == \
                (want.exit_code, want.stdout, want.stderr, want.timed_out), cmd
        assert pool.run(["nosuch"]).exit_code == 127
        # user, workdir, environment: the process sandbox() would build
        for kw, skw in (({"user": "nobody"}, {"user": "nobody"}),
                        ({"workdir": "/a/b"}, {"working_dir": "/a/b"}),
                        ({"environment": {"A": "1", "PATH": "/bin"}}, {"environment": {"A": "1", "PATH": "/bin"}})):
            cmd = ["sh", "-c", "id; pwd; env | grep -v HOSTNAME | sort"]
            assert pool.run(cmd, **kw).stdout == \
                client.containers.sandbox("busybox", cmd, network_mode="none", **skw).stdout, kw


def _created(root: str, n: int) -> set:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ids = {s["id"] for s in Runtime(root).list() if s["status"] == "created"} \
            if os.path.isdir(root) else set()
        if len(ids) >= n:
            return ids
        time.sleep(0.02)
    raise AssertionError("the pool did not fill")


def test_pool_bad_process_is_refused_and_its_container_removed(client):
    with client.pool("busybox", size=1, network_mode="none") as pool:
        for kw, msg in (({"workdir": "rel"}, "absolute"),
                        ({"environment": ["=x"]}, "invalid environment variable"),
                        ({"environment": {"A": "x\0y"}}, "NUL")):      # refused by the init itself
            before = _created(client.root, 1)
            with pytest.raises(PyContainerError, match=msg) as ei:
                pool.run(["true"], **kw)
            assert "\n" not in str(ei.value)
            assert not (before & set(os.listdir(client.root)))   # the one it took is gone
        assert pool.run(["echo", "ok"]).stdout == b"ok\n"        # the pool goes on


def test_pool_run_given_up_by_its_caller_is_killed_and_removed(client):
    """An exception in the caller during the run (here from on_stdout; KeyboardInterrupt is
    the same path) cancels it: the worker kills the container's cgroup and removes it."""
    class GiveUp(Exception):
        pass

    def give_up(_data):
        raise GiveUp

    with client.pool("busybox", size=1, network_mode="none") as pool:
        [cid] = _created(client.root, 1)
        with pytest.raises(GiveUp):
            pool.run(["sh", "-c", "echo started; exec sleep 100"], on_stdout=give_up)
        deadline = time.monotonic() + 10
        while os.path.exists(os.path.join(client.root, cid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(os.path.join(client.root, cid))
        assert leftovers({cid}) == []


def test_a_pool_container_that_died_waiting_is_passed_over(client):
    with client.pool("busybox", size=1, network_mode="none") as pool:
        [cid] = _created(client.root, 1)
        Runtime(client.root).kill(cid, 9)            # its init, while it waits for a run
        deadline = time.monotonic() + 10             # its worker removes it
        while os.path.exists(os.path.join(client.root, cid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        r = pool.run(["echo", "ok"])
        assert r.stdout == b"ok\n" and r.id != cid


def test_pool_runs_from_threads(client):
    with client.pool("busybox", size=3, network_mode="none") as pool:
        got = []

        def work(k):
            for i in range(4):
                r = pool.run(["sh", "-c", f"echo {k}-{i}"])
                got.append((r.id, r.stdout))
        errors = in_threads(work, 4, 120)
        assert not errors, errors
        assert sorted(out for _, out in got) == sorted(f"{k}-{i}\n".encode() for k in range(4)
                                                       for i in range(4))
        assert len({cid for cid, _ in got}) == 16      # one container per run


def test_pool_close_leaves_nothing(client):
    pool = client.pool("busybox", size=3, network_mode="none")
    pool.run(["true"])
    pool.run(["sleep", "5"], timeout=0.2)
    pool.close()
    assert os.listdir(client.root) == []          # at once: close() waits for the workers
    assert leftovers(client.seen_ids) == []
    with pytest.raises(PyContainerError, match="closed"):
        pool.run(["true"])


# --- the OCI layer: Runtime.create(deferred=True) + Runtime.start(process=, stdio=) ---------

MADE: list[str] = []


@pytest.fixture
def mine(tmp_path):
    """Nothing of this test's containers left (only ours: other work runs on this machine)."""
    root = str(tmp_path / "state")
    MADE.clear()
    yield root
    # these tests run the runtime in this process, and create makes its caller a child
    # subreaper: undo that, or every later test's orphans would come to pytest
    from pycontainer import syscalls as sc
    sc.prctl(36, 0)                                  # PR_SET_CHILD_SUBREAPER, prctl(2)
    assert leftovers(MADE) == []
    assert not os.path.isdir(root) or os.listdir(root) == []


def _deferred(root, bundle):
    cid = new_id("def")
    MADE.append(cid)
    Runtime(root).create(cid, bundle.write(), deferred=True)
    return cid


def test_start_with_a_process_runs_it_as_pid1_on_the_given_stdio(mine, bundle):
    rt = Runtime(mine)
    cid = _deferred(rt.root, bundle)
    try:
        r, w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        rt.start(cid, process={"args": ["sh", "-c", "echo $$ $PWD $X; id -u"], "cwd": "/tmp",
                               "env": ["X=1", "PATH=/bin"], "user": {"uid": 1000, "gid": 1000}},
                 stdio=(null, w, w))
        os.close(w)
        os.close(null)
        out = b""
        while chunk := os.read(r, 4096):
            out += chunk
        os.close(r)
        assert out == b"1 /tmp 1\n1000\n"
    finally:
        rt.delete(cid, force=True)


def test_start_refuses_a_bad_process_in_one_line(mine, bundle):
    rt = Runtime(mine)
    for proc, msg in (({"args": ["true"], "cwd": "rel"}, "start: process.cwd must be an absolute path"),
                      ({"args": ["true"], "env": ["BAD"]}, "missing '='"),
                      ({"args": ["true"], "env": ["=x"]}, "name cannot be empty"),
                      ({"args": ["true"], "capabilities": {}}, "cannot be changed at start"),
                      ({"args": []}, "non-empty")):
        cid = _deferred(rt.root, bundle)
        pid = rt.state(cid)["pid"]
        try:
            with pytest.raises(SpecError, match=msg) as ei:
                rt.start(cid, process=proc, stdio=(0, 1, 2))
            assert "\n" not in str(ei.value)
            deadline = time.monotonic() + 5
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not pid_alive(pid)                 # the init refused and exited
        finally:
            rt.delete(cid, force=True)


def test_plain_start_of_deferred_and_process_start_of_normal(mine, bundle):
    rt = Runtime(mine)
    bundle.config["process"]["args"] = ["sh", "-c", "exit 0"]
    cid = _deferred(rt.root, bundle)                 # a plain start runs config.json's process
    try:
        rt.start(cid)
        assert rt.state(cid)["status"] in ("running", "stopped")
    finally:
        rt.delete(cid, force=True)
    cid = new_id("nodef")
    MADE.append(cid)
    rt.create(cid, bundle.write())
    try:
        with pytest.raises(InvalidState, match="not created with a deferred process"):
            rt.start(cid, process={"args": ["true"]}, stdio=(0, 1, 2))
        s = socket.socket(socket.AF_UNIX)            # past the runtime's check: the init's own
        s.connect(os.path.join(rt.root, cid, "start.sock"))
        s.sendall(b'process 2\n{}')
        assert b"not created with a deferred process" in s.recv(4096)
        s.close()
        rt.start(cid)                                 # untouched: starts as ever
    finally:
        rt.delete(cid, force=True)


def test_start_sock_ignores_strangers(mine, bundle):
    """A connection that says something else is dropped; the init keeps waiting."""
    rt = Runtime(mine)
    cid = _deferred(rt.root, bundle)
    try:
        assert os.stat(os.path.join(rt.root, cid, "start.sock")).st_mode & 0o777 == 0o600
        for junk in (b"hello", b"process 99\n{", b"process x\n"):
            s = socket.socket(socket.AF_UNIX)
            s.connect(os.path.join(rt.root, cid, "start.sock"))
            s.sendall(junk)
            s.close()
        assert rt.state(cid)["status"] == "created"
        rt.start(cid, process={"args": ["true"]}, stdio=(0, 1, 2))
    finally:
        rt.delete(cid, force=True)
