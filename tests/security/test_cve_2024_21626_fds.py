"""S02 ★ CVE-2024-21626 (Leaky Vessels) and the fd classes (S02b, S02c, S24).

Every test hands the runtime a *leaked* host directory fd (an inheritable
O_DIRECTORY fd of a decoy dir under the test's tmp dir), the way runc 1.1.11
leaked /sys/fs/cgroup into ``runc init``: only stdio and preserved fds may
reach the container, and a cwd of /proc/self/fd/N must never land outside
the root.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, new_id, status_of_program

pytestmark = pytest.mark.root


@pytest.fixture
def leaked_dir(tmp_path):
    decoy = tmp_path / "host-decoy"
    decoy.mkdir()
    (decoy / "host-secret").write_text("host\n")
    fd = os.open(decoy, os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(fd, True)
    yield fd, decoy
    os.close(fd)


def _run(cli, *args, fds=()):
    """The CLI with extra inherited fds; output through files (a created init keeps them open)."""
    import tempfile
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        r = subprocess.run(cli.cmd(*args), stdout=out, stderr=err, text=True, pass_fds=fds,
                           timeout=60, stdin=subprocess.DEVNULL, cwd=ROOT)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(r.args, r.returncode, out.read(), err.read())


def test_CVE_2024_21626_cwd_proc_self_fd_N_never_reaches_the_host(cli, bundle, leaked_dir, leakcheck):
    """process.cwd = /proc/self/fd/N for N = 3..40: refused ("cwd"), or a listing of the
    container's own root; never the host's (the decoy's entries never appear)."""
    fd, decoy = leaked_dir
    root_listing = sorted(os.listdir(bundle.rootfs))
    for n in range(3, 41):
        bundle.config["process"]["cwd"] = f"/proc/self/fd/{n}"
        bundle.args("sh", "-c", "ls -a . ; ls ../../../ ; touch ./written-from-container")
        p = _run(cli, "run", "-b", bundle.path, new_id(), fds=(fd,))
        assert "host-secret" not in p.stdout, (n, p.stdout)
        if p.returncode != 0:
            assert "cwd" in p.stderr, (n, p.stderr)
        else:
            assert sorted(p.stdout.split()) != [] and set(p.stdout.split()) <= set(root_listing) | {".", ".."}
    assert sorted(os.listdir(decoy)) == ["host-secret"]


def test_CVE_2024_21626_created_init_holds_no_host_fd(cli, bundle, leaked_dir, leakcheck):
    """S02b: at the create barrier the init's fds are stdio, sockets and the sealed dmz;
    after start the program has 0, 1, 2 only."""
    fd, _ = leaked_dir
    bundle.args("sleep", "30")
    cid = new_id()
    cli.created.append(cid)
    p = _run(cli, "create", "--bundle", bundle.path, cid, fds=(fd,))
    assert p.returncode == 0, p.stderr
    init = cli.state(cid)["pid"]
    fds = {int(n): os.readlink(f"/proc/{init}/fd/{n}") for n in os.listdir(f"/proc/{init}/fd")}
    for n, target in fds.items():
        if n > 2:
            assert target.startswith(("socket:", "anon_inode:", "pipe:", "/memfd:pycontainer-dmz")), fds
    assert _run(cli, "start", cid).returncode == 0
    status_of_program(init, "sleep")        # start returns before the init closes them and execs
    assert sorted(int(n) for n in os.listdir(f"/proc/{init}/fd")) == [0, 1, 2]
    cli("delete", "--force", cid)


def test_CVE_2024_21626_exec_cwd_and_fds(cli, bundle, leaked_dir, leakcheck):
    """exec: the leaked fd is not in the new process, and --cwd /proc/self/fd/N is refused."""
    fd, decoy = leaked_dir
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    p = _run(cli, "exec", cid, "ls", "/proc/self/fd", fds=(fd,))
    assert p.returncode == 0 and p.stdout.split() == ["0", "1", "2", "3"], p.stdout   # 3: ls's dir
    for n in (3, 4, 5, 6, 7, 8, fd):
        p = _run(cli, "exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c", "ls ../../..; touch w",
                 fds=(fd,))
        assert "host-secret" not in p.stdout
        assert p.returncode != 0 and "cwd" in p.stderr, (n, p.stdout, p.stderr)
    assert sorted(os.listdir(decoy)) == ["host-secret"]
    cli("delete", "--force", cid)


def test_CVE_2024_21626_symlinked_cwd_to_proc_self_fd(cli, bundle, leaked_dir, leakcheck):
    """Attack 2: the image makes the cwd path a symlink to /proc/self/fd/N."""
    fd, decoy = leaked_dir
    os.symlink(f"/proc/self/fd/{fd}", os.path.join(bundle.rootfs, "work"))
    bundle.config["process"]["cwd"] = "/work"
    bundle.args("sh", "-c", "ls ../../..; touch w")
    p = _run(cli, "run", "-b", bundle.path, new_id(), fds=(fd,))
    assert "host-secret" not in p.stdout
    assert p.returncode != 0 and "cwd" in p.stderr, (p.stdout, p.stderr)
    assert sorted(os.listdir(decoy)) == ["host-secret"]


def test_S02c_the_runtime_leaks_no_fd_of_its_own(cli, bundle, tmp_path, leakcheck):
    """runc's TestFdLeaks: the library runs a container twice; the caller's fd table is
    the same afterwards (first run warms caches, the second must add nothing)."""
    bundle.args("true")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {ROOT!r})
        from pycontainer.container import Runtime
        rt = Runtime({cli.root!r})
        rt.run("leak-a", {bundle.path!r})
        before = sorted(os.listdir("/proc/self/fd"))
        rt.run("leak-b", {bundle.path!r})
        after = sorted(os.listdir("/proc/self/fd"))
        print(before == after, before, after)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.stdout.startswith("True"), (p.stdout, p.stderr)


def test_S24_preserve_fds_passes_exactly_those(cli, bundle, tmp_path, leakcheck):
    """--preserve-fds 2: fds 3 and 4 reach the program, the leaked fd above them does not."""
    r3, w3 = os.pipe()
    r4, w4 = os.pipe()
    extra = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        bundle.args("sh", "-c", "for f in 3 4 5 6 7; do [ -e /proc/self/fd/$f ] && echo $f; done; true")
        script = textwrap.dedent(f"""
            import os, subprocess, sys
            os.dup2({r3}, 3); os.dup2({r4}, 4); os.dup2({extra}, 5)
            sys.exit(subprocess.run({cli.cmd("run", "--preserve-fds", "2", "-b", bundle.path, new_id())!r},
                                    pass_fds=(3, 4, 5)).returncode)
        """)
        p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           pass_fds=(r3, r4, extra), stdin=subprocess.DEVNULL, cwd=ROOT)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["3", "4"], p.stdout
    finally:
        for x in (r3, w3, r4, w4, extra):
            os.close(x)
