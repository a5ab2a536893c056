"""The Python API (pycontainer.Client), as a program embedding a sandbox uses it.

Each test uses its own state root. The stress test runs many sandboxes from
threads at once and then checks, from outside, that nothing is left: no
state dir, cgroup, mount, container dir, image hold, child process, and
that the calling program's fd count is what it was.
"""

import os
import re
import time
import uuid

import pytest

import pycontainer
from conftest import _cgroups, _mounts, in_threads, pid_alive

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


@pytest.fixture
def client(tmp_path):
    c = pycontainer.Client(root=str(tmp_path / "state"))
    yield c
    for ctr in c.containers.list(all=True):
        ctr.remove(force=True)
    c.close()
    assert os.listdir(c.root) == [] if os.path.isdir(c.root) else True


def _holds() -> set:
    from pycontainer.image.store import Store
    return set(Store(None).holds())


def _children() -> list[int]:
    me = os.getpid()
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == me:
                out.append(int(p))
    return out


def test_import_is_lazy():
    import subprocess
    import sys
    code = "import pycontainer, sys; print('pycontainer.api' in sys.modules, 'click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False"]
    assert pycontainer.Client is pycontainer.api.Client


def test_run_returns_output_and_raises_container_error(client):
    assert client.containers.run("busybox", ["echo", "hi"], remove=True, network_mode="none") == b"hi\n"
    assert client.containers.run("busybox", "sh -c 'echo out; echo err >&2'", remove=True,
                                 network_mode="none", stdout=True, stderr=True) == b"out\nerr\n"
    with pytest.raises(pycontainer.ContainerError) as ei:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True,
                              network_mode="none")
    assert ei.value.exit_status == 3 and ei.value.stderr == b"bad\n"
    assert client.containers.list(all=True) == []
    # kept (no remove): docker's logs() has what run() returned, each stream apart
    name = "kept-" + uuid.uuid4().hex[:6]
    assert client.containers.run("busybox", ["sh", "-c", "echo o1; echo e1 >&2; echo o2"], name=name,
                                 network_mode="none") == b"o1\no2\n"
    c = client.containers.get(name)
    assert c.status == "exited" and c.logs(stderr=False) == b"o1\no2\n"
    assert c.logs(stdout=False) == b"e1\n" and sorted(c.logs().split()) == [b"e1", b"o1", b"o2"]
    c.remove()
    assert client.containers.list(all=True) == []


def test_create_start_exec_stop_remove(client):
    c = client.containers.create("busybox", "sleep 60", name="box-" + uuid.uuid4().hex[:6],
                                 mem_limit="64m", network_mode="none", environment={"K": "v"})
    assert c.status == "created"
    c.start()
    assert c.status == "running"
    code, out = c.exec_run("sh -c 'echo $K; cat /sys/fs/cgroup/memory/memory.limit_in_bytes'")
    assert code == 0 and out.split() == [b"v", str(64 << 20).encode()]
    code, out = c.exec_run(["sh", "-c", "echo o; echo e >&2; exit 5"], demux=True)
    assert code == 5 and out == (b"o\n", b"e\n")
    assert client.containers.get(c.id[:8]).id == c.id          # an ID prefix finds it
    assert [x.id for x in client.containers.list()] == [c.id]
    assert c.stats()["memory_stats"]["usage"] > 0
    t0 = time.monotonic()
    c.stop(timeout=1)                      # sleep as pid 1 ignores SIGTERM: SIGKILL after 1 s
    assert time.monotonic() - t0 < 8
    assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 137
    assert c.wait()["StatusCode"] == 137
    c.remove()
    with pytest.raises(pycontainer.NotFound):
        client.containers.get(c.id)


def test_run_takes_the_sdks_namespace_and_limit_arguments(client):
    # docker-py 7's ipc_mode, pid_mode, uts_mode, cgroupns, sysctls, oom_score_adj, domainname,
    # cpu_period/cpu_quota, mem_reservation: the same config as the CLI's flags
    script = ("readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; cat /proc/self/oom_score_adj "
              "/proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
              "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes")
    out = client.containers.run("busybox", ["sh", "-c", script], remove=True, network_mode="none",
                                ipc_mode="host", pid_mode="private", sysctls={"net.ipv4.ip_forward": "1"},
                                oom_score_adj=300, domainname="example.org", cpu_period=50000,
                                cpu_quota=25000, mem_limit="64m", mem_reservation="32m").decode()
    lines = out.split()
    assert lines[0] == os.readlink("/proc/self/ns/ipc") and lines[1] != os.readlink("/proc/self/ns/pid")
    assert lines[2:] == ["300", "1", "example.org", "25000", str(32 << 20)]
    with pytest.raises(pycontainer.APIError, match="--pid"):
        client.containers.run("busybox", ["true"], remove=True, network_mode="none", pid_mode="bogus")


def test_container_name_and_rename_as_docker_py(client):
    c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none",
                              name="api-named")
    try:
        assert c.name == "api-named" and re.fullmatch(r"[0-9a-f]{64}", c.id)   # docker's ID
        assert c.attrs["Config"]["Hostname"] == c.short_id                  # and hostname
        cid = c.id
        c.rename("api-renamed")                               # the name changes, the ID stays
        assert (c.name, c.id) == ("api-renamed", cid)
        assert client.containers.get("api-renamed").id == cid
        with pytest.raises(pycontainer.APIError, match="already the container's name"):
            c.rename("api-renamed")
        with pytest.raises(pycontainer.APIError, match="Conflict.*api-renamed"):
            client.containers.create("busybox", ["true"], network_mode="none", name="api-renamed")
    finally:
        c.remove(force=True)


def test_unnamed_containers_get_dockers_kind_of_name_and_the_client_answers(client):
    """docker-py: a container made without name= has a generated one (create, run detached,
    run kept); a name taken is refused; ping(), version(), info() as the SDK's."""
    import re
    a = client.containers.create("busybox", ["true"], network_mode="none")
    b = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    out = client.containers.run("busybox", ["echo", "kept"], network_mode="none")
    try:
        assert out == b"kept\n"
        kept = [c for c in client.containers.list(all=True) if c.id not in (a.id, b.id)]
        names = [a.name, b.name] + [c.name for c in kept]
        assert len(kept) == 1 and len(set(names)) == 3, names
        assert all(re.fullmatch(r"[a-z]+_[a-z_]+\d*", n) for n in names), names
        assert client.containers.get(b.name).id == b.id
        with pytest.raises(pycontainer.APIError, match="already in use"):
            client.containers.create("busybox", ["true"], network_mode="none", name=b.name)
        assert list(client.containers.run("busybox", ["sh", "-c", "echo a; echo b"], stream=True,
                                          remove=True, network_mode="none")) == [b"a\n", b"b\n"]
        assert client.ping() is True
        assert client.version()["Version"] == pycontainer.__version__
        info = client.info()
        assert (info["Containers"], info["ContainersRunning"]) == (3, 1), info
        assert info["NCPU"] == os.cpu_count() and info["MemTotal"] > 0 and info["Images"] >= 1
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True)


def test_the_sdks_named_and_anonymous_volumes(client):
    """docker-py's volumes={"name": {"bind": "/data", "mode": "rw"}} and ["name:/data:ro"] are
    named volumes (they were taken for relative host paths); "/path" alone is an anonymous
    one, which remove(v=True) removes."""
    from pycontainer import volumes
    name = f"apivol-{uuid.uuid4().hex[:8]}"
    try:
        out = client.containers.run("busybox", ["sh", "-c", "echo v > /data/f; cat /data/f"],
                                    network_mode="none", remove=True,
                                    volumes={name: {"bind": "/data", "mode": "rw"}})
        assert out == b"v\n" and name in volumes.names()
        p = client.containers.run("busybox", ["sh", "-c", "cat /data/f; touch /data/g 2>&1; true"],
                                  remove=True, network_mode="none", volumes=[f"{name}:/data:ro"])
        assert p.startswith(b"v\n") and b"Read-only" in p, p
    finally:
        volumes.remove(name) if name in volumes.names() else None
    before = set(volumes.names())
    k = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none",
                              volumes=["/anon"])
    made = set(volumes.names()) - before
    assert len(made) == 1
    k.remove(force=True, v=True)
    assert set(volumes.names()) == before


def test_volume_and_network_collections_as_docker_py(client):
    """client.volumes and client.networks: create, get, list (filters), remove (refused while
    used), prune; Network.connect/disconnect of a running container (eth1 seen inside)."""
    tag = uuid.uuid4().hex[:8]
    v = client.volumes.create(f"apiv-{tag}", labels={"t": tag})
    assert client.volumes.get(v.name).attrs["Labels"] == {"t": tag}
    assert [x.name for x in client.volumes.list(filters={"label": f"t={tag}"})] == [v.name]
    with pytest.raises(pycontainer.NotFound):
        client.volumes.get(f"nope-{tag}")
    with pytest.raises(pycontainer.APIError):
        client.volumes.create("bad/name")
    n = client.networks.create(f"apin-{tag}", labels={"t": tag})
    k = client.containers.run("busybox", ["sleep", "30"], detach=True, volumes={v.name: {"bind": "/d"}})
    try:
        with pytest.raises(pycontainer.APIError, match="in use"):
            v.remove()
        assert client.networks.get(n.name).id == n.id == client.networks.get(n.id[:12]).id
        assert [x.name for x in client.networks.list(filters={"label": f"t={tag}"})] == [n.name]
        n.connect(k, aliases=["web"])
        assert [c.id for c in n.containers] == [k.id]
        code, out = k.exec_run(["ip", "-4", "-o", "addr", "show", "eth1"])
        subnet = n.attrs["IPAM"]["Config"][0]["Subnet"].rsplit(".", 1)[0]
        assert code == 0 and f"inet {subnet}." in out.decode(), out
        n.disconnect(k)
        assert n.containers == [] and k.exec_run(["ip", "link", "show", "eth1"])[0] != 0
    finally:
        k.remove(force=True)
    v.remove()
    n.remove()
    internal = client.networks.create(f"apii-{tag}", internal=True)      # docker-py's internal=
    assert internal.attrs["Internal"] is True
    internal.remove()
    assert v.name not in [x.name for x in client.volumes.list()]
    with pytest.raises(pycontainer.NotFound):
        client.networks.get(n.name)
    # (prune is not called here: it would remove the host's other unused networks and volumes)


def test_restart_update_diff_and_prunes_as_docker_py(client, tmp_path):
    c = client.containers.run("busybox", ["sh", "-c", "touch /new; rm /etc/motd 2>/dev/null; sleep 30"],
                              detach=True, network_mode="none")
    try:
        pid1 = c.attrs["State"]["Pid"]
        c.restart(timeout=0)
        assert c.status == "running" and c.attrs["State"]["Pid"] != pid1
        assert c.update(mem_limit="48m", restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}) \
            == {"Warnings": []}
        assert c.attrs["HostConfig"]["Memory"] == 48 << 20
        assert c.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        with pytest.raises(pycontainer.APIError):
            c.update(colour="red")
        assert {"Path": "/new", "Kind": 1} in c.diff()
        c.stop(timeout=0)
        done = client.containers.run("busybox", ["true"], detach=True, network_mode="none")
        done.wait(timeout=20)
        out = client.containers.prune()
        assert {c.id, done.id} <= set(out["ContainersDeleted"])
        assert client.containers.list(all=True) == []
        own = pycontainer.Client(root=client.root, image_root=str(tmp_path / "images"))
        try:                                   # a store of the test's own: prune takes nothing else
            assert own.images.prune() == {"ImagesDeleted": [], "SpaceReclaimed": 0}
            from pycontainer.image.store import Store
            ident = Store(str(tmp_path / "images")).resolve("busybox").id      # the built-in one
            out = own.images.prune(filters={"dangling": False})     # docker's items: name, ID, layers
            assert out["ImagesDeleted"][:2] == [{"Untagged": "busybox:latest"}, {"Deleted": ident}]
            assert all(list(i) == ["Deleted"] for i in out["ImagesDeleted"][2:]) and out["SpaceReclaimed"] > 0
        finally:
            own.close()
    finally:
        for k in client.containers.list(all=True):
            k.remove(force=True)


def test_wait_conditions_as_docker_py(client):
    """docker-py's wait(condition=) (it was an unexpected keyword): not-running waits for a
    created container to run and exit, next-exit for a start after the call and its exit
    (a stopped container), removed until an auto_remove container is gone; a bad one is an
    APIError."""
    import threading
    c = client.containers.create("busybox", ["sh", "-c", "exit 3"], network_mode="none")
    threading.Timer(0.3, c.start).start()
    assert c.wait(timeout=20) == {"StatusCode": 3, "Error": None, "OOMKilled": False}
    threading.Timer(0.3, c.start).start()
    assert c.wait(condition="next-exit", timeout=20)["StatusCode"] == 3
    c.remove()
    c = client.containers.run("busybox", ["sh", "-c", "sleep 0.3; exit 2"], detach=True,
                              network_mode="none", auto_remove=True)
    assert c.wait(condition="removed", timeout=20)["StatusCode"] == 2
    with pytest.raises(pycontainer.NotFound):
        c.reload()
    c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    from pycontainer.errors import WaitTimeout
    with pytest.raises(WaitTimeout, match="after 0.3s"):
        c.wait(condition="removed", timeout=0.3)
    with pytest.raises(pycontainer.APIError, match="not-running, next-exit or removed"):
        c.wait(condition="bogus")
    c.remove(force=True)


def test_docker_py_7_keywords_kill_list_image_remove_volume_short_id(client, tmp_path):
    """Keywords docker-py 7 code passes, which were TypeErrors: Container.kill(signal=),
    containers.list(before=, since=), Image.remove(), Volume.short_id and
    images.prune_builds()."""
    a = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    b = client.containers.run("busybox", ["sh", "-c", "trap 'exit 7' TERM; sleep 30 & wait"],
                              detach=True, network_mode="none")
    try:
        assert [c.id for c in client.containers.list(since=a.id)] == [b.id]
        assert [c.id for c in client.containers.list(before=b.name)] == [a.id]
        b.kill(signal="SIGTERM")
        assert b.wait(timeout=20)["StatusCode"] == 7
        a.kill(signal=9)
        assert a.wait(timeout=20)["StatusCode"] == 137
    finally:
        a.remove(force=True)
        b.remove(force=True)
    from pycontainer.image.store import Store
    Store(str(tmp_path / "images")).resolve("busybox")            # the built-in one, in a store of its own
    own = pycontainer.Client(root=client.root, image_root=str(tmp_path / "images"))
    try:
        img = own.images.get("busybox")
        img.tag("kwtest", "1")
        own.images.get("kwtest:1").remove()
        with pytest.raises(pycontainer.ImageNotFound):
            own.images.get("kwtest:1")
        assert set(own.images.prune_builds()) == {"CachesDeleted", "SpaceReclaimed"}
    finally:
        own.close()
    v = client.volumes.create("kwtest-volume")
    assert v.short_id == "kwtest-volum"
    v.remove()


def test_client_events_and_login_as_docker_py(client):
    """docker-py's client.events(since, until, filters, decode) and client.login(...), which
    were missing: a run's create, start, die and destroy come back in order, filtered;
    login against nothing listening is one APIError, and nothing is kept."""
    import time
    t0 = time.time()
    client.containers.run("busybox", ["true"], remove=True, network_mode="none")
    evs = list(client.events(since=t0, until=time.time() + 0.3, filters={"type": "container"},
                             decode=True))
    assert [e["Action"] for e in evs][-4:] == ["create", "start", "die", "destroy"], evs
    raw = list(client.events(since=t0, until=time.time(), filters={"event": ["die"]}))
    import json
    assert len(raw) >= 1 and json.loads(raw[-1])["Action"] == "die"
    with pytest.raises(pycontainer.APIError, match="cannot reach registry 127.0.0.1:1"):
        client.login("user", "secret", registry="127.0.0.1:1", dockercfg_path="/nonexistent/auth.json")
    assert not os.path.exists("/nonexistent/auth.json")
    with pytest.raises(pycontainer.APIError, match="must not be empty"):
        client.login("user", "")


def test_detached_run_logs_and_wait(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; exit 2"], detach=True,
                              network_mode="none")
    assert c.wait(timeout=20)["StatusCode"] == 2
    assert c.logs() == b"a\nb\n"
    assert c.logs(stderr=False) == b"a\n"
    assert c.logs(tail=1) == b"b\n"
    c.remove()


def test_errors_a_caller_can_catch(client):
    with pytest.raises(pycontainer.ImageNotFound):
        client.images.get("no-such-image:1")
    with pytest.raises(pycontainer.NotFound):
        client.containers.get("no-such-container")
    with pytest.raises(pycontainer.APIError):
        client.containers.run("busybox", ["true"], bogus_option=1)
    with pytest.raises(pycontainer.APIError, match="not found"):
        client.containers.run("busybox", ["/no/such/program"], remove=True, network_mode="none")
    c = client.containers.run("busybox", ["true"], detach=True, network_mode="none")
    c.wait()
    with pytest.raises(pycontainer.APIError, match="stopped"):
        c.exec_run("true")
    c.remove()
    assert client.containers.list(all=True) == []


def test_images_list_get(client):
    client.containers.run("busybox", ["true"], remove=True, network_mode="none")   # builds busybox
    names = [t for i in client.images.list() for t in i.tags]
    assert any(t.startswith("busybox") for t in names)
    img = client.images.get("busybox")
    assert img.id.startswith("sha256:") and img.attrs["Config"]


def test_sandbox_timeout_kills_the_whole_cgroup(client):
    r = client.containers.sandbox("busybox", ["sh", "-c", "sleep 100 & sleep 100 & echo started; wait"],
                                  timeout=1, network_mode="none")
    assert r.timed_out and r.exit_code == 137 and r.stdout == b"started\n"
    assert 0.9 < r.wall_time < 10
    assert not any(r.id in p for p in _cgroups())


def test_sandbox_limits_oom_pids_cpu_network(client):
    r = client.containers.sandbox("busybox", ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a)"],
                                  mem_limit="32m", network_mode="none")
    assert r.oom_killed and r.exit_code != 0 and not r.timed_out
    r = client.containers.sandbox("busybox", ["sh", "-c", "for i in $(seq 30); do sleep 2 & done; wait"],
                                  pids_limit=10, network_mode="none", timeout=20)
    assert b"can't fork" in r.stderr or b"Resource temporarily unavailable" in r.stderr, r.stderr
    r = client.containers.sandbox("busybox", ["sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
                                              "/sys/fs/cgroup/cpu/cpu.shares; cat /proc/net/dev"],
                                  nano_cpus=500_000_000, cpu_shares=512, network_mode="none")
    lines = r.stdout.decode().split()
    assert lines[:2] == ["50000", "512"], r.stdout
    assert "lo:" in r.stdout.decode() and "eth0" not in r.stdout.decode()
    assert not r.oom_killed and r.exit_code == 0


def test_no_host_fd_reaches_the_container_or_the_helper(client, tmp_path):
    marker = tmp_path / "host-secret"
    fd = os.open(marker, os.O_CREAT | os.O_RDWR)
    os.set_inheritable(fd, True)                # even an inheritable fd of the host program
    try:
        # no pipeline or $(...): the shell itself would hold pipe fds while it runs
        r = client.containers.sandbox("busybox", ["sh", "-c", "ls -C /proc/$$/fd; "
                                                  "for f in /proc/$$/fd/*; do readlink $f; done"],
                                      network_mode="none")
        assert b"host-secret" not in r.stdout
        assert r.stdout.splitlines()[0].split() == [b"0", b"1", b"2"], r.stdout
        helper = client.transport.helper.proc.pid
        fds = {int(f): os.readlink(f"/proc/{helper}/fd/{f}") for f in os.listdir(f"/proc/{helper}/fd")}
        assert not any("host-secret" in x for x in fds.values())
        links = [x for f, x in fds.items() if f > 2]          # beyond stdio
        assert not any("host-secret" in x for x in links)
        # stdio, the control socket, and (while a request is in flight) its sockets/pipes
        assert all(x.startswith(("socket:", "pipe:", "/dev/null", "anon_inode:")) for x in links), links
    finally:
        os.close(fd)


def test_many_concurrent_sandboxes_from_threads_leave_nothing(client):
    """8 threads x 25 runs: every result right, then nothing left anywhere."""
    def fds():
        return len(os.listdir("/proc/self/fd"))
    client.containers.run("busybox", ["true"], remove=True, network_mode="none")  # warm the helper
    before_fds, before_mounts, before_holds = fds(), _mounts(), _holds()
    before_children = _children()
    results = []
    ids = []

    def worker(n):
        for i in range(25):
            tag = f"{n}-{i}"
            if i % 5 == 4:
                r = client.containers.sandbox("busybox", ["sleep", "10"], timeout=0.2,
                                              network_mode="none", pids_limit=20)
                ids.append(r.id)
                assert r.timed_out and r.exit_code == 137, r
            else:
                r = client.containers.sandbox("busybox", ["sh", "-c", f"echo {tag}; echo e{tag} >&2; "
                                                          f"exit {i % 3}"], network_mode="none",
                                              mem_limit="64m", timeout=30)
                ids.append(r.id)
                assert (r.exit_code, r.stdout, r.stderr) == (i % 3, f"{tag}\n".encode(),
                                                             f"e{tag}\n".encode()), r
            results.append(r.wall_time)
    t0 = time.monotonic()
    errors = in_threads(worker, 8, 300)
    elapsed = time.monotonic() - t0
    assert not errors, errors[:3]
    assert len(results) == 200
    print(f"200 sandboxes from 8 threads in {elapsed:.1f}s; median wall "
          f"{sorted(results)[100]:.3f}s")
    # Nothing left behind.
    assert os.listdir(client.root) == []
    assert not [p for p in _cgroups() if any(i in p for i in ids)]
    assert _mounts() == before_mounts
    assert not [i for i in ids if os.path.exists(os.path.join(CDIR, i))]
    assert not (_holds() - before_holds) & set(ids)
    assert fds() == before_fds
    deadline = time.monotonic() + 5
    while _children() != before_children and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() == before_children, "zombie or stray child in the calling program"
    # The helper is still the only child, and it reaped its workers.
    helper = client.transport.helper.proc.pid
    kids = [p for p in os.listdir("/proc") if p.isdigit() and pid_alive(int(p)) is False and
            os.path.exists(f"/proc/{p}/stat") and
            open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(helper)]
    assert kids == []


def test_the_calling_interpreter_is_never_forked(client, monkeypatch):
    """Only fork+exec of the helper (subprocess, close_fds); fork in the caller never runs."""
    def no_fork():
        raise AssertionError("os.fork() called in the embedding program")
    import posix            # the runtime's own path forks through posix (pycontainer/paths.py)
    for module in (os, posix):
        monkeypatch.setattr(module, "fork", no_fork)
    assert client.containers.run("busybox", ["echo", "ok"], remove=True, network_mode="none") == b"ok\n"
    c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none")
    assert c.exec_run("echo in").output == b"in\n"
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.remove()


def test_sandbox_input_is_the_programs_stdin(client):
    data = b"".join(b"line %d\n" % i for i in range(20000))      # more than a pipe holds
    r = client.containers.sandbox("busybox", ["sh", "-c", "wc -l; head -c 10 >/dev/null"],
                                  input=data, network_mode="none", timeout=30)
    assert r.exit_code == 0 and r.stdout.split()[0] == b"20000"
    r = client.containers.sandbox("busybox", ["true"], input=data, network_mode="none")
    assert r.exit_code == 0                      # a program that never reads: no hang, no error


def test_docker_py_names_and_host_config_arguments(client, tmp_path):
    # `import docker` code ported by changing one line: from_env, DockerClient, docker.errors,
    # docker.types; and the host-config keywords docker-py passes (they were "unsupported
    # option(s)"), each checked from inside the container or from its config
    import pycontainer.api as docker
    assert docker.DockerClient is docker.Client and docker.errors.APIError is pycontainer.APIError
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("no-such-" + uuid.uuid4().hex[:6])
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "f").write_text("bound\n")
    script = ("ulimit -n; cat /x/f; touch /x/g 2>/dev/null || echo ro; grep -c tmpfs /proc/mounts; "
              "grep ' /scratch ' /proc/mounts | grep -o size=[0-9]*k; grep -w db /etc/hosts; "
              "cat /etc/resolv.conf | grep nameserver; df -k /dev/shm | tail -1 | awk '{print $2}'; "
              "grep NoNewPrivs /proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '; echo")
    out = client.containers.run(
        "busybox", ["sh", "-c", script], remove=True, network_disabled=True,
        ulimits=[docker.types.Ulimit(name="nofile", soft=200, hard=300)],
        mounts=[docker.types.Mount("/x", str(tmp_path / "ro"), type="bind", read_only=True),
                docker.types.Mount("/scratch", None, type="tmpfs", tmpfs_size=1 << 20)],
        tmpfs={"/run/t": "size=64k"}, extra_hosts={"db": "10.9.8.7"}, dns=["10.1.1.1"],
        shm_size="32m", security_opt=["no-new-privileges"], init=True).decode().splitlines()
    assert out[:3] == ["200", "bound", "ro"] and int(out[3]) >= 3, out
    assert out[4] == "size=1024k" and out[5].split() == ["10.9.8.7", "db"], out
    assert out[6] == "nameserver 10.1.1.1" and out[7] == "32768", out
    assert out[8].split() == ["NoNewPrivs:", "1"] and out[9].startswith("/run/pycontainer-init"), out
    c = client.containers.run("busybox", ["sh", "-c", 'trap "exit 7" INT; while :; do sleep 0.1; done'],
                              detach=True, network_mode="none",
                              restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
                              healthcheck={"test": ["CMD", "true"], "interval": 200_000_000},
                              stop_signal="SIGINT")
    try:
        h, cfg = c.attrs["HostConfig"], c.attrs["Config"]
        assert h["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert cfg["StopSignal"] == "SIGINT" and cfg["Healthcheck"]["Interval"] == 200_000_000
        assert c.image.tags == ["busybox:latest"] and c.image.id == c.attrs["Image"]
        for _ in range(50):                           # docker-py's Container.health
            c.reload()
            if c.health == "healthy":
                break
            time.sleep(0.1)
        assert c.health == "healthy"
        t0 = time.monotonic()
        c.stop()                                      # its stop signal, not SIGTERM then 10 s
        assert c.wait()["StatusCode"] == 7 and time.monotonic() - t0 < 5
    finally:
        c.remove(force=True)
    for bad in ({"ulimits": [{"Name": "nofile", "Soft": "x", "Hard": 1}]},
                {"restart_policy": {"Name": "sometimes"}}, {"mounts": [{"Type": "bind"}]},
                {"healthcheck": {"test": ["CMD", "true"], "interval": "2s"}}, {"extra_hosts": "db"}):
        with pytest.raises(docker.errors.APIError):
            client.containers.run("busybox", "true", remove=True, network_mode="none", **bad)
    assert client.containers.list(all=True) == []


def test_stats_save_and_export_as_docker_py(client):
    # stats() returned the runtime's own shape ({"cpu", "memory"}), so docker-py code reading
    # memory_stats/cpu_stats/precpu_stats failed; Image.save() and Container.export() were missing
    import io
    import tarfile
    c = client.containers.run("busybox", ["sh", "-c", "echo hi > /root/mark; sleep 30"], detach=True,
                              network_mode="none")
    try:
        s = c.stats()
        assert s["memory_stats"]["usage"] > 0 and s["memory_stats"]["limit"] > 0
        assert s["pids_stats"]["current"] >= 1 and s["name"] == "/" + c.name
        assert s["cpu_stats"]["online_cpus"] >= 1 and s["cpu_stats"]["system_cpu_usage"] > 0
        gen = c.stats(stream=True, decode=True)
        first, second = next(gen), next(gen)
        assert second["precpu_stats"] == first["cpu_stats"]
        assert isinstance(next(c.stats(stream=True)), bytes)
        c.kill()
        c.wait()
        names = [m.name for m in tarfile.open(fileobj=io.BytesIO(b"".join(c.export())))]
        assert "./root/mark" in names and "./bin/sh" in names
    finally:
        c.remove(force=True)
    data = b"".join(client.images.get("busybox").save(chunk_size=4096))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert {"index.json", "manifest.json"} <= set(tf.getnames())
    assert [i.tags for i in client.images.load(data)] == [["busybox:latest"]]


def test_top_df_and_archive_stat_as_docker_py(client):
    # top() returned a list of PIDs, where docker-py code reads ["Titles"]/["Processes"];
    # client.df() was missing; get_archive's stat gave mtime as a float (docker: RFC 3339);
    # wait(timeout=) ran out as a plain APIError (docker-py: its HTTP client's read timeout);
    # containers.list's filters were a subset of ps's, with name a substring
    import re
    c = client.containers.run("busybox", ["sh", "-c", "touch /tmp/f; sleep 30"], detach=True,
                              network_mode="none")
    try:
        t = c.top()
        assert t["Titles"][:2] == ["UID", "PID"] and t["Titles"][-1] == "CMD"
        assert ["sleep 30"] == [p[-1] for p in t["Processes"] if p[-1].startswith("sleep")]
        assert all(len(p) == len(t["Titles"]) for p in t["Processes"])
        assert c.top(ps_args="-o pid,comm")["Titles"] == ["PID", "COMMAND"]
        _chunks, stat = c.get_archive("/tmp/f")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stat["mtime"]), stat
        df = client.df()
        assert set(df) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
        mine = [x for x in df["Containers"] if x["Id"] == c.id]
        assert mine and mine[0]["State"] == "running" and mine[0]["SizeRootFs"] >= mine[0]["SizeRw"]
        img = [i for i in df["Images"] if "busybox:latest" in i["RepoTags"]]
        assert img and img[0]["Containers"] >= 1 and img[0]["Size"] > 0 and df["LayersSize"] > 0
        # containers.list(filters=) as ps --filter (psfilter.py): name a regular expression,
        # every key of docker's; it took id/name/label/status/ancestor, name as a substring
        assert [x.id for x in client.containers.list(filters={"name": f"^{c.name}$"})] == [c.id]
        assert [x.id for x in client.containers.list(filters={"health": "none", "id": c.id[:6],
                                                              "network": "none"})] == [c.id]
        assert client.containers.list(filters={"name": f"^{c.name[:-1]}$"}) == []
        assert client.containers.list(filters={"expose": "80", "id": c.id}) == []
        with pytest.raises(pycontainer.APIError, match="invalid filter"):
            client.containers.list(filters={"colour": "red"})
        with pytest.raises(TimeoutError):             # and an APIError: docker-py code catches one
            c.wait(timeout=0.2)
        c.kill()
        c.wait()
        with pytest.raises(pycontainer.APIError, match="not running"):
            c.top()
    finally:
        c.remove(force=True)
