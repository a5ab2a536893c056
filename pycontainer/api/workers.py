"""The helper's workers: each forked before its request comes, its copies made ahead.

The helper (helper.py) runs every request in a forked worker. Two costs of
that fork used to sit on each request's path: the fork(2) of a large
process (the runtime preloaded: ~1.5 ms of page-table copying) and the
copy-on-write faults of the worker's first writes (~2,000 pages, prefault.py).
``Spares`` keeps one worker forked ahead, while the helper would sit idle: it
waits on a socketpair (unix(7), ``SOCK_SEQPACKET``) for its one request, the
message with its fds (``SCM_RIGHTS``), and exits at once if the helper closes
its end instead. The first worker that makes a container is asked (a second
message, ``report``) which pages it copied; every later worker has those
copied while it waits (prefault.populate), before the request's clock runs.
When the helper's own memory changes (pyroute2 loaded for the first bridged
container), the spare and what was learnt are dropped: a new worker is a fork
of the helper as it is now.
"""

from __future__ import annotations

import json
import os
import signal
import socket

from ..cgroups import attachlock
from . import prefault


class Spares:
    """One worker forked ahead; ``serve(request, fds) -> exit code`` runs in it."""

    def __init__(self, ctl, serve):
        self.ctl, self.serve = ctl, serve
        self.base = prefault.mappings()     # what a worker shares with us, copy-on-write
        self.hot: list | None = None        # the pages a worker that made a container copied
        self.learning = None                # that worker's socket, until it has answered
        self.spare = self._fork()

    def _fork(self, held=()) -> tuple[int, socket.socket]:
        """-> (pid, our end). ``held``: the fds of a request we hold now, which the worker
        gets again with its own message (its inherited copies are closed)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the worker waits for its own
                self.ctl.close()
                ours.close()
                if self.learning is not None:
                    self.learning.close()       # the helper's end with an earlier worker
                for fd in held:
                    os.close(fd)
                if self.hot:
                    prefault.populate(self.hot)
                # the cgroup-attach primer's fd, opened while we wait: its first write is then
                # the request's first step (cgroups/attachlock.py); closed for one that attaches
                # nothing (helper.worker)
                attachlock.prepare()
                msg, fds, _flags, _addr = socket.recv_fds(theirs, 1 << 20, 8)
                for fd in fds:
                    os.set_inheritable(fd, False)   # only the worker's dup2 copies reach the container
                if msg:
                    code = self.serve(json.loads(msg), fds)
                    self._answer(theirs, code)
            finally:
                os._exit(code)
        theirs.close()
        return pid, ours

    def _answer(self, sock, code: int) -> None:
        """If the helper asked (its second message), send the pages this worker copied (after
        the request's reply: the caller does not wait for it). Nothing after a failure."""
        try:
            if sock.recv(16, socket.MSG_DONTWAIT) == b"report":
                sock.send(json.dumps(prefault.dirtied(self.base) if code == 0 else []).encode())
        except OSError:
            pass

    def dispatch(self, msg: bytes, fds: list[int], learn: bool = False) -> None:
        """Hand one request (message and fds) to the spare, then fork the next one. ``learn``:
        the request makes a container; the first such worker is asked for its pages."""
        self._collect()
        if self.spare is None:
            self.spare = self._fork(fds)
        try:
            socket.send_fds(self.spare[1], [msg], fds)
        except OSError:                     # it died waiting (it never ran anything else)
            self.spare[1].close()
            self.spare = self._fork(fds)
            socket.send_fds(self.spare[1], [msg], fds)
        sock = self.spare[1]
        self.spare = None
        if learn and self.hot is None and self.learning is None:
            try:
                sock.send(b"report")
                self.learning, sock = sock, None
            except OSError:
                pass
        if sock is not None:
            sock.close()
        for fd in fds:
            os.close(fd)
        self.spare = self._fork()

    def _collect(self) -> None:
        """Take the learning worker's answer if it has come (never waits for it)."""
        if self.learning is None:
            return
        try:
            data = self.learning.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.learning.close()
        self.learning = None
        try:
            runs = [(int(a), int(n)) for a, n in json.loads(data)] if data else []
        except (ValueError, TypeError):
            runs = []
        self.hot = runs or None             # none (a failure, a death): the next one is asked

    def reset(self) -> None:
        """Our memory changed: drop the spare (forked without it) and what was learnt."""
        self.close()
        self.base = prefault.mappings()
        self.hot = None

    def close(self) -> None:
        for sock in (self.spare and self.spare[1], self.learning):
            if sock is not None:
                sock.close()
        self.spare = self.learning = None
