"""What the API's calls return: docker's ``ExecResult``, pycontainer's ``SandboxResult``, and
``raise_error`` for a reply that carries an error (errors.py's codec)."""

from __future__ import annotations

from ..errors import decode


class ExecResult(tuple):
    """(exit_code, output), as the docker SDK's exec_run returns."""

    timed_out = False               # ours: exec_run(timeout=) killed the exec's process tree

    def __new__(cls, exit_code, output, timed_out=False):
        self = super().__new__(cls, (exit_code, output))
        self.timed_out = timed_out
        return self

    exit_code = property(lambda self: self[0])
    output = property(lambda self: self[1])

    def __repr__(self) -> str:                  # docker-py's namedtuple's
        return f"ExecResult(exit_code={self[0]!r}, output={self[1]!r})"


class SandboxResult:
    """What a sandboxed run produced."""

    __slots__ = ("id", "exit_code", "stdout", "stderr", "oom_killed", "timed_out", "wall_time",
                 "stdout_truncated", "stderr_truncated")

    @property
    def truncated(self) -> bool:
        """Some output went past ``max_output`` (only its head is kept)."""
        return bool(self.stdout_truncated or self.stderr_truncated)

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self):
        return (f"SandboxResult(exit_code={self.exit_code}, oom_killed={self.oom_killed}, "
                f"timed_out={self.timed_out}, truncated={self.truncated}, wall_time={self.wall_time:.3f}, "
                f"stdout={self.stdout[:60]!r}, stderr={self.stderr[:60]!r})")


def raise_error(reply: dict) -> dict:
    """The reply, or the error it carries raised as its own class."""
    if "error" in reply:
        raise decode(reply["error"])
    return reply
