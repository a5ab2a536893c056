"""The pycontainer command in C (csrc/launcher.c): it passes argv on unchanged, and for the
verbs that attach a process it starts the cgroup-attach priming first (a grandchild that
writes its own pid to its own cgroup.procs, a no-op move), or joins the one already
running, and names the connection that stops it in PYCONTAINER_PRIMER_FD. Built here with
gcc as .ci/install.sh builds it, with an abstract address of its own (PRIMER_NAME), so that
it never joins the primer of an installed pycontainer."""

import os
import shutil
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
    sys.stdin.readline()                # holds the connection until the test says
"""


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    d = tmp_path_factory.mktemp("launcher")
    script = d / "script.py"
    script.write_text(SCRIPT % open("/proc/self/cgroup").read())
    exe = d / "pycontainer"
    subprocess.run(["gcc", "-O2", f'-DPYTHON="{sys.executable}"', f'-DSCRIPT="{script}"',
                    f'-DPRIMER_NAME="pycontainer-test/{os.getpid()}/{d.name}"', "-o",
                    str(exe), os.path.join(HERE, "csrc", "launcher.c")], check=True)
    return str(exe)


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


@pytest.mark.root
def test_the_primer_moves_nothing_and_goes_when_the_pipe_closes(launcher):
    out = _run(launcher, "run", "x")             # the script exits: the pipe's end closes
    assert out.endswith("True True True")        # our cgroups unchanged, as the primer's
    deadline = time.monotonic() + 2
    while _primers(launcher) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _primers(launcher) == []


def _gone(launcher, seconds=2.0) -> bool:
    deadline = time.monotonic() + seconds
    while _primers(launcher) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _primers(launcher) == []


@pytest.mark.root
def test_runtimes_at_once_share_one_primer_and_it_goes_when_they_close(launcher):
    """The second launcher joins the first one's primer (no second double fork); the
    primer writes on while either holds its connection, and goes once both are closed."""
    procs = []
    try:
        for _ in range(2):
            p = subprocess.Popen([launcher, "run", "wait"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip().endswith("True True True")
        assert len(_primers(launcher)) == 1
        procs[0].stdin.close()
        procs[0].wait(timeout=10)
        assert len(_primers(launcher)) == 1        # the second still holds its connection
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=10)
    assert _gone(launcher)


@pytest.mark.root
def test_the_primer_serves_a_connection_100_ms_at_most(launcher):
    """A runtime that never closes its connection (stuck, or a long wait before its
    attach) does not keep the primer writing: it goes after 100 ms."""
    p = subprocess.Popen([launcher, "run", "wait"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip().endswith("True True True")
        assert _gone(launcher, seconds=1.0)
        assert p.poll() is None                     # while the runtime still holds it
    finally:
        p.stdin.close()
        p.wait(timeout=10)
