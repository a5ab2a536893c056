"""A slow reader on a container's attach socket: every byte, in order, and a session that goes on.

The monitor (csrc/monitor.c and its twin pycontainer/monitor.py) relays the program's output
to each attached client (``attach``, ``run -it``, ``start -ai``). A client that cannot take
a message yet (its terminal or pipe is full) holds the output back: the monitor stops
reading the program's pipe until the client has room, so the program blocks in write(2), as
under ``docker attach``. It used to drop such a client: the client saw the end of its
output, took that for the program's exit and waited for a status while the program ran on;
``run -it`` of a shell froze after a long ``seq`` on a slow terminal, its input never
reaching the shell again. After the program has exited, a client that has read nothing
for 10 s (or still reads after 60 s) is dropped, so a stopped reader cannot keep exit.json
from being written, and a slow one still gets the tail.

Each test runs under both monitors (PYCONTAINER_MONITOR=python picks the Python one).
"""

import contextlib
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, TICKS_UNTIL_GO, new_id, read_until

pytestmark = pytest.mark.root

MONITORS = ["c", "python"]


def _env(monitor: str) -> dict:
    return dict(os.environ, PYCONTAINER_MONITOR=monitor)


def _init(cli, name: str) -> int:
    return int(cli("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)


def applet_below(init: int, comm: str, timeout: float = 10) -> int:
    """The pid of the process named ``comm`` below ``init``: busybox's shell runs its applets
    in a fork without an exec, so only the name (comm) tells them, not the command line."""
    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for n in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{n}/comm") as f:
                    if f.read().strip() != comm:
                        continue
                up = int(n)
                while up > 1 and up != init:
                    up = parent(up)
                if up == init:
                    return int(n)
            except (OSError, ValueError):
                pass
        time.sleep(0.02)
    raise AssertionError(f"no {comm} below pid {init} after {timeout} s")


@contextlib.contextmanager
def attached_at_go(cli, monitor: str, script: str):
    """``run -d`` of TICKS_UNTIL_GO + ``script`` under ``monitor``, ``attach`` to it, and the go
    once attach follows: -> (name, attach's Popen, what it printed so far)."""
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               TICKS_UNTIL_GO + script, env=_env(monitor)).returncode == 0
    p = subprocess.Popen(cli.cmd("attach", cid), stdout=subprocess.PIPE, cwd=ROOT)
    try:
        got = read_until(p, b"tick\n")
        assert cli("exec", cid, "touch", "/go").returncode == 0
        yield cid, p, got
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def blocked_writing(pid: int, timeout: float = 20) -> None:
    """Until ``pid`` sleeps in the kernel's pipe write: its pipe is full and nobody reads it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/wchan") as f:
                if "pipe_write" in f.read():
                    return
        except FileNotFoundError:
            break
        time.sleep(0.05)
    raise AssertionError(f"{pid} never blocked writing to its pipe")


@pytest.mark.parametrize("monitor", MONITORS)
def test_attach_with_a_slow_reader_gets_every_line(cli, leakcheck, monitor):
    with attached_at_go(cli, monitor, "seq 200000; echo END") as (cid, p, got):
        # we read nothing more: our pipe fills, then attach's socket, then the program's pipe
        blocked_writing(applet_below(_init(cli, cid), "seq"))
        rest, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    lines = (got + rest).decode().splitlines()
    lines = lines[lines.index("1"):]
    assert lines == [str(i) for i in range(1, 200001)] + ["END"]
    assert cli("logs", cid).stdout.splitlines()[-1] == "END"
    assert cli("rm", cid).returncode == 0


@pytest.mark.parametrize("monitor", MONITORS)
def test_a_slow_reader_gets_the_tail_held_back_at_the_exit(cli, leakcheck, monitor):
    """The program has exited while the monitor still holds output back for a reader that
    takes nothing for 3 s (longer than the pipes' 2 s, after which it was dropped), then
    64 KiB a second, as over a slow link: it keeps its place and gets everything the log
    got, then the status."""
    with attached_at_go(cli, monitor, "seq 1000000 & sleep 1; exit 6") as (cid, p, got):
        rid, end = cli.id_of(cid), time.monotonic() + 20
        while cli.state(rid)["status"] != "stopped" and time.monotonic() < end:
            time.sleep(0.1)
        assert cli.state(rid)["status"] == "stopped"     # seq killed with it, mid-output
        time.sleep(3)                                   # the reader, stalled
        while True:
            data = os.read(p.stdout.fileno(), 65536)
            if not data:
                break
            got += data
            time.sleep(1)
        assert p.wait(timeout=30) == 6
    logged = cli("logs", cid).stdout
    assert got.decode().endswith(logged[logged.index("\n1\n"):]) and len(logged) > 100000
    assert cli("rm", cid).returncode == 0


@pytest.mark.parametrize("monitor", MONITORS)
def test_run_it_goes_on_after_more_output_than_its_terminal_took(tmp_path, cli, leakcheck, monitor):
    """docker run -it of a shell whose command writes more than the terminal reads at once:
    every line arrives, and the shell still gets what is typed next."""
    from test_tty import Term, _pyc
    cid = new_id()
    t = Term(f"PYCONTAINER_MONITOR={monitor} {_pyc(cli.root)} run -it --rm --net none "
             f"--name {cid} busybox sh; echo rc=$? > {tmp_path}/rc")
    t.read_until(b"# ")
    t.type(b"seq 100000; echo EN''D\r")
    seq = applet_below(_init(cli, cid), "seq")
    end = time.monotonic() + 20          # we read nothing until seq waits for the terminal
    while time.monotonic() < end:
        try:
            with open(f"/proc/{seq}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "S":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    t.read_until(b"END\r\n", timeout=60)
    numbers = [ln for ln in t.buf.split(b"\r\n") if ln.isdigit()]
    assert numbers == [b"%d" % i for i in range(1, 100001)]
    t.type(b"echo alive-$((6*7)); exit 7\r")
    t.read_until(b"alive-42")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=7"


@pytest.mark.parametrize("monitor", MONITORS)
def test_a_stopped_reader_does_not_keep_the_status_once_the_program_is_killed(cli, leakcheck,
                                                                            monitor):
    """A SIGSTOPped `attach` holds the program's output back (docker's too) until the program
    is stopped; then it is dropped 10 s after the exit and `wait` has the status."""
    with attached_at_go(cli, monitor, "seq 1000000") as (cid, p, _):
        os.kill(p.pid, signal.SIGSTOP)
        blocked_writing(applet_below(_init(cli, cid), "seq"))
        t0 = time.monotonic()
        assert cli("stop", "-t", "1", cid).returncode == 0
        w = cli("wait", cid, timeout=30)
        assert (w.returncode, w.stdout.strip()) == (0, "137")
        assert time.monotonic() - t0 < 25     # stop's 1 s, then 10 s without a read
        logged = cli("logs", cid).stdout.splitlines()
        logged = logged[logged.index("1"):]
        n = len(logged)                 # no gap; the kill may have cut the last line short
        assert logged[:-1] == [str(i) for i in range(1, n)] and str(n).startswith(logged[-1])
    assert cli("rm", cid).returncode == 0
