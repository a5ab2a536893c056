"""The pycontainer command in C (csrc/launcher.c): it passes argv on unchanged, and for the
verbs that attach a process it starts the cgroup-attach priming first (a grandchild that
writes its own pid to its own cgroup.procs, a no-op move) and names the pipe that stops it
in PYCONTAINER_PRIMER_FD. Built here with gcc as .ci/install.sh builds it."""

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
"""


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    d = tmp_path_factory.mktemp("launcher")
    script = d / "script.py"
    script.write_text(SCRIPT % open("/proc/self/cgroup").read())
    exe = d / "pycontainer"
    subprocess.run(["gcc", "-O2", f'-DPYTHON="{sys.executable}"', f'-DSCRIPT="{script}"', "-o",
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
