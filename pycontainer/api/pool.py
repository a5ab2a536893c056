"""Warm pools: containers created ahead of time, each serving one run (``Client.pool``).

A cold ``sandbox()`` pays for the overlay, the namespaces, the cgroup, the
network and the init before the program starts. A pool pays that ahead:
it keeps ``size`` containers *created* (runc's ``create``: the init has set
everything up and waits for ``start``), and ``run(cmd)`` execs ``cmd`` into
one of them (setns(2) into its namespaces, the same cgroup, the same
seccomp filter and capabilities), so only the exec is on the caller's clock.
The container is then killed and removed, never reused (no state leaks
from one run to the next), and a background thread creates its
replacement.

The containers belong to the client: ``close()`` removes them, and if the
calling program dies the helper does (api/helper.py, ``owned``).

    pool = client.pool("busybox", size=4, mem_limit="64m", network_mode="none")
    r = pool.run(["sh", "-c", "echo hi"], timeout=5)    # a SandboxResult
    pool.close()
"""

from __future__ import annotations

import threading
import time

from ..errors import PyContainerError
from .results import SandboxResult, raise_error
from .streams import DEFAULT_MAX_OUTPUT, REPLY_GRACE, Sink, check_limits, collect


class Pool:
    def __init__(self, client, image: str, *, size: int = 4, **kw):
        if not isinstance(size, int) or size < 1:
            raise PyContainerError(f"pool size={size!r}: give a number >= 1")
        self.client, self.image, self.size, self.kw = client, image, size, kw
        self.ready: list[str] = []
        self.used: list[str] = []
        self.creating = 0
        self.closed = False
        self.error: BaseException | None = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._keep, name="pycontainer-pool", daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the background thread: replace used containers, remove spent ones ------------------

    def _keep(self) -> None:
        while True:
            with self.cond:
                while not self.closed and not self.used and len(self.ready) + self.creating >= self.size:
                    self.cond.wait()
                if self.closed:
                    return
                spent, self.used = self.used, []
                make = len(self.ready) + self.creating < self.size
                if make:
                    self.creating += 1
            for cid in spent:
                self._remove(cid)
            if make:
                try:
                    cid = self._create()
                except BaseException as exc:  # noqa: BLE001 -- reported to the next run()
                    with self.cond:
                        self.creating -= 1
                        self.error = exc
                        self.cond.notify_all()
                    time.sleep(0.5)
                    continue
                with self.cond:
                    self.creating -= 1
                    if self.closed:
                        spent = [cid]
                    else:
                        self.ready.append(cid)
                        spent = []
                    self.cond.notify_all()
                for cid in spent:
                    self._remove(cid)

    def _create(self) -> str:
        kw = {k: v for k, v in self.kw.items() if k != "command"}
        kw.setdefault("egress", "deny-private")          # the defaults of sandbox()
        kw.setdefault("allow_ptrace", False)
        c = self.client.containers.make(self.image, self.kw.get("command"), start=False, owned=True, **kw)
        return c.id

    def _remove(self, cid: str) -> None:
        from ..container import Runtime
        try:
            Runtime(self.client.root).delete(cid, force=True)
        except PyContainerError:
            pass

    # --- runs ---------------------------------------------------------------------------------

    def _take(self, wait: float) -> str:
        deadline = time.monotonic() + wait
        with self.cond:
            while not self.ready:
                if self.closed:
                    raise PyContainerError("the pool is closed")
                if self.error is not None and not self.creating:
                    exc, self.error = self.error, None
                    raise PyContainerError(f"the pool cannot create containers: {exc}") from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PyContainerError(f"no pool container became ready within {wait}s")
                self.cond.wait(left)
            return self.ready.pop(0)

    def run(self, command, *, timeout: float | None = None, input: bytes | None = None,  # noqa: A002
            max_output: int | None = DEFAULT_MAX_OUTPUT, on_stdout=None, on_stderr=None,
            environment=None, workdir: str | None = None, user: str | None = None):
        """Run ``command`` in a fresh pool container; a ``SandboxResult`` as ``sandbox()``'s."""
        import shlex
        check_limits(timeout, max_output)
        args = shlex.split(command) if isinstance(command, str) else list(command)
        env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) \
            else list(environment or ())
        t0 = time.monotonic()
        cid = self._take(self.client.timeout)
        try:
            req = {"op": "exec", "root": self.client.root, "id": cid, "args": args, "env": env,
                   "user": user, "workdir": workdir, "privileged": False, "detach": False,
                   "timeout": timeout, "oom": True}
            deadline = None if timeout is None else time.monotonic() + timeout + REPLY_GRACE
            sinks = {1: Sink(max_output, on_stdout), 2: Sink(max_output, on_stderr)}
            reply = raise_error(collect(self.client.transport.open(req, separate=True, stdin=input,
                                                                    deadline=deadline), sinks))
        finally:
            with self.cond:
                self.used.append(cid)
                self.cond.notify_all()
        return SandboxResult(id=cid, exit_code=reply["exit_code"], stdout=sinks[1].value(),
                             stderr=sinks[2].value(), oom_killed=bool(reply.get("oom_killed")),
                             timed_out=reply["timed_out"], wall_time=time.monotonic() - t0,
                             stdout_truncated=sinks[1].truncated, stderr_truncated=sinks[2].truncated)

    def close(self) -> None:
        """Stop replacing; remove every container of the pool (ready or spent)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join(timeout=self.client.timeout)
        with self.cond:
            left, self.ready, self.used = self.ready + self.used, [], []
        for cid in left:
            self._remove(cid)
