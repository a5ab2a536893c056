"""The caller's side of a request that carries the program's stdio: pipes read with select(2).

A worker of the helper (api/helper.py) hands the container our pipe ends as
its stdin/stdout/stderr, so the program writes straight into this process:
no copy passes through the helper. What this module guarantees is that the
caller stays bounded whatever the program does:

* ``max_output`` (bytes per stream, default ``DEFAULT_MAX_OUTPUT`` = 16 MiB):
  only the head is kept; the rest is read and dropped (the pipe must be
  drained or the program would block instead of running to its timeout),
  and ``truncated`` says so. Nothing else is buffered, here or in the helper.
* ``deadline`` (time.monotonic()): past it the request is abandoned, the reply
  socket is closed and the worker, which watches it, kills the container's
  cgroup (a caller that gives up, is interrupted or dies cancels its
  sandbox the same way). The client sets it to the program's timeout plus
  ``REPLY_GRACE`` seconds for building and removing the container.
* once the reply is in, the pipes get ``DRAIN_AFTER_REPLY`` seconds to reach
  end-of-file: the worker answers after the cgroup is dead, so only a
  process outside it could still hold them.

``exchange`` yields ``(stream, bytes)`` as data arrives (1 = stdout,
2 = stderr) and returns the reply; ``collect`` runs it to the end.
See select(2), pipe(7), unix(7).
"""

from __future__ import annotations

import json
import os
import time

from ..errors import PyContainerError

DEFAULT_MAX_OUTPUT = 16 << 20
REPLY_GRACE = 10.0
DRAIN_AFTER_REPLY = 1.0
DIED = {"error": {"kind": "PyContainerError", "msg": "the pycontainer helper died before it answered"}}


class Timeout(PyContainerError):
    """The helper did not answer in time (the request was cancelled)."""


def exchange(sock, fds: dict, *, stdin_fd: int = -1, stdin_data=None, deadline: float | None = None):
    """Generator over ``(stream, data)`` from ``fds`` ({fd: stream}); returns the reply dict.

    Closes every fd given and ``sock`` whatever happens (a generator closed
    early, an exception, KeyboardInterrupt): closing ``sock`` is what
    cancels the request in the worker.
    """
    import selectors
    pending = memoryview(stdin_data or b"")
    reply = None
    replied_at = None
    open_fds = set(fds)
    sel = selectors.DefaultSelector()
    try:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(sock, selectors.EVENT_READ)
        if stdin_fd >= 0:
            if pending:
                os.set_blocking(stdin_fd, False)
                sel.register(stdin_fd, selectors.EVENT_WRITE)
            else:
                os.close(stdin_fd)
                stdin_fd = -1
        while open_fds or reply is None:
            now = time.monotonic()
            wait = None if deadline is None else deadline - now
            if replied_at is not None:
                wait = replied_at + DRAIN_AFTER_REPLY - now if wait is None else \
                    min(wait, replied_at + DRAIN_AFTER_REPLY - now)
            if wait is not None and wait <= 0:
                if reply is not None:
                    break                       # a process outside the cgroup holds a pipe
                raise Timeout("the sandbox did not finish by its deadline; it was cancelled (killed "
                              "and removed)")
            events = sel.select(wait)
            for key, _ in events:
                if key.fd == stdin_fd:
                    try:
                        pending = pending[os.write(stdin_fd, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except OSError:             # the program closed its stdin
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(stdin_fd)
                        os.close(stdin_fd)
                        stdin_fd = -1
                    continue
                if key.fileobj is sock:
                    data = sock.recv(1 << 20)
                    sel.unregister(sock)
                    reply = json.loads(data) if data else DIED
                    replied_at = time.monotonic()
                    continue
                data = os.read(key.fd, 65536)
                if data:
                    yield fds[key.fd], data
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
    finally:
        sel.close()
        sock.close()
        if stdin_fd >= 0:
            os.close(stdin_fd)
        for fd in fds:
            os.close(fd)
    return reply


class Sink:
    """Keeps the first ``limit`` bytes of a stream (None: no limit) and counts the rest."""

    __slots__ = ("limit", "parts", "size", "truncated", "callback")

    def __init__(self, limit: int | None, callback=None):
        self.limit, self.parts, self.size, self.truncated, self.callback = limit, [], 0, False, callback

    def feed(self, data: bytes) -> None:
        if self.callback is not None:
            self.callback(data)
        if self.limit is not None and self.size + len(data) > self.limit:
            data = data[:max(0, self.limit - self.size)]
            self.truncated = True
        if data:
            self.parts.append(data)
            self.size += len(data)

    def value(self) -> bytes:
        return b"".join(self.parts)


def collect(gen, sinks: dict) -> dict:
    """Run ``exchange`` to its end, feeding ``sinks`` ({stream: Sink}); the reply."""
    while True:
        try:
            stream, data = next(gen)
        except StopIteration as stop:
            return stop.value
        sinks[stream].feed(data)


def check_limits(timeout, max_output) -> None:
    """Usage errors, raised before anything starts."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise PyContainerError(f"timeout={timeout!r}: give a positive number of seconds (or None)")
    if max_output is not None and (isinstance(max_output, bool) or not isinstance(max_output, int)
                                   or max_output < 0):
        raise PyContainerError(f"max_output={max_output!r}: give a number of bytes >= 0 (or None)")
