"""A foreground container's output, copied to our stdout/stderr and into its log.

docker and podman keep the output of every container, not only the detached
ones: ``docker run --name c busybox echo hi`` prints ``hi``, and ``docker logs
c`` prints it again later. A detached container's monitor writes json.log
(monitor.py); in the foreground, the process that runs the container waits
for it anyway, so it does the monitor's copying itself.

The program gets the write ends of two pipes (pipe(7)) as its stdout and
stderr (``Runtime.create(stdio=...)``: the init's 0/1/2 are set at the fork,
so nothing the runtime itself prints goes into the log). Each chunk that
select(2) finds readable is written to our own fd 1 or 2, then fed to
``containerdir.Log`` (docker's json-file format, split at 16 KiB lines,
rotated by ``--log-opt max-size/max-file``). As with docker, the program's
stdout is then a pipe, never the caller's terminal (``-t`` gives it one).

The copy never stops draining: when our stdout is gone (``| head -1``), the
rest still goes into the log, so the program is not blocked and does not get
SIGPIPE from us. After the init exits, the pipes get ``DRAIN`` seconds to
reach end-of-file (every process of a PID namespace dies with its init, but a
process outside it, ``--pid host``, may still hold them).
"""

from __future__ import annotations

import os
import time

DRAIN = 1.0          # s after the init's exit for the pipes' end-of-file
CHUNK = 65536


class Relay:
    """Two pipes for the program's stdout and stderr, and the log they go into."""

    def __init__(self, log_path: str, max_size: int = 0, max_file: int = 1,
                 show=("stdout", "stderr")):
        from . import containerdir as cd
        self.streams: dict[int, tuple[int, str]] = {}     # read end -> (our fd, stream name)
        self._write_ends: list[int] = []
        try:
            for ours, name in ((1, "stdout"), (2, "stderr")):
                r, w = os.pipe2(os.O_CLOEXEC)
                self.streams[r] = (ours, name)
                self._write_ends.append(w)
            self.log = cd.Log(log_path, max_size, max_file)
        except BaseException:
            self.close()
            raise
        self._ours_open = {1: "stdout" in show, 2: "stderr" in show}    # docker run -a: the log only

    @property
    def stdio(self) -> tuple:
        """For ``Runtime.create(stdio=...)``: our stdin, the pipes' write ends."""
        return (None, *self._write_ends)

    def started(self) -> None:
        """The init has its copies: ours must go, or end-of-file never comes."""
        for w in self._write_ends:
            os.close(w)
        self._write_ends = []

    def fds(self) -> list[int]:
        return list(self.streams)

    def copy(self, fd: int) -> None:
        """One read from a readable pipe: to our fd and into the log (end-of-file: drop it)."""
        data = os.read(fd, CHUNK)
        ours, name = self.streams[fd]
        if not data:
            os.close(fd)
            del self.streams[fd]
            return
        if self._ours_open[ours]:
            try:
                while data:
                    n = os.write(ours, data)
                    self.log.feed(name, data[:n])
                    data = data[n:]
            except OSError:                   # EPIPE, EIO: the log still gets everything
                self._ours_open[ours] = False
        if data:
            self.log.feed(name, data)

    def drain(self, timeout: float = DRAIN) -> None:
        """After the init's exit: copy what is left until end-of-file or ``timeout``."""
        import select
        deadline = time.monotonic() + timeout
        while self.streams:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select(self.fds(), [], [], left)
            for fd in r:
                self.copy(fd)

    def close(self) -> None:
        for fd in list(self.streams) + self._write_ends:
            os.close(fd)
        self.streams, self._write_ends = {}, []
        log = getattr(self, "log", None)
        if log is not None:
            log.close()
            self.log = None
