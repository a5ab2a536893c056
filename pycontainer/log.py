"""Where the runtime's own messages go: stderr, and ``--log FILE`` if given.

Container engines read the log file, not stderr: containerd's shim and
podman's conmon pass ``--log FILE --log-format json`` and, when a command
fails, take the ``msg`` of the last ``{"level":"error",...}`` line as the
reason (runc writes logrus JSON the same way). With ``--log-format text``
the file gets ``time level msg`` lines.
"""

from __future__ import annotations

import posix       # os without its Python helpers: importing os is ~1 ms of every verb (paths.py)
import sys
import time

from . import jsonio

_path: str | None = None
_json = False
_debug = False


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Set where messages go. ``--log PATH`` is opened here, at start-up (runc opens it
    before anything else), so a path that cannot be written fails at once."""
    global _path, _json, _debug
    _json, _debug = fmt == "json", debug
    if path:
        try:
            posix.close(posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644))
        except OSError as exc:
            _path = None
            from .errors import PyContainerError
            raise PyContainerError(f"--log {path}: cannot open the log file: {exc.strerror}") from None
    _path = path


def emit(level: str, msg: str) -> None:
    """Append one record to the --log file (if any); nothing on stderr."""
    if _path:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e9):09d}Z"
        line = jsonio.dumps({"level": level, "msg": msg, "time": stamp}) if _json \
            else f"time=\"{stamp}\" level={level} msg={jsonio.dumps(msg)}"
        try:
            fd = posix.open(_path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
            try:
                posix.write(fd, (line + "\n").encode())
            finally:
                posix.close(fd)
        except OSError:
            pass


def error(msg: str) -> None:
    emit("error", msg)
    sys.stderr.write(f"pycontainer: {msg}\n")
    sys.stderr.flush()


def warning(msg: str) -> None:
    emit("warning", msg)
    sys.stderr.write(f"pycontainer: warning: {msg}\n")


def debug(msg: str) -> None:
    if _debug:
        emit("debug", msg)
        sys.stderr.write(f"pycontainer: debug: {msg}\n")
