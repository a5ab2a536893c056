"""Terminals for people: ``run -it`` and ``exec -it``.

runc's protocol gives the pty *master* to whoever listens on
``--console-socket`` (the init opens the pty inside the container's devpts
and sends the master with SCM_RIGHTS, unix(7)). Engines (conmon, the
containerd shim) listen there; for a person at a terminal, stage 0 does it
itself:

1. bind a console socket in a private 0700 directory and pass it to
   create/exec, with ``process.consoleSize`` set to the user's window;
2. receive the master (one ``recvmsg``);
3. put the user's terminal in raw mode (termios(3) ``cfmakeraw``), so every
   key, Ctrl-C included, reaches the container's line discipline, which
   turns it into SIGINT for the container's foreground process group;
4. copy bytes both ways; on SIGWINCH copy the window size to the master
   (ioctl_tty(2) ``TIOCGWINSZ``/``TIOCSWINSZ``: the kernel then sends
   SIGWINCH to the container's foreground group);
5. when the program exits (a pidfd, pidfd_open(2), becomes readable) drain
   what it wrote, restore the terminal and return its exit status.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import struct
import termios

TIOCGWINSZ = termios.TIOCGWINSZ
TIOCSWINSZ = termios.TIOCSWINSZ


class ConsoleSocket:
    """A listening unix socket in a private directory; ``receive()`` -> pty master fd."""

    def __init__(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="pyc-console-")
        self.path = os.path.join(self.dir, "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive(self, timeout: float = 30) -> int:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        try:
            conn.settimeout(timeout)
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
        finally:
            conn.close()
        if not fds:
            from .errors import PyContainerError
            raise PyContainerError("console socket: no pty master received")
        os.set_inheritable(fds[0], False)
        return fds[0]

    def close(self) -> None:
        self.sock.close()
        for p in (self.path, self.dir):
            try:
                (os.unlink if p == self.path else os.rmdir)(p)
            except OSError:
                pass


def window_size(fd: int = 0) -> tuple[int, int] | None:
    """(rows, cols) of the terminal on ``fd``, or None if it is not a terminal."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def console_size() -> dict | None:
    """process.consoleSize for the user's terminal (stdin, else stdout)."""
    ws = window_size(0) or window_size(1)
    return {"height": ws[0], "width": ws[1]} if ws else None


def copy_window_size(src: int, master: int) -> None:
    try:
        fcntl.ioctl(master, TIOCSWINSZ, fcntl.ioctl(src, TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


class RawMode:
    """Context manager: the terminal on ``fd`` in raw mode, restored on exit (even on error)."""

    def __init__(self, fd: int = 0):
        self.fd = fd
        self.saved = None

    def __enter__(self):
        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            import tty
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSAFLUSH, self.saved)
        return False


def proxy(master: int, pid: int, *, stdin: bool = True, log=None) -> int:
    """Copy stdin -> master and master -> stdout until ``pid`` (our child) exits; with
    ``log`` (a containerdir.Log), the output goes into the container's json.log too.

    Returns its exit status (128+N for signal N). The caller set raw mode.
    """
    from .signals import wait_exit
    pidfd = os.pidfd_open(pid)
    in_fd = 0 if stdin else -1
    pending = b""                      # keyboard bytes not yet written to the master
    code = None
    src = 0 if os.isatty(0) else 1

    def on_winch(_n, _f):
        copy_window_size(src, master)

    def forward(n, _f):
        try:
            os.kill(pid, n)
        except ProcessLookupError:
            pass
    old = {signal.SIGWINCH: signal.signal(signal.SIGWINCH, on_winch)}
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGINT):
        old[s] = signal.signal(s, forward)
    master_open = True
    try:
        os.set_blocking(master, False)
        while True:
            rd = [pidfd] + ([master] if master_open else []) + \
                ([in_fd] if in_fd >= 0 and not pending else [])
            wr = [master] if pending and master_open else []
            r, w, _ = select.select(rd, wr, [])
            if master in r and not _copy_out(master, log):
                master_open = False    # every slave fd closed (EIO): only the exit is left
            if in_fd in r:
                try:
                    data = os.read(in_fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    in_fd = -1         # stdin closed: send EOF (Ctrl-D) once, as docker does
                    pending += b"\x04"
                else:
                    pending += data
            if master in w and pending:
                try:
                    n = os.write(master, pending)
                    pending = pending[n:]
                except BlockingIOError:
                    pass
                except OSError:
                    pending = b""
            if pidfd in r and code is None:
                code = wait_exit(pid)
                if master_open:
                    _drain(master, log)
                break
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        os.close(pidfd)
    return code if code is not None else wait_exit(pid)


def _copy_out(master: int, log=None) -> bool:
    try:
        data = os.read(master, 65536)
    except BlockingIOError:
        return True
    except OSError as exc:
        if exc.errno == errno.EIO:      # every slave fd is closed
            return False
        raise
    if not data:
        return False
    _write_all(1, data)
    if log is not None:
        log.feed("stdout", data)           # a terminal has one stream (docker logs it as stdout)
    return True


def _drain(master: int, log=None) -> None:
    """What the program wrote before it exited (the slave may stay open briefly)."""
    import time
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.05)
        if not r:
            break
        if not _copy_out(master, log):
            break


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            return
        data = data[n:]


# --- the two porcelain paths -----------------------------------------------------------

def _create_start_proxy(rt, container_id: str, bundle: str, *, stdin: bool, resize: bool,
                        log=None, **create_kw) -> int:
    """Create with our console socket, start, proxy until the init exits; its status."""
    cs = ConsoleSocket()
    master = -1
    try:
        record = rt.create(container_id, bundle, console_socket=cs.path, **create_kw)
        try:
            master = cs.receive()
            if resize:
                copy_window_size(0 if os.isatty(0) else 1, master)
            with RawMode(0) if stdin else _Nothing():
                rt.start(container_id)
                code = proxy(master, record["pid"], stdin=stdin, log=log)
        except BaseException:
            rt.delete(container_id, force=True)
            raise
    finally:
        cs.close()
        if master >= 0:
            os.close(master)
    return code


def run_foreground(rt, container_id: str, bundle: str, *, keep: bool = False, **create_kw) -> int:
    """runc's ``run`` of a ``process.terminal`` bundle without --console-socket: the pty
    is ours, stdin is proxied (raw mode when it is a terminal), the window size follows
    ours, signals go to the init; the container is deleted after unless ``keep``."""
    code = _create_start_proxy(rt, container_id, bundle, stdin=True, resize=True, **create_kw)
    if not keep:
        rt.delete(container_id, force=True)
    return code


def run(rt, container_id: str, bundle: str, *, interactive: bool, remove: bool, log_opts=None,
        **create_kw) -> int:
    """``run -t [-i]``: create with our console socket, start, proxy (into the container's
    json.log too, as docker's logs has a terminal's output), exit status."""
    from . import containerdir as cd
    log = None if (log_opts or {}).get("driver") == "none" else \
        cd.Log(os.path.join(bundle, cd.LOG), *cd.log_limits(log_opts or {}))   # --log-driver none
    try:
        code = _create_start_proxy(rt, container_id, bundle, stdin=interactive, resize=False,
                                   autoremove=remove, log=log, **create_kw)
    finally:
        if log is not None:
            log.close()
    if remove:
        rt.delete(container_id, force=True)
    else:                          # a kept container reports its status (ps -a, wait)
        from . import containerdir
        containerdir.write_exit(os.path.join(bundle, containerdir.EXIT), code, False)
    return code


def exec_(rt, container_id: str, process: dict, *, interactive: bool, sub_cgroups=()) -> int:
    """``exec -t [-i]``: the one exec entry point (``Runtime.exec_start``) with our console socket."""
    process = dict(process, terminal=True)
    size = console_size()
    if size:
        process["consoleSize"] = size
    cs = ConsoleSocket()
    master = -1
    try:
        pid = rt.exec_start(container_id, process, console_socket=cs.path, sub_cgroups=sub_cgroups)
        master = cs.receive()
        with RawMode(0) if interactive else _Nothing():
            return proxy(master, pid, stdin=interactive)
    finally:
        cs.close()
        if master >= 0:
            os.close(master)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
