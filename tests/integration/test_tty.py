"""Terminals for people: ``run -it`` and ``exec -it`` driven through a real pty.

Each test runs ``pycontainer`` as the session leader of a new pty (pty.fork,
as a terminal emulator would) and types into the master: the shell in the
container must see a tty of the user's size, follow a resize, turn Ctrl-C
into SIGINT for its foreground job (not for pycontainer), hand back the
exit status, and leave the user's terminal exactly as it found it.
"""

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from conftest import ROOT, descendant_running, new_id

pytestmark = pytest.mark.root


class Term:
    """A pty whose slave side runs ``sh -c SCRIPT``; we type into the master."""

    def __init__(self, script: str, rows=30, cols=100):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.chdir(ROOT)
                os.execv("/bin/sh", ["sh", "-c", script])
            finally:
                os._exit(127)
        self.buf = b""

    def read_until(self, want: bytes, timeout=15) -> bytes:
        end = time.monotonic() + timeout
        while want not in self.buf and time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.buf += data
        assert want in self.buf, f"{want!r} not seen in {self.buf!r}"
        return self.buf

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def raw(self, timeout=15) -> None:
        """Wait until pycontainer has put our terminal in raw mode: keys typed before that
        meet the line discipline (^Q is flow control there), not the container."""
        end = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ICANON and time.monotonic() < end:
            time.sleep(0.02)
        assert not termios.tcgetattr(self.fd)[3] & termios.ICANON, "the terminal never went raw"

    def resize(self, rows, cols) -> None:
        # On the master: the kernel sends SIGWINCH to the foreground group (pycontainer).
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def size_seen(self, rows, cols, timeout=15) -> None:
        """``stty size`` in the container until it says rows x cols: the resize goes on from
        pycontainer's SIGWINCH to the container's pty in its own time."""
        want, end = b"%d %d" % (rows, cols), time.monotonic() + timeout
        while want not in self.buf and time.monotonic() < end:
            self.type(b"stty size\r")
            try:
                self.read_until(want, timeout=1)
            except AssertionError:
                pass
        assert want in self.buf, f"{want!r} not seen in {self.buf!r}"

    def ctrl_c_to_the_job(self, init: int, job: list[str]) -> None:
        """^C once the shell below ``init`` runs ``job``: busybox's line editor reads with ISIG
        off, so a ^C before the shell has read the line is a literal byte, not a SIGINT."""
        descendant_running(init, job)
        self.type(b"\x03")

    def wait(self, timeout=20) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    self.buf += os.read(self.fd, 4096)
            except OSError:
                pass
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(st)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"pycontainer did not exit; output {self.buf!r}")


def _pyc(root: str) -> str:
    return f"{sys.executable} -m pycontainer --root {root}"


def _init(cli, name: str) -> int:
    return int(cli("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)


def test_run_it_shell_size_resize_ctrl_c_exit_code_and_restore(tmp_path, leakcheck, cli):
    cid = new_id()
    script = (f"stty -g > {tmp_path}/before; {_pyc(cli.root)} run -it --rm --net none --name {cid} "
              f"busybox sh; echo rc=$? > {tmp_path}/rc; stty -g > {tmp_path}/after")
    t = Term(script, rows=30, cols=100)
    t.read_until(b"# ")
    t.type(b"tty; stty size\r")
    t.read_until(b"30 100")
    assert b"/dev/pts/0" in t.buf
    t.resize(50, 132)
    t.size_seen(50, 132)
    # Ctrl-C kills the foreground job inside (SIGINT from the container's pty),
    # not the shell and not pycontainer.
    t.type(b"sleep 30; echo sl''ept\r")
    t.ctrl_c_to_the_job(_init(cli, cid), ["sleep", "30"])
    t0 = time.monotonic()
    t.type(b"echo after-$((6*7))\r")
    t.read_until(b"after-42")
    assert time.monotonic() - t0 < 10 and b"slept" not in t.buf
    t.type(b"exit 5\r")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=5"
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text(), \
        "the terminal was not restored"


def test_exec_it_gives_a_shell_in_the_running_container(tmp_path, leakcheck, cli):
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "busybox", "sleep", "60").returncode == 0
    script = (f"stty -g > {tmp_path}/before; {_pyc(cli.root)} exec -it -e X=1 -w /tmp {cid} sh; "
              f"echo rc=$? > {tmp_path}/rc; stty -g > {tmp_path}/after")
    t = Term(script, rows=24, cols=90)
    t.read_until(b"# ")
    t.type(b"tty; stty size; pwd; echo X=$X; ps -o pid,comm\r")
    t.read_until(b"X=1")
    t.read_until(b"sleep")
    assert b"24 90" in t.buf and b"/tmp" in t.buf
    t.type(b"exit 4\r")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=4"
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    # The container goes on running after the exec'd shell left.
    assert cli.state(cli.id_of(cid))["status"] == "running"
    assert cli("rm", "-f", cid).returncode == 0


def test_run_t_without_i_ignores_stdin_returns_status_and_keeps_the_log(tmp_path, leakcheck, cli):
    cid = new_id()
    script = (f"{_pyc(cli.root)} run -t --net none --name {cid} busybox sh -c 'tty; echo fg-$((6*7)); "
              f"exit 3'; echo rc=$? > {tmp_path}/rc")
    t = Term(script)
    t.read_until(b"fg-42")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=3"
    # docker logs a foreground -t container's terminal too (one stream: stdout)
    logs = cli("logs", cid)
    assert logs.stdout.split() == ["/dev/pts/0", "fg-42"] and logs.stderr == ""
    assert cli("rm", cid).returncode == 0


def test_run_dt_keeps_the_tty_output_in_the_log(cli, leakcheck):
    cid = new_id()
    p = cli("run", "-d", "-t", "--net", "none", "--name", cid, "busybox", "sh", "-c", "tty; echo hi")
    assert p.returncode == 0, p.stderr
    assert cli("wait", cid).stdout.strip() == "0"
    out = cli("logs", cid).stdout
    assert "/dev/pts/0" in out and "hi" in out
    assert cli("rm", cid).returncode == 0


def test_exec_t_needs_a_running_container(cli, leakcheck):
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "true").returncode == 0
    p = subprocess.run(cli.cmd("exec", "-t", cid, "sh"), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert p.returncode != 0 and "stopped" in p.stderr
    assert cli("rm", cid).returncode == 0


def test_it_without_a_terminal_on_stdin_is_refused_as_docker_does(cli, leakcheck):
    # docker/cli's CheckTty: `run -it` and `exec -it` with stdin not a terminal (a pipe, a
    # script, CI): "the input device is not a TTY", status 1, nothing made; -t alone (no
    # stdin) and -i alone (a pipe) still work
    name = new_id()
    p = subprocess.run(cli.cmd("run", "--rm", "-it", "--net", "none", "--name", name, "busybox", "true"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert p.returncode == 1 and p.stderr.startswith("pycontainer: the input device is not a TTY")
    assert len(p.stderr.splitlines()) == 1 and cli.dirs_named(name) == []
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "busybox", "sleep", "60").returncode == 0
    try:
        p = subprocess.run(cli.cmd("exec", "-it", cid, "true"), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert p.returncode == 1 and "the input device is not a TTY" in p.stderr, p.stderr
        p = subprocess.run(cli.cmd("exec", "-t", cid, "tty"), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert p.returncode == 0 and p.stdout.startswith("/dev/pts/"), p.stderr
        p = subprocess.run(cli.cmd("exec", "-i", cid, "cat"), input="piped\n",
                           capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert (p.returncode, p.stdout) == (0, "piped\n")
    finally:
        cli("rm", "-f", cid)


def test_run_dit_then_attach_gives_the_shell_with_our_size(tmp_path, leakcheck, cli):
    cid = new_id()
    p = cli("run", "-dit", "--net", "none", "--name", cid, "busybox", "sh")
    assert p.returncode == 0, p.stderr
    script = (f"stty -g > {tmp_path}/before; {_pyc(cli.root)} attach {cid}; "
              f"echo rc=$? > {tmp_path}/rc; stty -g > {tmp_path}/after")
    t = Term(script, rows=33, cols=111)
    t.raw()
    t.type(b"stty size; tty\r")
    t.read_until(b"33 111")
    t.resize(44, 120)
    t.size_seen(44, 120)
    t.type(b"sleep 30; echo sl''ept\r")
    t.ctrl_c_to_the_job(_init(cli, cid), ["sleep", "30"])     # raw: Ctrl-C reaches the job
    t.type(b"echo x-$((6*7)); exit 4\r")
    t.read_until(b"x-42")
    assert t.wait() == 0
    assert b"slept" not in t.buf
    assert (tmp_path / "rc").read_text().strip() == "rc=4"
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    assert cli("wait", cid).stdout.strip() == "4"
    assert "x-42" in cli("logs", cid).stdout       # the tty's output is in the log too
    assert cli("rm", cid).returncode == 0


def test_attach_detaches_on_ctrl_p_ctrl_q_and_the_shell_goes_on(tmp_path, leakcheck, cli):
    cid = new_id()
    assert cli("run", "-dit", "--net", "none", "--name", cid, "busybox", "sh").returncode == 0
    # docker's keys, then --detach-keys ctrl-x,x (where Ctrl-P Ctrl-Q are ordinary keys)
    for n, (opts, typed, keys) in enumerate([("", b"", b"\x10\x11"),
                                             ("--detach-keys ctrl-x,x ", b"\x10\x11", b"\x18x")]):
        t = Term(f"{_pyc(cli.root)} attach {opts}{cid}; echo rc=$? > {tmp_path}/rc{n}")
        t.raw()
        t.type(typed + b"echo one-$((1+%d))\r" % n)
        t.read_until(b"one-%d" % (n + 1))
        t.type(keys)
        assert t.wait() == 0
        assert (tmp_path / f"rc{n}").read_text().strip() == "rc=0"
        assert cli.state(cli.id_of(cid))["status"] == "running"
    assert cli("attach", "--detach-keys", "ctrl-xx", cid).returncode == 1    # docker's: not a flag error
    t = Term(f"{_pyc(cli.root)} attach {cid}")       # and attach again
    t.raw()
    t.type(b"echo two-$((2+2)); exit 0\r")
    t.read_until(b"two-4")
    assert t.wait() == 0
    assert cli("rm", cid).returncode == 0


def test_create_it_then_start_ai_is_a_shell(tmp_path, leakcheck, cli):
    """docker create -it, then start -ai: the shell gets our keys and our size; the status is
    its exit's. Without a terminal, start -ai pipes stdin (test_porcelain)."""
    cid = new_id()
    assert cli("create", "-it", "--net", "none", "--name", cid, "busybox", "sh").returncode == 0
    t = Term(f"{_pyc(cli.root)} start -ai {cid}; echo rc=$? > {tmp_path}/rc")
    t.raw()
    t.type(b"echo in-start-$((2+3)); stty size; exit 4\r")
    t.read_until(b"in-start-5")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=4"
    assert cli("rm", cid).returncode == 0


def test_start_ai_of_an_exited_shell_is_the_shell_again(tmp_path, leakcheck, cli):
    """docker's way back into a container: run -it a shell, exit it, start -ai it later. The
    same container (its file is still there), a new shell on our terminal, its status."""
    cid = new_id()
    t = Term(f"{_pyc(cli.root)} run -it --net none --name {cid} busybox sh; echo rc=$? > {tmp_path}/rc")
    t.raw()
    t.type(b"echo kept > /kept; exit 3\r")
    assert t.wait() == 0 and (tmp_path / "rc").read_text().strip() == "rc=3"
    t = Term(f"{_pyc(cli.root)} start -ai {cid}; echo rc=$? > {tmp_path}/rc2")
    t.raw()
    t.type(b"echo again-$(cat /kept); exit 4\r")
    t.read_until(b"again-kept")
    assert t.wait() == 0 and (tmp_path / "rc2").read_text().strip() == "rc=4"
    assert cli("rm", cid).returncode == 0


def test_run_it_detaches_on_ctrl_p_ctrl_q_and_outlives_its_terminal(tmp_path, leakcheck, cli):
    """docker's run -it: the program runs under its monitor and pycontainer is a client of it,
    so Ctrl-P Ctrl-Q leaves it running, attach comes back, and a terminal that goes away
    (its pycontainer killed) leaves it running too."""
    cid = new_id()
    t = Term(f"{_pyc(cli.root)} run -it --net none --name {cid} busybox sh; echo rc=$? > {tmp_path}/rc")
    t.read_until(b"# ")
    t.type(b"echo one-$((1+1))\r")
    t.read_until(b"one-2")
    t.type(b"\x10\x11")
    assert t.wait() == 0 and (tmp_path / "rc").read_text().strip() == "rc=0"
    assert cli.state(cli.id_of(cid))["status"] == "running"
    t = Term(f"{_pyc(cli.root)} attach {cid}")
    t.raw()
    t.type(b"echo two-$((2+2))\r")
    t.read_until(b"two-4")
    os.kill(t.pid, signal.SIGKILL)               # the client dies: the container does not
    os.waitpid(t.pid, 0)
    os.close(t.fd)
    time.sleep(0.3)
    assert cli.state(cli.id_of(cid))["status"] == "running"
    t = Term(f"{_pyc(cli.root)} attach {cid}; echo rc=$? > {tmp_path}/rc2")
    t.raw()
    t.type(b"exit 5\r")
    assert t.wait() == 0 and (tmp_path / "rc2").read_text().strip() == "rc=5"
    assert cli("rm", cid).returncode == 0
