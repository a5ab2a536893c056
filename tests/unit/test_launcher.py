"""The pycontainer command in C (csrc/launcher.c): it passes argv on unchanged, and for the
verbs that attach a process it starts the cgroup-attach priming first (a grandchild that
writes its own pid to its own cgroup.procs, a no-op move), or joins the one already
running, and names the connection that stops it in PYCONTAINER_PRIMER_FD. Built here with
gcc as .ci/install.sh builds it, with an abstract address of its own (PRIMER_NAME), so that
it never joins the primer of an installed pycontainer."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = """import os, sys
fd = os.environ.get("PYCONTAINER_PRIMER_FD")
alive = fd is not None and os.path.exists(f"/proc/self/fd/{fd}")
print(repr(sys.argv[1:]), fd is not None, alive, open("/proc/self/cgroup").read() == %r, flush=True)
if "wait" in sys.argv:
    import socket, struct
    peer = 0
    if alive:                           # the pid that listens: the launcher that started the primer
        s = socket.socket(fileno=int(fd))
        peer = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        s.detach()
    print(os.getpid(), peer, flush=True)
    sys.stdin.readline()                # holds the connection until the test says
"""


# A primer lives 100 ms at most as installed; 3 s here, so that a second command started
# together with the first finds it even on a loaded machine, and one that goes with its
# runtime (within DEADLINE_MS / 2) is clearly not one that went at its deadline.
DEADLINE_MS = 3000


def _build(tmp_path_factory, deadline_ms=DEADLINE_MS, **defines) -> tuple[str, str]:
    """-> (the launcher built with these compile-time values, its primer's address)."""
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    d = tmp_path_factory.mktemp("launcher")
    script = d / "script.py"
    script.write_text(SCRIPT % open("/proc/self/cgroup").read())
    exe, name = d / "pycontainer", f"pycontainer-test/{os.getpid()}/{d.name}"
    flags = [f"-D{k}={v}" for k, v in defines.items()]
    subprocess.run(["gcc", "-O2", f'-DPYTHON="{sys.executable}"', f'-DSCRIPT="{script}"',
                    f'-DPRIMER_NAME="{name}"', f"-DDEADLINE_MS={deadline_ms}", *flags, "-o",
                    str(exe), os.path.join(HERE, "csrc", "launcher.c")], check=True)
    return str(exe), name


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    return _build(tmp_path_factory)[0]


def _run(launcher, *args):
    p = subprocess.run([launcher, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def _primers(launcher) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.readlink(f"/proc/{pid}/exe") == launcher:
                out.append(int(pid))
        except OSError:
            pass
    return out


def test_argv_is_passed_on_and_only_attaching_verbs_prime(launcher):
    assert _run(launcher, "ps", "x") == "['ps', 'x'] False False True"
    assert _run(launcher, "--root", "/r", "delete", "run") == "['--root', '/r', 'delete', 'run'] False False True"
    assert _run(launcher, "--help") == "['--help'] False False True"
    for verb in ("create", "run", "exec"):
        assert _run(launcher, "--root", "/r", verb, "-b", "b c") == \
            f"['--root', '/r', '{verb}', '-b', 'b c'] True True True"


def _gone(launcher, seconds=2.0) -> bool:
    deadline = time.monotonic() + seconds
    while _primers(launcher) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _primers(launcher) == []


@pytest.mark.root
def test_the_primer_moves_nothing_and_goes_when_the_connection_closes(launcher):
    out = _run(launcher, "run", "x")             # the script exits: its connection closes
    assert out.endswith("True True True")        # our cgroups unchanged, as the primer's
    assert _gone(launcher)


def _waiting(launcher):
    return subprocess.Popen([launcher, "run", "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _ids(p) -> tuple[int, int]:
    assert p.stdout.readline().strip().endswith("True True True")
    pid, peer = p.stdout.readline().split()
    return int(pid), int(peer)


@pytest.mark.root
def test_runtimes_at_once_share_one_primer_which_goes_with_the_first(launcher):
    """Two commands started together: the second joins the primer the first one started
    (its connection's peer is the first command's process) instead of forking its own; the
    primer goes when the first runtime closes its connection (before its deadline), as a
    run's own primer did, while the second still runs."""
    a, b = _waiting(launcher), _waiting(launcher)
    try:
        (pa, peer_a), (pb, peer_b) = _ids(a), _ids(b)
        first = pa if peer_a == pa else pb
        assert peer_a == peer_b == first, (pa, peer_a, pb, peer_b)
        (a if first == pa else b).stdin.close()
        assert _gone(launcher, seconds=DEADLINE_MS / 1000 / 2)
        other = b if first == pa else a
        assert other.poll() is None
    finally:
        for p in (a, b):
            if not p.stdin.closed:
                p.stdin.close()
            p.wait(timeout=10)
    assert _gone(launcher)


@pytest.mark.root
def test_the_primer_lives_its_deadline_at_most(launcher):
    """A runtime that never closes its connection (stuck, or slow to attach) does not keep
    the primer writing: it goes after DEADLINE_MS (100 ms as installed), as before it was
    shared."""
    p = _waiting(launcher)
    try:
        _ids(p)
        assert _gone(launcher, seconds=DEADLINE_MS / 1000 + 2)
        assert p.poll() is None                     # while the runtime still holds it
    finally:
        p.stdin.close()
        p.wait(timeout=10)


PAUSE_MS, PAUSED_DEADLINE_MS = 3000, 10000


@pytest.mark.root
def test_the_primer_goes_with_its_own_launcher_when_another_connects_before_it(tmp_path_factory):
    """Another launcher can connect between a launcher's listen and its own connect, so its
    connection is the primer's first: the primer still goes when its own launcher's runtime
    closes (told by the peer's pid), not at its deadline. Built to pause PAUSE_MS in that
    window (long: a's start may be slow on a loaded machine, and ours must connect within
    it), with a deadline long enough to tell the two apart."""
    exe, name = _build(tmp_path_factory, deadline_ms=PAUSED_DEADLINE_MS, LISTEN_PAUSE_MS=PAUSE_MS)
    t0 = time.monotonic()
    a = _waiting(exe)
    other = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        while other.connect_ex("\0" + name) != 0:      # once a listens
            assert time.monotonic() - t0 < PAUSE_MS / 1000 / 2, "a never listened"
            time.sleep(0.002)
        # a listened after t0 and connects PAUSE_MS after listening: ours came first
        assert time.monotonic() - t0 < PAUSE_MS / 1000
        pid, peer = _ids(a)
        assert peer == pid                              # a started the primer we joined
        a.stdin.close()
        # its deadline is PAUSED_DEADLINE_MS after a's connect (t0 + PAUSE_MS at the earliest)
        assert _gone(exe, seconds=3.0)                  # while our connection is open
        assert other.recv(1) == b""                     # the primer closed it as it went
    finally:
        other.close()
        if not a.stdin.closed:
            a.stdin.close()
        a.wait(timeout=10)
    assert _gone(exe)
