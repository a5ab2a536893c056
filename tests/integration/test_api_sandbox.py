"""The sandbox API (issue 14): bounded output and time, caller-owned sandboxes, docker SDK parity
(exec_run, archives, filters, attrs), warm pools. Real kernel, checked from outside."""

import io
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import uuid

import pytest

import pycontainer
from conftest import leftovers_of as leftovers
from conftest import pid_alive, record_ids

pytestmark = pytest.mark.root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def client(tmp_path):
    c = pycontainer.Client(root=str(tmp_path / "state"))
    ids = record_ids(c)
    yield c
    for ctr in c.containers.list(all=True):
        ctr.remove(force=True)
    c.close()
    def dirs():       # a container dir goes once its monitor is gone (the delete plan waits)
        return [i for i in ids if os.path.exists(f"/var/lib/pycontainer/containers/{i}")]
    deadline = time.monotonic() + 10
    while (leftovers(ids) or dirs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(ids) == []
    assert not os.path.isdir(c.root) or os.listdir(c.root) == []
    assert not dirs()


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def _kids(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
        except OSError:
            continue
    return out


def test_the_worker_forked_ahead_holds_nothing_and_goes_with_the_helper(tmp_path):
    """The helper forks the next request's worker ahead of it (api/workers.py Spares): one
    idle child, holding only its stdio, its socket to the helper and (cgroups/attachlock.py
    prepare) its own cgroup's cgroup.procs (no fd of an earlier request), which ends with
    the helper."""
    c = pycontainer.Client(root=str(tmp_path / "state"))
    try:
        for _ in range(3):
            assert c.containers.sandbox("busybox", ["true"], network_mode="none").exit_code == 0
        helper = c.transport.helper.proc.pid
        deadline = time.monotonic() + 10
        while len(_kids(helper)) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)                   # the last sandbox's worker is exiting
        (spare,) = _kids(helper)
        links = [os.readlink(f"/proc/{spare}/fd/{f}") for f in os.listdir(f"/proc/{spare}/fd")]
        procs = [x for x in links if x.endswith("/cgroup.procs")]
        assert len(links) == 4 + len(procs) and sum(x.startswith("socket:") for x in links) == 1, links
        own = [ln.split(":", 2)[2] for ln in open(f"/proc/{spare}/cgroup").read().splitlines()]
        assert len(procs) <= 1 and all(any(x.endswith(f"{p.rstrip('/')}/cgroup.procs") for p in own)
                                       for x in procs), (procs, own)
    finally:
        c.close()
    assert _gone(helper) and _gone(spare)


def test_workers_after_the_first_copy_its_pages_ahead(tmp_path, monkeypatch):
    """The first worker that made a container tells the helper which pages it copied; later
    workers copy those while they wait (api/prefault.py), so their requests fault far less
    (the trace's "worker page faults": from the request to the reply)."""
    trace = tmp_path / "trace"
    monkeypatch.setenv("PYCONTAINER_TRACE", str(trace))
    c = pycontainer.Client(root=str(tmp_path / "state"))
    try:
        for _ in range(5):
            assert c.containers.sandbox("busybox", ["true"], network_mode="none").exit_code == 0
    finally:
        c.close()
    counts = [json.loads(line)["args"]["minflt"] for line in trace.read_text().splitlines()
              if '"worker page faults"' in line]
    assert len(counts) == 5, counts
    # the first two were forked before the answer came; the last ones had the pages copied
    assert max(counts[3:]) < 0.75 * min(counts[:2]), counts


def test_helper_runs_the_clients_own_package(client):
    reply, _, _ = client.transport.request({"op": "ping"})
    assert reply["package"] == os.path.join(ROOT, "pycontainer")
    assert os.path.dirname(pycontainer.__file__) == reply["package"]


def test_output_flood_is_bounded_and_timeout_holds(client):
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    r = client.containers.sandbox("busybox", ["sh", "-c", "yes xxxx & yes yyyy >&2"], timeout=3,
                                  network_mode="none")
    took = time.monotonic() - t0
    assert took < 3 + 10, took                   # the timeout, not yes's forever
    assert r.timed_out and r.truncated and r.stdout_truncated and r.stderr_truncated
    assert len(r.stdout) == len(r.stderr) == 16 << 20
    assert r.stdout[:10] == b"xxxx\nxxxx\n"
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0      # KiB
    assert grew < 100 * 1024, f"caller grew by {grew} KiB"
    r = client.containers.sandbox("busybox", ["sh", "-c", "yes | head -c 5000"], max_output=1000,
                                  network_mode="none")
    assert len(r.stdout) == 1000 and r.stdout_truncated and not r.stderr_truncated
    r = client.containers.sandbox("busybox", ["echo", "hi"], network_mode="none")
    assert not r.truncated


def test_usage_errors_for_timeout_and_max_output(client):
    for bad in (0, -1, 0.0, True):
        with pytest.raises(pycontainer.APIError, match="timeout"):
            client.containers.sandbox("busybox", ["true"], timeout=bad, network_mode="none")
    with pytest.raises(pycontainer.APIError, match="max_output"):
        client.containers.sandbox("busybox", ["true"], max_output=-1, network_mode="none")
    with pytest.raises(pycontainer.APIError, match="timeout"):
        pycontainer.Client(root=client.root, timeout=0)


def test_callbacks_see_every_chunk(client):
    seen = {"out": [], "err": []}
    r = client.containers.sandbox("busybox", ["sh", "-c", "echo a; echo b >&2; echo c"],
                                  on_stdout=seen["out"].append, on_stderr=seen["err"].append,
                                  network_mode="none")
    assert b"".join(seen["out"]) == r.stdout == b"a\nc\n" and b"".join(seen["err"]) == b"b\n"


def test_labels_are_stored_and_filtered(client):
    a = client.containers.create("busybox", "sleep 30", network_mode="none", labels={"job": "a", "x": "1"})
    b = client.containers.create("busybox", "sleep 30", network_mode="none", labels=["job"])
    assert a.attrs["Config"]["Labels"] == {"job": "a", "x": "1"}
    ids = lambda f: {c.id for c in client.containers.list(all=True, filters=f)}  # noqa: E731
    assert ids({"label": "job"}) == {a.id, b.id}
    assert ids({"label": "job=a"}) == {a.id}
    assert ids({"label": ["job=a", "x=2"]}) == set()
    assert ids({"status": "created"}) == {a.id, b.id}
    assert ids({"id": a.id[:8]}) == {a.id}


def test_exec_run_parity_and_timeout_kills_the_exec_tree_only(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True, network_mode="none")
    assert c.exec_run("sh -c 'echo o; echo e >&2'", demux=True) == (0, (b"o\n", b"e\n"))
    assert c.exec_run("sh -c 'echo o; echo e >&2'").output == b"o\ne\n"
    assert c.exec_run("sh -c 'echo o; echo e >&2'", stderr=False, demux=True).output == (b"o\n", None)
    assert c.exec_run("sh -c 'echo $K; pwd; id -un'", environment={"K": "v"}, workdir="/tmp",
                      user="nobody").output == b"v\n/tmp\nnobody\n"
    assert c.exec_run("cat", stdin=True, input=b"in!").output == b"in!"
    assert list(c.exec_run("sh -c 'echo 1; sleep 0.2; echo 2'", stream=True).output) == [b"1\n", b"2\n"]
    t0 = time.monotonic()
    r = c.exec_run(["sh", "-c", "sleep 100 & sleep 100 & wait"], timeout=1)
    assert time.monotonic() - t0 < 1 + 10 and r.timed_out and r.exit_code == 137   # not 100 s
    deadline = time.monotonic() + 10
    while len(live := [p for p in c.pids() if pid_alive(p)]) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)                               # the killed ones are zombies of the init
    assert len(live) == 1, live                        # only the init is left
    assert c.exec_run("true", detach=True) == (None, None)
    # tty: a terminal of the container's own devpts; one stream, CRLF
    assert c.exec_run("sh -c 'tty; [ -t 1 ] && echo isatty; echo err >&2'", tty=True).output == \
        b"/dev/pts/0\r\nisatty\r\nerr\r\n"
    assert c.exec_run("sh -c 'read x; echo got $x'", tty=True, stdin=True, input=b"hi\n").output == \
        b"hi\r\ngot hi\r\n"
    t0 = time.monotonic()
    assert c.exec_run("sleep 100", tty=True, timeout=1).timed_out and time.monotonic() - t0 < 1 + 10
    sock = c.exec_run("cat", socket=True, stdin=True).output     # docker's frames: 8-byte header
    sock.sendall(b"over a socket")
    sock.shutdown(1)
    assert sock.makefile("rb").read() == b"\1\0\0\0\0\0\0\x0dover a socket"
    sock.close()
    c.reload()
    assert c.status == "running"


def test_user_names_come_from_the_images_passwd(client):
    r = client.containers.sandbox("busybox", ["id"], user="nobody", network_mode="none")
    assert r.stdout.startswith(b"uid=65534(nobody)"), r


def test_archives_in_running_and_stopped_containers_stay_in_the_root(client, tmp_path):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True, network_mode="none")
    c.write_file("/tmp/hello", b"hello\n")
    assert c.exec_run("cat /tmp/hello").output == b"hello\n"
    # the program plants a symlink to the host's directories: writes must stay inside
    c.exec_run("ln -s /etc /tmp/escape")
    marker = f"pycontainer-escape-{uuid.uuid4().hex}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(marker)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"no"))
    c.put_archive("/tmp/escape", buf.getvalue())
    assert not os.path.exists(f"/etc/{marker}")
    assert c.exec_run(f"cat /etc/{marker}").output == b"no"           # the container's own /etc
    c.exec_run("ln -s /../../../etc/hostname /tmp/link")
    chunks, stat = c.get_archive("/tmp/link")
    assert stat["linkTarget"] == "/../../../etc/hostname"
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert tar.getmembers()[0].issym()
    chunks, stat = c.get_archive("/tmp")
    assert stat["name"] == "tmp" and stat["mode"] & (1 << 31)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert "tmp/hello" in tar.getnames()
    with pytest.raises(pycontainer.NotFound):
        c.get_archive("/nonexistent")
    c.stop(timeout=0)
    assert c.status == "exited"
    assert c.read_file("/tmp/hello") == b"hello\n"
    c.write_file("/tmp/later", b"x")
    assert c.read_file("/tmp/later") == b"x"


def test_attrs_have_state_hostconfig_networksettings(client):
    c = client.containers.create("busybox", "sleep 30", network_mode="none", mem_limit="64m",
                                 pids_limit=50)
    a = c.attrs
    assert a["State"]["Status"] == "created"
    assert a["HostConfig"]["Memory"] == 64 << 20 and a["HostConfig"]["PidsLimit"] == 50
    assert a["HostConfig"]["NetworkMode"] == "none"
    assert a["NetworkSettings"]["IPAddress"] == ""
    assert client.containers.get(c.id[:10]).id == c.id


CALLER = textwrap.dedent("""
    import os, signal, sys, pycontainer
    # Ctrl-C raises KeyboardInterrupt even where SIGINT came in ignored (a CI job started in
    # the background): Python leaves an inherited SIG_IGN alone
    signal.signal(signal.SIGINT, signal.default_int_handler)
    c = pycontainer.Client(root=sys.argv[1])
    print(c.transport.request({"op": "ping"})[0]["pid"], flush=True)
    try:
        c.containers.sandbox("busybox", ["sleep", "1000"], name=sys.argv[2], network_mode="none")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        import time; time.sleep(1000)
""")


@pytest.mark.parametrize("how", ["kill9", "ctrl-c"])
def test_a_gone_caller_takes_its_sandbox_and_helper_along(client, how):
    cid = "owned-" + uuid.uuid4().hex[:8]
    p = subprocess.Popen([sys.executable, "-c", CALLER, client.root, cid], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    try:
        helper = int(p.stdout.readline())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.containers.get(cid).status == "running":
                    break
            except pycontainer.NotFound:
                pass
            time.sleep(0.05)
        assert client.containers.get(cid).status == "running"
        sid = client.containers.get(cid).id      # its ID (docker's 64 hex digits) names its state
        if how == "kill9":
            p.kill()
        else:
            p.send_signal(signal.SIGINT)
            assert p.stdout.readline().strip() == "interrupted"
        deadline = time.monotonic() + 10
        while os.path.exists(os.path.join(client.root, sid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(os.path.join(client.root, sid)), "the sandbox outlived its caller"
        if how == "kill9":
            assert _gone(helper), "the helper outlived its client"
    finally:
        p.kill()
        p.wait()


def test_detached_containers_outlive_the_caller(client):
    cid = "kept-" + uuid.uuid4().hex[:8]
    code = ("import sys, pycontainer; c = pycontainer.Client(root=sys.argv[1]); "
            "c.containers.run('busybox', ['sleep', '60'], name=sys.argv[2], detach=True, "
            "network_mode='none')")
    subprocess.run([sys.executable, "-c", code, client.root, cid], cwd=ROOT, check=True, timeout=60)
    assert client.containers.get(cid).status == "running"


def test_pool_runs_fresh_containers_and_close_leaves_nothing(client):
    with client.pool("busybox", size=2, network_mode="none", mem_limit="64m") as pool:
        r1 = pool.run(["sh", "-c", "echo hi > /tmp/state; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"])
        assert r1.exit_code == 0 and r1.stdout == str(64 << 20).encode() + b"\n"
        r2 = pool.run(["cat", "/tmp/state"])
        assert r2.exit_code == 1 and r1.id != r2.id          # never the same container twice
        r3 = pool.run(["sh", "-c", "sleep 100 & sleep 100"], timeout=1)
        assert r3.timed_out and r3.exit_code == 137
        r4 = pool.run(["sh", "-c", "yes"], max_output=100, timeout=1)
        assert r4.stdout_truncated and len(r4.stdout) == 100
        assert pool.run(["cat"], input=b"abc").stdout == b"abc"
    assert client.containers.list(all=True) == []


def test_pool_containers_die_with_the_caller(client):
    code = ("import sys, time, pycontainer; c = pycontainer.Client(root=sys.argv[1]); "
            "p = c.pool('busybox', size=3, network_mode='none'); p.run(['true']); "
            "print('ready', flush=True); time.sleep(1000)")
    p = subprocess.Popen([sys.executable, "-c", code, client.root], cwd=ROOT, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        assert client.containers.list(all=True)
        p.kill()
        deadline = time.monotonic() + 15
        while client.containers.list(all=True) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.containers.list(all=True) == []
    finally:
        p.kill()
        p.wait()


def test_storage_opt_size_gives_enospc_inside_and_nothing_on_the_host(client):
    before = os.statvfs("/var/lib/pycontainer").f_bfree
    r = client.containers.sandbox("busybox", ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=64; "
                                              "echo rc=$?; df -k / | tail -1"],
                                  storage_opt={"size": "16m"}, network_mode="none", timeout=30)
    assert b"No space left on device" in r.stderr and b"rc=1" in r.stdout, r
    assert r.stdout.split()[-5] == b"16384"                    # the layer's size, as df sees it
    assert before - os.statvfs("/var/lib/pycontainer").f_bfree < (8 << 20) // os.statvfs("/").f_frsize
    with pytest.raises(pycontainer.APIError, match="storage_opt"):
        client.containers.sandbox("busybox", ["true"], storage_opt={"size": "1k"}, network_mode="none")
    with pytest.raises(pycontainer.APIError, match="storage_opt"):
        client.containers.sandbox("busybox", ["true"], storage_opt={"dm.basesize": "1g"}, network_mode="none")


def test_lifetime_removes_a_detached_container(client):
    c = client.containers.run("busybox", ["sleep", "60"], detach=True, network_mode="none", lifetime=1.5)
    assert c.status == "running"
    deadline = time.monotonic() + 15
    while os.path.exists(os.path.join(client.root, c.id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(os.path.join(client.root, c.id))
    with pytest.raises(pycontainer.APIError, match="lifetime"):
        client.containers.run("busybox", ["true"], detach=True, network_mode="none", lifetime=0)


def test_logs_stream_follow_since_timestamps_and_attach(client):
    # "two" and "three" wait for /go, which the test makes once "one" is in the log and
    # attach has begun: the test's points in time fall between the lines however slow it is
    c = client.containers.run("busybox", ["sh", "-c", "echo one; until [ -e /go ]; do sleep 0.05; done; "
                                          "echo two >&2; sleep 0.5; echo three"],
                              detach=True, network_mode="none")
    deadline = time.monotonic() + 15
    while c.logs() != b"one\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    live = c.attach(stream=True)                          # from now on, until the program exits
    mid = time.time()                                     # after "one" was logged, before "two"
    assert c.exec_run("touch /go").exit_code == 0
    assert list(c.logs(stream=True, follow=True)) == [b"one\n", b"two\n", b"three\n"]
    assert b"".join(live) == b"two\nthree\n"
    assert c.logs(stdout=False) == b"two\n"
    assert c.logs(since=mid) == b"two\nthree\n"
    assert c.logs(until=mid) == b"one\n"
    assert c.logs(tail=1) == b"three\n"
    stamped = c.logs(timestamps=True).splitlines()
    assert stamped[0].endswith(b" one") and stamped[0][:4].isdigit()
    assert c.attach(logs=True, demux=True) == (b"one\nthree\n", b"two\n")
