"""cgroups.attachlock: the priming write is safe (no membership change, errors ignored).

No timing is asserted here (issue 18: benchmarks only): what the priming saves
is measured by bench/breakdown.py.
"""

import os

import pytest

from pycontainer.cgroups import attachlock


def _files(tmp_path, cgroup: str, mountinfo: str):
    (tmp_path / "cgroup").write_text(cgroup)
    (tmp_path / "mountinfo").write_text(mountinfo)
    return str(tmp_path / "cgroup"), str(tmp_path / "mountinfo")


def _hier(tmp_path, name: str, path: str) -> str:
    d = tmp_path / name / path.strip("/")
    d.mkdir(parents=True, exist_ok=True)
    (d / "cgroup.procs").write_text("")
    return str(tmp_path / name)


def test_target_prefers_cgroup2_then_named_hierarchy(tmp_path):
    uni = _hier(tmp_path, "unified", "/user/x")
    syd = _hier(tmp_path, "systemd", "/")
    mem = _hier(tmp_path, "memory", "/m")
    cg, mi = _files(tmp_path, "9:name=systemd:/\n4:memory:/m\n0::/user/x\n",
                    f"40 31 0:37 / {syd} rw,relatime - cgroup cgroup rw,name=systemd\n"
                    f"35 31 0:32 / {mem} rw,relatime - cgroup cgroup rw,memory\n"
                    f"41 31 0:38 / {uni} rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n")
    assert attachlock.target(cg, mi) == f"{uni}/user/x/cgroup.procs"
    # without the cgroup2 mount (the benchmark's namespace): the hierarchy without controllers
    cg, mi = _files(tmp_path, "9:name=systemd:/\n4:memory:/m\n0::/user/x\n",
                    f"35 31 0:32 / {mem} rw,relatime - cgroup cgroup rw,memory\n"
                    f"40 31 0:37 / {syd} rw,relatime - cgroup cgroup rw,name=systemd\n")
    assert attachlock.target(cg, mi) == f"{syd}/cgroup.procs"
    cg, mi = _files(tmp_path, "4:memory:/m\n", f"35 31 0:32 / {mem} rw,relatime - cgroup cgroup rw,memory\n")
    assert attachlock.target(cg, mi) == f"{mem}/m/cgroup.procs"


def test_target_mount_root_and_co_mounted_controllers(tmp_path):
    cpu = _hier(tmp_path, "cpu", "/b")
    cg, mi = _files(tmp_path, "2:cpuacct,cpu:/a/b\n",
                    f"33 31 0:30 /a {cpu} rw - cgroup cgroup rw,cpu,cpuacct\n")
    assert attachlock.target(cg, mi) == f"{cpu}/b/cgroup.procs"


def test_target_none_when_nothing_fits(tmp_path):
    uni = _hier(tmp_path, "unified", "/")
    # no cgroup mount at all; a path outside our cgroup namespace; a missing file
    assert attachlock.target(*_files(tmp_path, "0::/\n", "22 1 0:21 / /proc rw - proc proc rw\n")) is None
    assert attachlock.target(*_files(tmp_path, "0::/../x\n", f"41 31 0:38 / {uni} rw - cgroup2 cgroup2 rw\n")) is None
    assert attachlock.target(str(tmp_path / "nope"), str(tmp_path / "nope")) is None
    # favordynmods: writers never wait a grace period, there is nothing to prime
    assert attachlock.target(*_files(tmp_path, "0::/\n",
                                     f"41 31 0:38 / {uni} rw - cgroup2 cgroup2 rw,favordynmods\n")) is None


def test_primer_writes_own_pid_and_stops(tmp_path):
    f = tmp_path / "cgroup.procs"
    f.write_text("")
    p = attachlock.start(path=str(f), deadline=5.0)
    try:
        assert attachlock.start(path=str(f)) is p          # one primer per process
    finally:
        attachlock.finish()
    p.stop(wait=True)
    assert p.writes >= 1 and p.error is None
    assert f.read_text() == str(os.getpid())             # its own pid, nothing else
    n = p.writes
    p.stop(wait=True)                                     # idempotent; the thread has ended
    assert p.writes == n
    attachlock.finish()                                   # no primer: a no-op


def test_errors_are_ignored(tmp_path):
    p = attachlock.start(path=str(tmp_path / "missing" / "cgroup.procs"))
    p.stop(wait=True)
    assert p.writes == 0 and isinstance(p.error, OSError)
    attachlock.finish()
    d = tmp_path / "dir"
    d.mkdir()
    p = attachlock.start(path=str(d))                     # EISDIR on open: quietly nothing
    p.stop(wait=True)
    assert isinstance(p.error, OSError)
    attachlock.finish()


def test_a_forked_child_does_not_stop_the_parents_primer(tmp_path):
    f = tmp_path / "cgroup.procs"
    f.write_text("")
    p = attachlock.start(path=str(f), deadline=5.0)
    pid = os.fork()
    if pid == 0:
        attachlock.finish()                               # the child's copy: must not touch it
        os._exit(0 if p.stopped.locked() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert p.stopped.locked()                             # still running in the parent
    attachlock.finish()
    p.stop(wait=True)


@pytest.mark.root
def test_real_priming_changes_no_membership():
    """On this host's cgroupfs: the no-op write leaves /proc/self/cgroup as it was."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    path = attachlock.target()
    if path is None:
        pytest.skip("no writable cgroup hierarchy here")
    before = open("/proc/self/cgroup").read()
    p = attachlock.start(path=path)
    p.stop(wait=True)
    attachlock.finish()
    assert p.writes >= 1, p.error
    assert open("/proc/self/cgroup").read() == before
    assert str(os.getpid()) in open(path).read().split()


def test_a_move_by_someone_else_stops_the_priming(tmp_path, monkeypatch):
    """Were the runtime moved to another cgroup meanwhile, the next write would move it
    back: the thread compares /proc/self/cgroup before each write and stops instead."""
    own = tmp_path / "self-cgroup"
    own.write_text("0::/a\n")
    monkeypatch.setattr(attachlock, "PROC_CGROUP", str(own))
    f = tmp_path / "cgroup.procs"
    f.write_text("")
    p = attachlock.start(path=str(f), deadline=30.0)
    try:
        while p.writes == 0 and p.done.locked():
            p.done.acquire(True, 0.01) and p.done.release()
        own.write_text("0::/b\n")                           # "moved" by someone else
        p.done.acquire(True, 30.0)                           # the thread ends by itself
        p.done.release()
        assert isinstance(p.error, ProcessLookupError)
    finally:
        attachlock.finish()


def _open_in_a_child(fd: int) -> bool:
    """Whether a child forked now still has ``fd`` open after drop_inherited()."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            attachlock.drop_inherited()
            os.write(w, b"open" if os.path.exists(f"/proc/self/fd/{fd}") else b"closed")
        finally:
            os._exit(0)
    os.close(w)
    answer = os.read(r, 16)
    os.waitpid(pid, 0)
    os.close(r)
    return answer == b"open"


def test_a_child_forked_while_priming_keeps_no_cgroup_procs_fd():
    """Stage 1 and exec's joiner may be forked while the thread is in its write: the child
    must not carry that host cgroupfs fd into the container (CVE-2024-21626's class)."""
    own = attachlock.target()
    if own is None:
        pytest.skip("no cgroup hierarchy mounted here")
    attachlock.start()
    fd = os.open(own, os.O_WRONLY | os.O_CLOEXEC)    # what the thread holds mid-write
    try:
        assert not _open_in_a_child(fd)
        assert os.path.exists(f"/proc/self/fd/{fd}")   # the parent's own stays
    finally:
        os.close(fd)
        attachlock.finish()


def _fd_open(fd: int) -> bool:
    return os.path.exists(f"/proc/self/fd/{fd}")


def _prepared_fd() -> int | None:
    return attachlock._prepared[0] if attachlock._prepared else None   # noqa: SLF001 - the test's window


@pytest.mark.root
def test_a_prepared_fd_is_the_first_write_and_is_closed_after():
    """An API worker opens its cgroup.procs while it waits (prepare): start() writes on that
    fd, the path is the one target() names, no membership changes, and the fd is closed
    when the thread ends."""
    path = attachlock.target()
    if path is None or os.geteuid() != 0:
        pytest.skip("no writable cgroup hierarchy here")
    before = open("/proc/self/cgroup").read()
    attachlock.prepare()
    fd = _prepared_fd()
    assert fd is not None and os.readlink(f"/proc/self/fd/{fd}").endswith("/cgroup.procs")
    p = attachlock.start()
    try:
        assert p is not None and p.path == path and attachlock._prepared is None   # noqa: SLF001
        p.stop(wait=True)
        assert p.writes >= 1, p.error
        assert not _fd_open(fd) or not os.readlink(f"/proc/self/fd/{fd}").endswith("/cgroup.procs")
    finally:
        attachlock.finish()
    assert open("/proc/self/cgroup").read() == before


def test_a_prepared_fd_is_not_used_after_a_move(tmp_path, monkeypatch):
    """Moved to another cgroup between prepare and start: the fd (of the old cgroup) is
    closed unused and the thread finds its target itself."""
    own = tmp_path / "self-cgroup"
    own.write_text("0::/a\n")
    monkeypatch.setattr(attachlock, "PROC_CGROUP", str(own))
    f = tmp_path / "cgroup.procs"
    f.write_text("")
    monkeypatch.setattr(attachlock, "target", lambda *a: str(f))
    attachlock.prepare()
    fd = _prepared_fd()
    assert fd is not None
    own.write_text("0::/b\n")                                  # "moved" by someone else
    other = tmp_path / "other.procs"
    other.write_text("")
    monkeypatch.setattr(attachlock, "target", lambda *a: str(other))
    p = attachlock.start()
    try:
        p.stop(wait=True)
        assert not _fd_open(fd) or os.readlink(f"/proc/self/fd/{fd}") != str(f)
        assert f.read_text() == "" and p.path == str(other)   # the thread looked for its own
    finally:
        attachlock.finish()


def test_unprepare_and_a_forked_child_close_the_prepared_fd(tmp_path, monkeypatch):
    """A request that attaches nothing closes it (unprepare); a child forked before any
    thread took it (drop_inherited) closes its copy, the parent keeps its own."""
    f = tmp_path / "cgroup.procs"
    f.write_text("")
    monkeypatch.setattr(attachlock, "target", lambda *a: str(f))
    attachlock.prepare()
    fd = _prepared_fd()
    assert not _open_in_a_child(fd)
    assert _fd_open(fd) and os.readlink(f"/proc/self/fd/{fd}") == str(f)
    attachlock.unprepare()
    assert attachlock._prepared is None and not (_fd_open(fd) and   # noqa: SLF001
                                                 os.readlink(f"/proc/self/fd/{fd}") == str(f))
