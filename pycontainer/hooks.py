"""OCI lifecycle hooks: programs the runtime runs at fixed points.

config.md "POSIX-platform Hooks": each hook is ``{path, args, env,
timeout}`` and gets the container's state JSON on stdin. Where they run:

===============  ==========================  ============================
hook             when                        namespaces / who runs it
===============  ==========================  ============================
prestart         after namespaces exist,     runtime's (deprecated alias
                 before pivot_root           of createRuntime)
createRuntime    same point                  runtime's (stage 0)
createContainer  after mounts, before        container's (the init)
                 pivot_root
startContainer   after ``start``, just       container's (the init)
                 before the program runs
poststart        after the program started   runtime's (``start``)
poststop         after the container is      runtime's (``delete``)
                 deleted
===============  ==========================  ============================

A hook that exits non-zero or outlives its timeout fails the operation.
A failed poststart hook kills the container and fails ``start``/``run``
(runc's behaviour, which engines expect; the spec only asks for a warning);
a failed poststop hook is a warning (``delete`` goes on). A hook without an
``env`` runs with the runtime's own environment, as runc's do.
"""

from __future__ import annotations

import json

from . import trace
from .errors import HookError


def prepare() -> None:
    """Import what ``run`` needs now (the init calls this before pivot_root)."""
    import subprocess  # noqa: F401


def run(kind: str, hooks: list[dict], state: dict) -> None:
    if not hooks:
        return
    import subprocess  # the init imports this module's needs before pivot_root (prepare())
    payload = json.dumps(state).encode()
    for i, h in enumerate(hooks or []):
        path = h["path"]
        args = h.get("args") or [path]
        # runc (Go's exec.Cmd): a hook without "env" gets the runtime's environment;
        # an empty list gives an empty one.
        env = None if h.get("env") is None else dict(e.split("=", 1) for e in h["env"] if "=" in e)
        timeout = h.get("timeout")
        with trace.step("hook", f"hooks.{kind}[{i}]", path=path, args=args, timeout=timeout):
            try:
                proc = subprocess.run(args, executable=path, input=payload, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      timeout=timeout, close_fds=True)
            except subprocess.TimeoutExpired:
                raise HookError(f"{kind} hook {path} timed out after {timeout}s") from None
            except OSError as exc:
                raise HookError(f"{kind} hook {path}: {exc.strerror}", errno=exc.errno) from None
            if proc.returncode != 0:
                err = proc.stderr.decode(errors="replace").strip().splitlines()
                tail = f": {err[-1]}" if err else ""
                raise HookError(f"{kind} hook {path} exited with status {proc.returncode}{tail}")
