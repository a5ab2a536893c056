"""Resource limits proven by what the kernel does to real processes.

Plain processes (no container runtime) are started gated on a pipe, moved
into a cgroup made by ``pycontainer.cgroups`` and only then let go, the same
"cgroup before the program runs" order the runtime uses. The tests are
driver-agnostic: on this hybrid host they prove the v1 driver, and the VM
lane (.ci/vm-lane.sh) runs this same file on a pure cgroup v2 kernel.

Every cgroup lives under /pycontainer-test-<random>/ in every hierarchy and is
removed by the fixture, even when a test fails; every process a test starts is
killed by pid. Nothing here touches a cgroup it did not create.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from pycontainer import cgroups
from pycontainer.cgroups import fs, mounts
from pycontainer.errors import CgroupError

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make cgroups"),
]

MiB = 1 << 20


def _cgroups_usable() -> str | None:
    try:
        info = mounts.parse()
    except CgroupError as e:
        return str(e)
    if info.mode == "unified":
        have = mounts.controllers(info.unified)
        if not {"memory", "pids", "cpu"} <= have:
            return f"cgroup v2 root offers only {sorted(have)}"
    elif not {"memory", "pids", "cpu", "freezer"} <= set(info.v1):
        return f"v1 hierarchies lack controllers ({sorted(info.v1)})"
    return None


class Lab:
    """Makes cgroups under one private parent and removes everything at the end."""

    def __init__(self):
        self.parent = f"/pycontainer-test-{uuid.uuid4().hex[:8]}"
        self.managers: list = []
        self.procs: list[subprocess.Popen] = []

    def cgroup(self, name: str, resources: dict | None = None):
        mgr = cgroups.open(f"{self.parent}/{name}", name)
        self.managers.append(mgr)
        mgr.create(resources)
        return mgr

    def spawn(self, mgr, code: str, **kw) -> subprocess.Popen:
        """Run ``python -c code`` inside ``mgr``'s cgroup from its first instruction
        of ``code`` on: the child waits on a pipe until its pid was written."""
        r, w = os.pipe()
        gate = f"import os as _o; _o.read({r}, 1); _o.close({r})\n"
        p = subprocess.Popen([sys.executable, "-c", gate + code], pass_fds=(r,), **kw)
        os.close(r)
        self.procs.append(p)
        try:
            mgr.add_pid(p.pid)
        finally:
            os.write(w, b"g")
            os.close(w)
        return p

    def cleanup(self) -> None:
        for mgr in self.managers:
            try:
                mgr.kill_all(signal.SIGKILL)
            except CgroupError:
                pass
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        errors = []
        for mgr in self.managers:
            try:
                _wait_empty(mgr, 5)
                mgr.destroy()
            except CgroupError as e:
                errors.append(str(e))
        info = mounts.parse()
        for root in list(info.v1.values()) + ([info.unified] if info.unified else []):
            try:
                fs.rmtree(root + self.parent)
            except CgroupError as e:
                errors.append(str(e))
        assert not errors, errors

    def leftovers(self) -> list[str]:
        info = mounts.parse()
        roots = set(info.v1.values()) | ({info.unified} if info.unified else set())
        return [r + self.parent for r in roots if os.path.exists(r + self.parent)]


def _wait_empty(mgr, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while mgr.pids() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def lab():
    why = _cgroups_usable()
    if why:
        pytest.skip(why)
    lab = Lab()
    try:
        yield lab
    finally:
        lab.cleanup()
        assert lab.leftovers() == []


def cpu_ns(mgr) -> int:
    return mgr.stats()["cpu"]["usage"]["total"]


# Python snippets run inside the cgroups ------------------------------------------

HOG = """
import sys
chunks = []
for i in range(400):                       # at most 400 MiB, then give up
    chunks.append(bytearray(b"x") * (1 << 20))
sys.exit(3)
"""

SPIN = """
import time
end = time.monotonic() + {secs}
print("spinning", flush=True)
while time.monotonic() < end:
    pass
"""

COUNTER = """
import os, time
fd = os.open({path!r}, os.O_WRONLY | os.O_CREAT, 0o600)
i, end = 0, time.monotonic() + 30
while time.monotonic() < end:
    i += 1
    if i % 2000 == 0:
        os.pwrite(fd, str(i).encode().ljust(20), 0)
"""

# A bounded "fork bomb": two generations, 12 children each (156 processes if
# nothing limited it); every process sleeps 30 s at most. It prints how many
# forks the kernel refused (EAGAIN) to the first process, once it is done.
FORKBOMB = """
import os, sys, time
refused = 0
def breed(depth):
    global refused
    for _ in range(12):
        try:
            pid = os.fork()
        except BlockingIOError:
            refused += 1
            continue
        if pid == 0:
            if depth < 2:
                breed(depth + 1)
            time.sleep(30)
            os._exit(0)
breed(1)
print(refused, flush=True)
time.sleep(30)
"""

ALLOC_ON_DEMAND = """
import sys
held = []
for line in sys.stdin:
    held.append(bytearray(b"x") * (int(line) * (1 << 20)))
    print("ok", flush=True)
"""


# --- memory ----------------------------------------------------------------------

def test_memory_hog_is_oom_killed_and_parent_survives(lab):
    mgr = lab.cgroup("oom", {"memory": {"limit": 32 * MiB}})
    bystander = subprocess.Popen(["sleep", "30"])       # outside the cgroup
    lab.procs.append(bystander)
    hog = lab.spawn(mgr, HOG)
    assert hog.wait(timeout=60) == -signal.SIGKILL      # 137 in a shell
    assert bystander.poll() is None                     # only the cgroup paid
    st = mgr.stats()["memory"]
    assert st["oom_kill"] >= 1
    assert st["usage"]["limit"] == 32 * MiB


def test_6mib_limit_still_runs_a_process_that_execs(lab):
    """Docker's floor: --memory 6m must still start a container. A Python
    process moved into the cgroup (as the runtime's init is) execs a shell.

    Measured on the hybrid host (3 runs each): this needs 5 MiB; a Python that
    first forks and lets the child exec needs 6 MiB (peak 5.8 MiB), and one that
    also imports uncached modules after joining does not fit in 6 MiB at all -
    so the runtime must import everything before its processes join the cgroup.
    """
    mgr = lab.cgroup("floor", {"memory": {"limit": 6 * MiB}})
    p = lab.spawn(mgr, "import os\nos.execv('/bin/sh', ['sh', '-c', 'echo started'])\n",
                  stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=30)
    assert (p.returncode, out) == (0, b"started\n")
    assert mgr.stats()["memory"]["oom_kill"] == 0


def test_limit_below_floor_is_refused_before_anything_exists(lab):
    with pytest.raises(CgroupError, match="below 6291456"):
        lab.cgroup("tiny", {"memory": {"limit": 4 * MiB}})
    assert lab.leftovers() == []


def test_kernel_refusal_rolls_back_every_hierarchy(lab):
    ncpu = os.cpu_count() or 1
    with pytest.raises(CgroupError, match="cpuset.cpus"):
        lab.cgroup("badcpu", {"cpu": {"cpus": str(ncpu + 7)}})    # valid syntax, no such CPU
    assert lab.leftovers() == []


# --- pids ------------------------------------------------------------------------

def test_fork_bomb_stays_at_pids_max_and_kill_all_ends_it(lab):
    mgr = lab.cgroup("bomb", {"pids": {"limit": 16}, "memory": {"limit": 512 * MiB}})
    bomb = lab.spawn(mgr, FORKBOMB, stdout=subprocess.PIPE)
    refused = int(bomb.stdout.readline() or b"-1")
    peak, samples = 0, 0
    deadline = time.monotonic() + 15           # slow (emulated) machines need longer
    while samples < 20 and time.monotonic() < deadline:
        n = len(mgr.pids())
        assert n <= 16
        peak = max(peak, n)
        samples += peak == 16                  # keep watching once it is full
        time.sleep(0.02)
    assert peak == 16
    # the kernel said EAGAIN to fork(2): pids.events counts each refusal as "max"
    pids_dir = mgr.dir if mgr.version == 2 else mgr.dirs["pids"]
    refused_by_kernel = fs.read_kv(os.path.join(pids_dir, "pids.events")).get("max", 0)
    assert refused_by_kernel > 0 and refused >= 0
    assert mgr.stats()["pids"] == {"current": 16, "limit": 16}
    t = time.monotonic()
    mgr.kill_all(signal.SIGKILL)
    assert bomb.wait(timeout=10) == -signal.SIGKILL
    _wait_empty(mgr, 5)
    assert mgr.pids() == []
    assert time.monotonic() - t < 5


# --- cpu -------------------------------------------------------------------------

def test_shares_1024_vs_512_on_one_cpu_give_about_2_to_1(lab, record_property):
    """Two busy loops pinned to CPU 0. v1: cpu.shares 1024:512 -> 2:1. v2: the
    shares become cpu.weight 100:59 (runc/crun's map), so about 1.7:1."""
    from pycontainer.cgroups.resources import shares_to_weight
    a = lab.cgroup("cpu-a", {"cpu": {"shares": 1024, "cpus": "0"}})
    b = lab.cgroup("cpu-b", {"cpu": {"shares": 512, "cpus": "0"}})
    pa = lab.spawn(a, SPIN.format(secs=8), stdout=subprocess.PIPE)
    pb = lab.spawn(b, SPIN.format(secs=8), stdout=subprocess.PIPE)
    assert pa.stdout.readline() == pb.stdout.readline() == b"spinning\n"
    time.sleep(0.2)                          # both spinning and contending now
    a0, b0 = cpu_ns(a), cpu_ns(b)
    time.sleep(2.5)
    da, db = cpu_ns(a) - a0, cpu_ns(b) - b0
    ratio = da / max(db, 1)
    want = 2.0 if a.version == 1 else shares_to_weight(1024) / shares_to_weight(512)
    record_property("cpu_ratio", round(ratio, 2))
    print(f"shares 1024:512 (cgroup v{a.version}) -> cpu {da / 1e9:.2f}s : {db / 1e9:.2f}s "
          f"= {ratio:.2f}, expected {want:.2f}")
    assert want * 0.75 < ratio < want * 1.3
    assert (da + db) / 2.5e9 < 1.15        # pinned: together at most about one CPU
    pa.wait(timeout=60)
    pb.wait(timeout=60)


def test_cpu_quota_caps_a_busy_loop(lab, record_property):
    mgr = lab.cgroup("quota", {"cpu": {"quota": 20000, "period": 100000}})
    p = lab.spawn(mgr, SPIN.format(secs=3), stdout=subprocess.PIPE)
    assert p.stdout.readline() == b"spinning\n"
    time.sleep(0.2)
    c0 = cpu_ns(mgr)
    time.sleep(2)
    used = (cpu_ns(mgr) - c0) / 2e9
    record_property("cpu_quota_share", round(used, 3))
    print(f"quota 20ms/100ms -> {used:.3f} CPU")
    assert 0.12 < used < 0.26
    assert mgr.stats()["cpu"]["throttling"]["throttledPeriods"] > 0
    p.wait(timeout=60)                       # exit runs at 20% too (slow under emulation)


# --- freezer ---------------------------------------------------------------------

def test_freeze_stops_a_counter_and_thaw_restarts_it(lab, tmp_path):
    mgr = lab.cgroup("freeze")
    path = str(tmp_path / "count")
    lab.spawn(mgr, COUNTER.format(path=path))

    def count():
        try:
            return int(open(path).read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0
    deadline = time.monotonic() + 10
    while count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count() > 0
    mgr.freeze()
    assert mgr.frozen()
    c1 = count()
    time.sleep(0.5)
    assert count() == c1                     # not one more increment
    mgr.thaw()
    assert not mgr.frozen()
    time.sleep(0.3)
    assert count() > c1


# --- update ----------------------------------------------------------------------

def test_update_lowers_the_memory_limit_and_the_kernel_enforces_it(lab):
    mgr = lab.cgroup("update", {"memory": {"limit": 256 * MiB}})
    p = lab.spawn(mgr, ALLOC_ON_DEMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def alloc(mb):
        p.stdin.write(f"{mb}\n".encode())
        p.stdin.flush()
        return p.stdout.readline()
    assert alloc(48) == b"ok\n"              # 48 MiB fine under 256 MiB
    mgr.update({"memory": {"limit": 96 * MiB}})
    assert mgr.stats()["memory"]["usage"]["limit"] == 96 * MiB
    assert alloc(16) == b"ok\n"              # 64 MiB total: still under 96
    assert alloc(64) == b""                  # 128 MiB total: killed by the new limit
    assert p.wait(timeout=30) == -signal.SIGKILL
    assert mgr.stats()["memory"]["oom_kill"] >= 1


def test_update_pids_limit_applies_to_the_next_fork(lab):
    mgr = lab.cgroup("upids", {"pids": {"limit": 64}})
    code = ("import os, sys, time\nfor line in sys.stdin:\n    try:\n"
            "        pid = os.fork()\n    except BlockingIOError:\n"
            "        print('EAGAIN', flush=True); continue\n"
            "    if pid == 0:\n        time.sleep(30); os._exit(0)\n"
            "    print('forked', flush=True)\n")
    p = lab.spawn(mgr, code, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def fork():
        p.stdin.write(b"\n")
        p.stdin.flush()
        return p.stdout.readline().strip()
    assert fork() == b"forked"                # 2 processes
    mgr.update({"pids": {"limit": 2}})
    assert fork() == b"EAGAIN"
    mgr.update({"pids": {"limit": 3}})
    assert fork() == b"forked"


def test_update_refuses_bad_values_and_keeps_the_old_limit(lab):
    mgr = lab.cgroup("ubad", {"pids": {"limit": 10}})
    with pytest.raises(CgroupError, match="pids.limit"):
        mgr.update({"pids": {"limit": "ten"}})
    assert mgr.stats()["pids"]["limit"] == 10


# --- kill and destroy ------------------------------------------------------------

def test_kill_all_with_other_signal_and_destroy_leaves_no_dir(lab):
    mgr = lab.cgroup("killme")
    ps = [lab.spawn(mgr, "import time\ntime.sleep(30)\n") for _ in range(3)]
    assert sorted(mgr.pids()) == sorted(p.pid for p in ps)
    mgr.kill_all(signal.SIGTERM)
    assert [p.wait(timeout=10) for p in ps] == [-signal.SIGTERM] * 3
    _wait_empty(mgr, 5)
    mgr.destroy()
    mgr.destroy()                            # idempotent
    dirs = getattr(mgr, "hierarchies", None) or [mgr.dir]
    assert not any(os.path.exists(d) for d in dirs)


def test_destroy_refuses_while_processes_remain(lab):
    mgr = lab.cgroup("busy")
    lab.spawn(mgr, "import time\ntime.sleep(30)\n")
    t = time.monotonic()
    with pytest.raises(CgroupError, match="rmdir"):
        mgr.destroy()
    assert time.monotonic() - t < 5          # bounded retry, then a clear error


# --- block I/O and devices --------------------------------------------------------

@pytest.fixture
def loopdev(tmp_path):
    """A loop block device over an 8 MiB file, detached again at the end.

    (This sandbox forbids opening the real disk even to root; a loop device is
    a real block device with its own request queue, which is what blk-throttle
    and io.max act on.)"""
    if not os.path.exists("/sbin/losetup") and not os.path.exists("/usr/sbin/losetup"):
        pytest.skip("no losetup")
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.write(os.urandom(8 * MiB))
    r = subprocess.run(["losetup", "--find", "--show", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"losetup failed: {r.stderr.strip()}")
    dev = r.stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "--detach", dev], check=False)


def _timed_dd(lab, mgr, disk: str, mib: int) -> float:
    code = ("import os\nos.execv('/bin/dd', ['dd', 'if=" + disk + "', 'of=/dev/null', "
            f"'bs=64k', 'count={mib * 16}', 'iflag=direct'])\n")
    t = time.monotonic()
    p = lab.spawn(mgr, code, stderr=subprocess.PIPE)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return time.monotonic() - t


def test_read_bps_throttle_slows_direct_reads(lab, loopdev, record_property):
    from pycontainer.cgroups.convert import device_numbers
    major, minor = device_numbers(loopdev)
    readable = [{"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}]
    free = lab.cgroup("io-free", {"devices": readable})
    fast = _timed_dd(lab, free, loopdev, 4)
    slow_cg = lab.cgroup("io-slow", {"devices": readable, "blockIO": {"throttleReadBpsDevice": [
        {"major": major, "minor": minor, "rate": 1 * MiB}]}})
    slow = _timed_dd(lab, slow_cg, loopdev, 4)
    record_property("dd_4MiB_unthrottled_s", round(fast, 2))
    record_property("dd_4MiB_at_1MiBps_s", round(slow, 2))
    print(f"dd 4 MiB O_DIRECT from {loopdev} ({major}:{minor}): {fast:.2f}s free, "
          f"{slow:.2f}s at 1 MiB/s")
    # 4 MiB at 1 MiB/s: about 3 s more than unthrottled (the kernel lets a
    # first slice through); on the host fast is ~0.05 s, under emulation ~4 s
    assert slow - fast > 2.0
    assert slow < fast + 8.0


def test_v1_device_cgroup_denies_devices_outside_the_allow_list(lab, loopdev):
    # on a unified host (the VM lane) the same rules are the eBPF program of cgroups/ebpf.py
    os.close(os.open(loopdev, os.O_RDONLY))          # allowed outside the cgroup
    mgr = lab.cgroup("devdeny")
    code = (f"import os\ntry:\n    os.close(os.open({loopdev!r}, os.O_RDONLY))\n"
            "except PermissionError:\n    raise SystemExit(13)\n")
    p = lab.spawn(mgr, code)
    assert p.wait(timeout=10) == 13          # EPERM from the device cgroup, even for root
    p = lab.spawn(mgr, "import os\nos.close(os.open('/dev/null', os.O_WRONLY))\n")
    assert p.wait(timeout=10) == 0           # the default allow list keeps /dev/null
