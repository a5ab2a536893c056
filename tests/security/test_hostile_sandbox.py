"""Hostile programs in sandboxes (issue 14): each one is contained, nothing is left behind, and the
calling program stays healthy (its memory, its fds, its children). Real kernel.

The egress tests talk only to a server this test starts on the bridge's own gateway address
(an address of this machine); no other address is ever contacted.
"""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

import pycontainer
from conftest import in_threads, leftovers_of, pid_alive
from _helpers import probe_bin  # noqa: F401 -- a fixture

pytestmark = pytest.mark.root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _leftovers(ids) -> list[str]:
    return leftovers_of(ids, with_dirs=True)


@pytest.fixture
def box(tmp_path):
    """(client, run): ``run(cmd, **kw)`` is sandbox() recording the id; afterwards nothing of any
    run may be left and the caller's fds and RSS are checked."""
    c = pycontainer.Client(root=str(tmp_path / "state"))
    ids = []

    def run(cmd, **kw):
        kw.setdefault("network_mode", "none")
        kw.setdefault("timeout", 20)
        r = c.containers.sandbox("busybox", cmd, **kw)
        ids.append(r.id)
        return r
    c.containers.sandbox("busybox", ["true"], network_mode="none")
    fds = len(os.listdir("/proc/self/fd"))
    rss = _rss_kib()
    yield c, run
    deadline = time.monotonic() + 10
    while _leftovers(ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _leftovers(ids) == []
    assert not os.listdir(c.root)
    assert len(os.listdir("/proc/self/fd")) == fds
    # The caller's resident memory now, against before the test (ru_maxrss is the
    # peak of the whole pytest process, which earlier tests can have raised).
    assert _rss_kib() - rss < 200 * 1024, "caller's RSS grew"
    c.close()


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_fork_bomb_is_capped_by_pids_limit(box):
    _, run = box
    r = run(["sh", "-c", "b() { b | b & }; b; wait"], pids_limit=64, timeout=3)
    assert r.wall_time < 3 + 10, r                  # the timeout's kill, though it forks on


def test_memory_hog_is_oom_killed(box):
    _, run = box
    r = run(["sh", "-c", "x=a; while :; do x=$x$x; done"], mem_limit="32m", timeout=20)
    assert r.oom_killed and r.exit_code == 137, r


def test_output_flood_on_both_streams(box):
    _, run = box
    t0 = time.monotonic()
    r = run(["sh", "-c", "yes out & yes err >&2"], timeout=2, max_output=1 << 20)
    assert time.monotonic() - t0 < 2 + 10           # the timeout, not yes's forever
    assert r.timed_out and r.stdout_truncated and r.stderr_truncated
    assert len(r.stdout) == len(r.stderr) == 1 << 20


def test_infinite_loop_is_killed_at_the_timeout(box):
    _, run = box
    t0 = time.monotonic()
    r = run(["sh", "-c", "while :; do :; done"], timeout=1, nano_cpus=500_000_000)
    assert r.timed_out and r.exit_code == 137 and time.monotonic() - t0 < 1 + 10   # not forever


def test_child_outliving_the_main_process_dies_with_the_sandbox(box):
    _, run = box
    r = run(["sh", "-c", "(trap '' HUP TERM; sleep 1000) >/dev/null 2>&1 & echo started"], timeout=5)
    assert r.exit_code == 0 and r.stdout == b"started\n" and not r.timed_out


def test_sigterm_ignoring_process(box):
    _, run = box
    r = run(["sh", "-c", "trap '' TERM INT HUP; while :; do sleep 1; done"], timeout=1)
    assert r.timed_out and r.exit_code == 137


def test_write_past_the_quota(box):
    _, run = box
    r = run(["sh", "-c", "cat /dev/zero > /fill; echo rc=$?"], storage_opt={"size": "8m"})
    assert b"No space left" in r.stderr and b"rc=1" in r.stdout


@pytest.mark.parametrize("cmd", [
    ["sh", "-c", "mount -t tmpfs none /mnt"],
    ["unshare", "-m", "true"],
    ["unshare", "-U", "true"],
])
def test_privileged_operations_are_refused(box, cmd):
    _, run = box
    r = run(cmd)
    assert r.exit_code != 0, r


def test_ptrace_mount_unshare_syscalls(box, probe_bin):
    """The raw syscalls, through the static probe (tests/security/probe.c) copied in with
    write_file: mount(2), unshare(2) and, in a sandbox (``allow_ptrace=False``, the default of
    sandbox() and pools), ptrace(2) of its own init fail with EPERM. With docker's rule
    (``allow_ptrace=True``, containers.run's default) ptrace reaches only the container's own
    processes: a host pid, such as the caller's, does not exist in its pid namespace (ESRCH)."""
    client, _ = box
    with open(probe_bin, "rb") as f:
        probe = f.read()
    for allow, want in ((False, b"ptrace=1\n"), (True, b"ptrace=0\n")):
        c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="none",
                                  allow_ptrace=allow)
        try:
            c.write_file("/bin/probe", probe, mode=0o755)
            assert c.exec_run(["/bin/probe", "mount"]).output == b"mount=1\n"        # EPERM
            assert c.exec_run(["/bin/probe", "unshare"]).output == b"unshare=1\n"
            assert c.exec_run(["/bin/probe", "ptrace", "1"]).output == want
            assert c.exec_run(["/bin/probe", "ptrace", str(os.getpid())]).output in (b"ptrace=1\n",
                                                                                      b"ptrace=3\n")
        finally:
            c.remove(force=True)


def test_egress_to_the_gateway_needs_egress_allow(box):
    client, run = box
    run(["true"], network_mode="bridge")                       # the bridge exists from here on
    gw = "10.89.0.1"
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((gw, 0))
    except OSError:
        pytest.skip(f"{gw} is not the bridge gateway on this host")
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                s, _ = srv.accept()
            except OSError:
                continue
            s.sendall(b"HELLO\n")
            s.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        cmd = ["sh", "-c", f"nc -w 2 {gw} {port} </dev/null; echo rc=$?"]
        denied = run(cmd, network_mode="bridge")
        assert b"HELLO" not in denied.stdout, denied
        allowed = run(cmd, network_mode="bridge", egress_allow=[f"{gw}/32:{port}"])
        assert allowed.stdout.startswith(b"HELLO"), allowed
        other_port = run(["sh", "-c", f"nc -w 2 {gw} {port} </dev/null; echo rc=$?"],
                         network_mode="bridge", egress_allow=[f"{gw}/32:{port + 1 if port < 65535 else 1}"])
        assert b"HELLO" not in other_port.stdout
        # the default policy is shared (egress.Shared): the veth is in its interface group and
        # nothing is the container's; dispatch rules someone flushed are back before the next
        # sandbox's program runs
        from pycontainer.network import egress
        shared = egress.Shared(egress.resolvers())
        c = client.containers.run("busybox", ["sleep", "30"], detach=True, network_mode="bridge",
                                  egress="deny-private")
        try:
            from pycontainer.network.bridge import veth_name
            with open(f"/sys/class/net/{veth_name(c.id)}/netdev_group") as f:
                assert int(f.read()) == shared.group
        finally:
            c.remove(force=True)
        subprocess.run(["nft", "flush", "chain", "bridge", "pycontainer", "egress_in"], check=True)
        subprocess.run(["nft", "flush", "chain", "bridge", "pycontainer", "egress_fwd"], check=True)
        subprocess.run(["nft", "flush", "chain", "bridge", "pycontainer", shared.chain], check=True)
        again = run(cmd, network_mode="bridge")
        assert b"HELLO" not in again.stdout, again
        table = subprocess.run(["nft", "list", "table", "bridge", "pycontainer"], capture_output=True,
                               text=True).stdout
        assert f"{shared.group} : jump {shared.chain}" in table and shared.in_place(table)
        assert egress.chain_name(again.id) not in table and egress.chain_name(denied.id) not in table
        # found in place by the next sandbox, at the ruleset's generation: until the ruleset
        # changes, a sandbox starts no nft process at all (nfgen.py)
        assert b"HELLO" not in run(cmd, network_mode="bridge").stdout
        assert egress.Shared(egress.resolvers()).start().running is None
    finally:
        stop.set()
        t.join()
        srv.close()
    out = subprocess.run(["nft", "list", "map", "bridge", "pycontainer", "egress_veth"],
                         capture_output=True, text=True).stdout
    from pycontainer.network.bridge import veth_name
    assert veth_name(denied.id) not in out and veth_name(allowed.id) not in out


def test_caller_killed_mid_run_leaves_nothing(box):
    client, run = box
    code = ("import sys, pycontainer; c = pycontainer.Client(root=sys.argv[1]); "
            "print(c.transport.request({'op': 'ping'})[0]['pid'], flush=True); "
            "c.containers.sandbox('busybox', ['sh', '-c', 'yes > /dev/null & yes'], name=sys.argv[2], "
            "network_mode='none')")
    cid = "hostile-" + os.urandom(4).hex()
    p = subprocess.Popen([sys.executable, "-c", code, client.root, cid], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    try:
        helper = int(p.stdout.readline())
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(client.root, cid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        p.kill()
        p.wait()
        deadline = time.monotonic() + 10
        while (pid_alive(helper) or _leftovers([cid])) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(helper) and _leftovers([cid]) == []
        assert not os.path.exists(os.path.join(client.root, cid))
    finally:
        p.kill()
        p.wait()


def test_8_threads_x_25_sandboxes(box):
    _, run = box

    def worker(n):
        for i in range(25):
            r = run(["sh", "-c", f"echo {n}-{i}"], mem_limit="64m", timeout=30)
            assert r.exit_code == 0 and r.stdout == f"{n}-{i}\n".encode(), r
    errors = in_threads(worker, 8, 600)
    assert not errors, errors[:3]
