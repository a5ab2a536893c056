"""The v1 and v2 Managers, mountinfo parsing and cgroupsPath rules, on fake trees.

A fake cgroupfs: ``mkdir`` is wrapped (in ``os`` and ``posix``: the runtime's path
calls ``posix``, see pycontainer/paths.py) so that a new directory under the
fake mount gets the control files the kernel would create (empty), which is
what lets create/update/destroy run unprivileged against tmp_path.
"""

import os
import posix
import signal

import pytest

from pycontainer import cgroups
from pycontainer.cgroups import events, mounts, v1, v2
from pycontainer.errors import CgroupError

V2_LEAF = ["cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze",
           "cgroup.events", "cgroup.kill", "cpu.weight", "cpu.max", "memory.max",
           "memory.swap.max", "memory.low", "pids.max", "io.max", "cpu.stat",
           "memory.events", "memory.current", "pids.current"]
V1_LEAF = {"cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.stat"],
           "cpuset": ["cpuset.cpus", "cpuset.mems"],
           "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                      "memory.oom_control", "memory.usage_in_bytes"],
           "pids": ["pids.max", "pids.current"], "freezer": ["freezer.state"],
           "devices": ["devices.allow", "devices.deny"]}


@pytest.fixture
def fake_mkdir(monkeypatch, tmp_path):
    real = os.mkdir

    def mkdir(path, mode=0o777, *a, **kw):
        real(path, mode, *a, **kw)
        p = str(path)
        if not p.startswith(str(tmp_path)):
            return
        if "/unified" in p or "/v2" in p:
            files = V2_LEAF
        else:
            ctrl = os.path.relpath(p, str(tmp_path / "v1")).split("/")[0]
            files = ["cgroup.procs"] + V1_LEAF.get(ctrl, [])
        for f in files:
            with open(os.path.join(p, f), "w") as fh:
                fh.write("")
        if "/v2" in p:
            with open(os.path.join(p, "cgroup.controllers"), "w") as fh:
                fh.write("cpu memory pids io")
            with open(os.path.join(p, "cgroup.events"), "w") as fh:
                fh.write("populated 0\nfrozen 0\n")
    real_rmdir = os.rmdir

    def rmdir(path, *a, **kw):
        # cgroupfs: rmdir(2) of a cgroup takes its control files with it
        p = str(path)
        if p.startswith(str(tmp_path)) and os.path.isdir(p):
            if not any(e.is_dir() for e in os.scandir(p)):
                for e in os.scandir(p):
                    os.unlink(e.path)
        real_rmdir(path, *a, **kw)
    for module in (os, posix):
        monkeypatch.setattr(module, "mkdir", mkdir)
        monkeypatch.setattr(module, "rmdir", rmdir)
    return tmp_path


def fake_v2_root(tmp_path, controllers="cpu memory pids io"):
    root = tmp_path / "v2"
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers)
    (root / "cgroup.subtree_control").write_text("")
    return root


def fake_v1_roots(tmp_path):
    roots = {}
    for ctrl in V1_LEAF:
        r = tmp_path / "v1" / ctrl
        r.mkdir(parents=True)
        (r / "cgroup.procs").write_text("")
        if ctrl == "cpuset":
            (r / "cpuset.cpus").write_text("0-1\n")
            (r / "cpuset.mems").write_text("0\n")
        roots[ctrl] = str(r)
    return roots


# --- detect --------------------------------------------------------------------

MI_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MI_UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
MI_LEGACY = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
MI_NAMED_ONLY = (MI_UNIFIED +
                 "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n")


@pytest.mark.parametrize("text,mode", [(MI_HYBRID, "hybrid"), (MI_UNIFIED, "unified"),
                                       (MI_LEGACY, "legacy"), (MI_NAMED_ONLY, "unified")])
def test_detect_from_mountinfo(tmp_path, text, mode):
    f = tmp_path / "mountinfo"
    f.write_text(text)
    assert cgroups.detect(str(f)) == mode


def test_detect_parses_comounted_controllers(tmp_path):
    f = tmp_path / "mountinfo"
    f.write_text(MI_HYBRID)
    m = mounts.parse(str(f))
    assert m.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                    "memory": "/sys/fs/cgroup/memory"}
    assert m.unified == "/sys/fs/cgroup/unified"


def test_detect_without_cgroups_says_what_to_do(tmp_path):
    f = tmp_path / "mountinfo"
    f.write_text("22 1 0:5 / /proc rw - proc proc rw\n")
    with pytest.raises(CgroupError, match="mount cgroup2"):
        cgroups.detect(str(f))


def test_own_cgroups(tmp_path):
    f = tmp_path / "cgroup"
    f.write_text("9:name=systemd:/\n4:memory:/a/b\n1:cpu,cpuacct:/c\n0::/u\n")
    assert mounts.own_cgroups(str(f)) == {"memory": "/a/b", "cpu": "/c", "cpuacct": "/c",
                                          "": "/u"}


# --- cgroupsPath ---------------------------------------------------------------

@pytest.mark.parametrize("given,own,want", [
    (None, "/", "/pycontainer/web"),
    ("", "/x", "/pycontainer/web"),
    ("/machine/web", "/x", "/machine/web"),
    ("/a/../../b", "/", "/b"),
    ("//a//b/", "/", "/a/b"),
    ("ctr/web", "/user.slice", "/user.slice/ctr/web"),
])
def test_resolve_path_runc_rules(given, own, want):
    assert cgroups.resolve_path(given, "web", own) == want


@pytest.mark.parametrize("given,cid,msg", [
    (None, "../x", "cannot name"), ("/", "x", "root cgroup"), ("a/../../b", "x", "'..'"),
    ("system.slice:pyc:web", "x", "systemd"), ("/a\nb", "x", "newline")])
def test_resolve_path_refuses(given, cid, msg):
    with pytest.raises(CgroupError, match=msg):
        cgroups.resolve_path(given, cid)


def test_open_picks_driver(tmp_path):
    mi, pc = tmp_path / "mi", tmp_path / "pc"
    pc.write_text("4:memory:/own\n0::/\n")
    mi.write_text(MI_UNIFIED)
    m = cgroups.open("/t/web", "web", mountinfo=str(mi), proc_cgroup=str(pc))
    assert isinstance(m, v2.Manager) and m.dir == "/sys/fs/cgroup/t/web" and m.path == "/t/web"
    mi.write_text(MI_HYBRID)
    m = cgroups.open(None, "web", mountinfo=str(mi), proc_cgroup=str(pc))
    assert isinstance(m, v1.Manager)
    assert m.dirs["memory"] == "/sys/fs/cgroup/memory/pycontainer/web"
    assert m.unified == "/sys/fs/cgroup/unified/pycontainer/web"
    assert len(m.hierarchies) == 3          # cpu,cpuacct + memory + unified
    m = cgroups.open("rel", "web", mountinfo=str(mi), proc_cgroup=str(pc))
    assert m.dirs["memory"] == "/sys/fs/cgroup/memory/own/rel"


# --- v2 Manager on a fake tree ---------------------------------------------------

def test_v2_create_enables_controllers_and_writes(fake_mkdir):
    root = fake_v2_root(fake_mkdir)
    m = v2.Manager(str(root), "/pyc/web")
    m.create({"memory": {"limit": 64 << 20}, "pids": {"limit": 7}})
    # one write per controller, in WANTED order; a file keeps only the last here
    assert (root / "cgroup.subtree_control").read_text() == "+pids"
    assert (root / "pyc/cgroup.subtree_control").read_text() == "+pids"
    assert (root / "pyc/web/memory.max").read_text() == str(64 << 20)
    assert (root / "pyc/web/pids.max").read_text() == "7"
    m.update({"pids": {"limit": 9}})
    assert (root / "pyc/web/pids.max").read_text() == "9"
    m.destroy()
    assert not (root / "pyc/web").exists()
    m.destroy()                              # idempotent


def test_v2_create_refuses_controller_the_host_lacks_and_makes_nothing(fake_mkdir):
    root = fake_v2_root(fake_mkdir, controllers="hugetlb")
    m = v2.Manager(str(root), "/pyc/web")
    with pytest.raises(CgroupError, match=r"need the memory controller.*offer \(hugetlb\)"):
        m.create({"memory": {"limit": 64 << 20}})
    assert not (root / "pyc").exists()


def test_v2_bad_value_makes_nothing(fake_mkdir):
    root = fake_v2_root(fake_mkdir)
    with pytest.raises(CgroupError, match="below 6291456"):
        v2.Manager(str(root), "/pyc/web").create({"memory": {"limit": 1 << 20}})
    assert not (root / "pyc").exists()


def test_v2_kernel_refusal_rolls_back_every_dir_made(fake_mkdir):
    root = fake_v2_root(fake_mkdir, controllers="cpu memory pids io hugetlb")
    m = v2.Manager(str(root), "/pyc/web")
    with pytest.raises(CgroupError, match="hugetlb.2MB.max"):
        # validation passes but the leaf has no hugetlb file: like a kernel without it
        m.create({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    assert not (root / "pyc").exists()


def test_v2_freeze_kill(fake_mkdir, monkeypatch):
    root = fake_v2_root(fake_mkdir)
    m = v2.Manager(str(root), "/pyc/web")
    m.create(None)
    (root / "pyc/web/cgroup.events").write_text("populated 1\nfrozen 1\n")
    m.freeze()
    assert (root / "pyc/web/cgroup.freeze").read_text() == "1" and m.frozen()
    m.thaw()
    assert (root / "pyc/web/cgroup.freeze").read_text() == "0"
    m.kill_all(signal.SIGKILL)
    assert (root / "pyc/web/cgroup.kill").read_text() == "1"
    (root / "pyc/web/cgroup.procs").write_text("4242\n")
    sent = []
    for module in (os, posix):
        monkeypatch.setattr(module, "kill", lambda pid, sig: sent.append((pid, sig)))
    m.kill_all(signal.SIGTERM)
    assert sent == [(4242, signal.SIGTERM)] and m.pids() == [4242]


def test_v2_stats(fake_mkdir):
    root = fake_v2_root(fake_mkdir)
    m = v2.Manager(str(root), "/pyc/web")
    m.create(None)
    d = root / "pyc/web"
    (d / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                                "nr_periods 4\nnr_throttled 2\nthrottled_usec 30\n")
    (d / "memory.current").write_text("4096\n")
    (d / "memory.max").write_text("max\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (d / "pids.current").write_text("3\n")
    (d / "pids.max").write_text("10\n")
    (d / "io.stat").write_text("254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
    s = m.stats()
    assert s["cpu"]["usage"] == {"total": 1500000, "user": 1000000, "kernel": 500000}
    assert s["cpu"]["throttling"]["throttledPeriods"] == 2
    assert s["memory"]["usage"]["usage"] == 4096 and s["memory"]["usage"]["limit"] == 0
    assert s["memory"]["oom_kill"] == 1
    assert s["pids"] == {"current": 3, "limit": 10}
    assert {"major": 254, "minor": 0, "op": "rbytes", "value": 100} in \
        s["blkio"]["ioServiceBytesRecursive"]


# --- v1 Manager on a fake tree ---------------------------------------------------

def v1_manager(tmp_path, path="/pyc/web"):
    roots = fake_v1_roots(tmp_path)
    dirs = {c: r + path for c, r in roots.items()}
    return v1.Manager(dirs, path, roots={r + path: r for r in roots.values()}), roots


def test_v1_create_fills_cpuset_and_applies(fake_mkdir):
    m, roots = v1_manager(fake_mkdir)
    m.create({"memory": {"limit": 32 << 20}, "pids": {"limit": 5}, "cpu": {"cpus": "1"}})
    rd = lambda c, f: open(os.path.join(roots[c], "pyc/web", f)).read()      # noqa: E731
    assert open(os.path.join(roots["cpuset"], "pyc/cpuset.cpus")).read() == "0-1"
    assert rd("cpuset", "cpuset.mems") == "0"
    assert rd("cpuset", "cpuset.cpus") == "1"
    assert rd("memory", "memory.limit_in_bytes") == str(32 << 20)
    assert rd("pids", "pids.max") == "5"
    assert rd("devices", "devices.allow") == "c 5:2 rwm"       # last of the default list
    m.update({"pids": {"limit": 6}})
    assert rd("pids", "pids.max") == "6"
    m.destroy()
    for r in roots.values():
        assert not os.path.exists(os.path.join(r, "pyc/web"))


def test_v1_failure_leaves_nothing_in_any_hierarchy(fake_mkdir):
    m, roots = v1_manager(fake_mkdir)
    with pytest.raises(CgroupError, match="blkio"):
        m.create({"blockIO": {"weight": 100}})            # no blkio hierarchy here
    with pytest.raises(CgroupError, match="hugetlb"):
        m.create({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    for r in roots.values():
        assert os.listdir(r) == [n for n in os.listdir(r) if n != "pyc"]
        assert not os.path.exists(os.path.join(r, "pyc"))


def test_v1_freezer_and_signal_fallback(fake_mkdir, monkeypatch):
    m, roots = v1_manager(fake_mkdir)
    m.create(None)
    state = os.path.join(roots["freezer"], "pyc/web/freezer.state")
    m.freeze()
    assert open(state).read() == "FROZEN" and m.frozen()
    m.thaw()
    assert open(state).read() == "THAWED" and not m.frozen()
    no_freezer = v1.Manager({c: d for c, d in m.dirs.items() if c != "freezer"}, m.path)
    assert not no_freezer.frozen()          # a host without the v1 freezer: never paused
    with open(os.path.join(roots["pids"], "pyc/web/cgroup.procs"), "w") as f:
        f.write("11\n12\n")
    sent = []
    for module in (os, posix):
        monkeypatch.setattr(module, "kill", lambda pid, sig: sent.append((pid, sig)))
    m.kill_all(signal.SIGKILL)          # no unified tree: freeze, kill each, thaw
    assert sent == [(11, signal.SIGKILL), (12, signal.SIGKILL)]
    assert open(state).read() == "THAWED"


def test_v1_stats_reads_oom_kill(fake_mkdir):
    m, roots = v1_manager(fake_mkdir)
    m.create(None)
    with open(os.path.join(roots["memory"], "pyc/web/memory.oom_control"), "w") as f:
        f.write("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert m.stats()["memory"]["oom_kill"] == 2
    assert events.oom_kills(m) == 2


def test_events_watch_yields_one_oom_per_kill():
    class Fake:
        n = 0

        def stats(self):
            return {"memory": {"oom_kill": self.n}}
    f = Fake()
    calls = iter([0, 0, 2, 2])

    def stop():
        try:
            f.n = next(calls)
            return False
        except StopIteration:
            return True
    evs = list(events.watch(f, "web", interval=0.01, stats=False, stop=stop))
    assert evs == [{"type": "oom", "id": "web"}, {"type": "oom", "id": "web"}]


def test_freezer_reads_the_recorded_directories(tmp_path):
    """cgroups.freezer (state, kill, delete): v1's freezer.state, v2's cgroup.events, and
    cgroup.freeze where cgroup.events has no ``frozen`` key; other hierarchies say nothing."""
    from pycontainer.cgroups import freezer
    d = {n: tmp_path / n for n in ("freezer", "memory", "unified", "oldv2")}
    for p in d.values():
        p.mkdir()
    (d["freezer"] / "freezer.state").write_text("THAWED\n")
    (d["memory"] / "memory.limit_in_bytes").write_text("max\n")
    (d["unified"] / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    (d["oldv2"] / "cgroup.events").write_text("populated 1\n")
    (d["oldv2"] / "cgroup.freeze").write_text("0\n")
    hybrid = [str(d["freezer"]), str(d["memory"]), str(d["unified"])]
    assert not freezer.any_frozen(hybrid) and not freezer.any_frozen([str(tmp_path / "gone")])
    (d["freezer"] / "freezer.state").write_text("FREEZING\n")     # not every task stopped yet
    assert not freezer.any_frozen(hybrid)
    (d["freezer"] / "freezer.state").write_text("FROZEN\n")
    assert freezer.any_frozen(hybrid) and freezer.frozen(str(d["freezer"]))
    (d["freezer"] / "freezer.state").write_text("THAWED\n")
    (d["unified"] / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert freezer.any_frozen(hybrid)
    assert not freezer.frozen(str(d["oldv2"]))
    (d["oldv2"] / "cgroup.freeze").write_text("1\n")
    assert freezer.frozen(str(d["oldv2"]))


def test_oom_kills_read_from_the_recorded_directories(tmp_path):
    """cgroups.events.recorded_oom_kills (state of a stopped container): v1's
    memory.oom_control and v2's memory.events in the recorded dirs, summed; other
    hierarchies and missing files count 0; a record without dirs asks the driver."""
    from pycontainer.cgroups import events
    d = {n: tmp_path / n for n in ("memory", "pids", "unified")}
    for p in d.values():
        p.mkdir()
    (d["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (d["pids"] / "pids.max").write_text("max\n")
    (d["unified"] / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    rec = {"cgroup": "/pycontainer/x", "cgroup_dirs": [str(p) for p in d.values()] + [str(tmp_path / "gone")]}
    never = lambda r: pytest.fail("the driver is not asked when the dirs are recorded")  # noqa: E731
    assert events.recorded_oom_kills(rec, never) == 0
    (d["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (d["unified"] / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert events.recorded_oom_kills(rec, never) == 3

    class Driver:
        def stats(self):
            return {"memory": {"oom_kill": 4}}
    assert events.recorded_oom_kills({"cgroup": "/pycontainer/x"}, lambda r: Driver()) == 4
    assert events.recorded_oom_kills({"cgroup": "/x"}, lambda r: (_ for _ in ()).throw(OSError(2, "gone"))) == 0
