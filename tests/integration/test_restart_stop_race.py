"""--restart against a user's ``stop`` or ``rm -f`` that lands while the monitor restarts.

The monitor's ``after_exit`` (lifecycle.py) checks the stopped-by-user mark, then starts
the container again. A stop that wrote its mark after that check, but before the new run
existed, saw "stopped", returned 0 at once, and had its mark erased by the restart's
start: the container kept restarting. Here the restart path is held inside that window,
deterministically: a poststop hook, which the restart's ``delete`` of the old run runs,
reads a FIFO that the test holds open. The stop (or rm -f) is run meanwhile; the hook is let
go once that command has finished or waits on a lock of the container's. And a stop during
the restart's backoff ("restarting") is "exited" at once, and the restart does not come.
"""

import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import new_id
from dockerleak import CDIR, dleak  # noqa: F401 - the fixture
from pycontainer import containerdir

pytestmark = pytest.mark.root


def _until(cond, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _status_pid(cli, name: str) -> tuple[str, int]:
    out = cli("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", name).stdout.split()
    return (out[0], int(out[1])) if len(out) == 2 else ("", 0)


def _running_pid(cli, name: str, other: int = 0) -> int:
    """The init's pid while the container runs (and it is not ``other``), else 0."""
    status, pid = _status_pid(cli, name)
    return pid if status == "running" and pid != other else 0


def _add_hold_hook(cdir: str, fifo: str) -> None:
    """A poststop hook that blocks while ``fifo`` exists and nobody closed its write end."""
    path = os.path.join(cdir, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    hold = f"[ -p {fifo} ] && timeout 60 cat {fifo}; exit 0"      # bounded even if we die
    hook = {"path": "/bin/sh", "args": ["sh", "-c", hold], "timeout": 90}
    cfg.setdefault("hooks", {}).setdefault("poststop", []).append(hook)
    with open(path, "w") as f:
        json.dump(cfg, f)


def _waits_on_lock_of(paths: list[str]) -> bool:
    """Some process waits (``->`` in /proc/locks) for a lock on one of ``paths``."""
    inodes = set()
    for p in paths:
        for q in [p] + ([os.path.join(p, n) for n in os.listdir(p)] if os.path.isdir(p) else []):
            try:
                inodes.add(os.stat(q).st_ino)
            except OSError:
                pass
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields and any(x.count(":") == 2 and int(x.rsplit(":", 1)[1]) in inodes
                                      for x in fields):
                return True
    return False


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _open_writer(fifo: str):
    """The FIFO's write end once a reader has it open (the hook), else None."""
    try:
        return os.fdopen(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb")   # ENXIO: no reader
    except OSError:
        return None


def _in_restart_window(cli, tmp_path, verb: list[str]):
    """Run an ``always`` container, hold its monitor's restart inside the window, run
    ``pycontainer VERB... NAME`` there, then let the restart go on. -> (the container's name,
    its ID, the command's exit status, its stderr)."""
    name = new_id()
    p = cli("run", "-d", "--net", "none", "--name", name, "--restart", "always", "busybox",
            "sh", "-c", "echo up; exec sleep 60")
    assert p.returncode == 0, p.stderr
    full = p.stdout.strip()
    cdir = os.path.join(CDIR, full)
    fifo = str(tmp_path / "hold")
    _add_hold_hook(cdir, fifo)
    # a first restart, so that the next run's state has the hook (it is read at create)
    pid = _until(lambda: _running_pid(cli, name), "the first run")
    os.kill(pid, signal.SIGKILL)
    pid = _until(lambda: _running_pid(cli, name, other=pid), "the first restart")
    monitor = containerdir.monitor_pid(cdir)
    assert monitor
    os.mkfifo(fifo)
    try:
        os.kill(pid, signal.SIGKILL)
        # the hook opened the FIFO: the restart decided to restart and is deleting the old run
        w = _until(lambda: _open_writer(fifo), "the restart to reach its poststop hook")
    finally:
        os.unlink(fifo)                 # the hooks of later deletes (rm -f) do not wait
    locks = [cdir, os.path.join(cli.root, full)]
    with tempfile.TemporaryFile("w+") as err:
        cmd = None
        try:
            cmd = subprocess.Popen(cli.cmd(*verb, name), stdout=subprocess.DEVNULL, stderr=err)
            _until(lambda: cmd.poll() is not None or _waits_on_lock_of(locks),
                   f"{verb[0]} to finish or wait for a lock")
        finally:
            w.close()                                   # the restart goes on
            _until(lambda: not _alive(monitor), "the restarting monitor to finish", 60)
            if cmd is not None:
                try:
                    cmd.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    cmd.kill()
                    cmd.wait()
        err.seek(0)
        return name, full, cmd.returncode, err.read()


def test_stop_during_a_restart_is_not_undone_by_it(cli, dleak, tmp_path):
    name, full, rc, err = _in_restart_window(cli, tmp_path, ["stop", "-t", "1"])
    try:
        assert rc == 0, err
        cdir = os.path.join(CDIR, full)
        # stop has returned: the container is stopped and nothing runs that could restart it
        assert _status_pid(cli, name)[0] == "exited"
        assert containerdir.monitor_pid(cdir) == 0
        assert os.path.exists(os.path.join(cdir, "stopped-by-user"))
        n = cli("logs", name).stdout.count("up")
        time.sleep(0.5)                                 # a guard: it cannot flake, only miss
        assert cli("logs", name).stdout.count("up") == n
        # a user's start clears the mark: the policy applies again
        assert cli("start", name).returncode == 0
        assert not os.path.exists(os.path.join(cdir, "stopped-by-user"))
    finally:
        cli("rm", "-f", name)


def _processes_naming(full: str) -> list[str]:
    out = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if full.encode() in f.read():
                    out.append(p)
        except OSError:
            pass
    return out


def test_rm_f_during_a_restart_removes_it_for_good(cli, dleak, tmp_path):
    name, full, rc, err = _in_restart_window(cli, tmp_path, ["rm", "-f"])
    try:
        assert rc == 0, err
        assert name not in cli("ps", "-a", "--format", "{{.Names}}").stdout
        assert not os.path.exists(os.path.join(CDIR, full))
        # the killed run's monitor goes at once; a new run's would stay (its sleep 60)
        _until(lambda: not _processes_naming(full), "no process of the container", 20)
    finally:
        cli("rm", "-f", name)


def test_stop_during_the_backoff_ends_it_at_once(cli, dleak):
    # docker: a container waiting out its restart backoff ("restarting") that a user stops
    # is exited when stop returns, and its restart does not come
    name = new_id()
    p = cli("run", "-d", "--net", "none", "--name", name, "--restart", "always", "busybox",
            "sh", "-c", "echo up; exec sleep 60")
    assert p.returncode == 0, p.stderr
    cdir = os.path.join(CDIR, p.stdout.strip())
    try:
        pid = _until(lambda: _running_pid(cli, name), "the first run")
        with open(os.path.join(cdir, "restart.json"), "w") as f:
            json.dump({"count": 0, "delay": 3.0}, f)            # a backoff long enough to stop in
        monitor = containerdir.monitor_pid(cdir)
        os.kill(pid, signal.SIGKILL)
        _until(lambda: _status_pid(cli, name)[0] == "restarting", "the backoff")
        assert cli("stop", name).returncode == 0
        assert _status_pid(cli, name)[0] == "exited"
        _until(lambda: not _alive(monitor), "the backoff to end", 60)
        assert _status_pid(cli, name)[0] == "exited"
        assert cli("logs", name).stdout.count("up") == 1
        assert cli("inspect", "-f", "{{.RestartCount}}", name).stdout.strip() == "0"
    finally:
        cli("rm", "-f", name)
