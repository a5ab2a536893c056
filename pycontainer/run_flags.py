"""docker run's convenience flags, turned into the options ``api.build`` understands.

* ``-e NAME`` (no ``=``) passes the caller's value of NAME, and nothing when
  the caller has none (docker's rule); ``--env-file FILE`` reads ``KEY=VALUE``
  lines and bare ``NAME`` lines the same way (``#`` comments and blank lines
  skipped), before ``-e`` (which wins).
* ``--label KEY=VALUE`` is kept with the container (``inspect``'s
  ``Config.Labels``, ``ps --filter label=``).
* ``--stop-signal``/``--stop-timeout`` are what ``stop`` and ``restart``
  use when not told otherwise.
* ``--cidfile FILE``: refused when FILE exists (docker: "Container ID file
  found, make sure the other container isn't running or delete FILE"); the ID
  is written once the container exists.
* ``--platform OS/ARCH[/VARIANT]`` is checked against this machine: the
  runtime runs native binaries only.

Every bad value is a ``PyContainerError`` naming the flag, before anything
is made. Read: docker's "docker run" reference for each flag.
"""

from __future__ import annotations

import os

from .errors import PyContainerError

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def apply(o: dict, environ=None) -> dict:
    """Rewrite docker-run options in ``o`` (in place) to build()'s; -> ``o``."""
    environ = os.environ if environ is None else environ
    env: list[str] = []
    for path in o.pop("env_file", None) or []:
        env += _read_env_file(path, environ)
    for e in o.get("env") or []:
        env += _one(e, environ, "-e")
    o["env"] = env
    for lab in o.get("label") or []:
        if not lab.partition("=")[0]:
            raise PyContainerError(f"--label {lab!r}: give KEY=VALUE")
    sig = o.get("stop_signal")
    if sig is not None:
        from .container import parse_signal
        try:
            parse_signal(sig)
        except Exception:  # noqa: BLE001 - parse_signal's own message is not docker's
            raise PyContainerError(f"--stop-signal {sig!r}: not a signal name or number") from None
    if o.get("stop_timeout") is not None and o["stop_timeout"] < -1:
        raise PyContainerError(f"--stop-timeout {o['stop_timeout']}: must be -1 or more")
    if o.get("cidfile") and os.path.lexists(o["cidfile"]):
        raise PyContainerError(f"--cidfile {o['cidfile']}: the file exists: make sure the other "
                               "container is not running, or delete the file")
    if o.get("platform"):
        check_platform(o["platform"])
    return o


def _one(item: str, environ, flag: str) -> list[str]:
    k, eq, _v = item.partition("=")
    if not k or any(c.isspace() for c in k):
        raise PyContainerError(f"{flag} {item!r}: invalid environment variable name")
    if eq:
        return [item]
    return [f"{k}={environ[k]}"] if k in environ else []


def _read_env_file(path: str, environ) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PyContainerError(f"--env-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        try:
            out += _one(line, environ, f"--env-file {path}:{n}:")
        except PyContainerError as exc:
            raise PyContainerError(str(exc)) from None
    return out


def check_platform(value: str) -> None:
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise PyContainerError(f"--platform {value!r}: want OS/ARCH[/VARIANT], e.g. linux/amd64")
    arch = _ARCH.get(os.uname().machine, os.uname().machine)
    if parts[0] != "linux" or parts[1] != arch:
        raise PyContainerError(f"--platform {value}: this machine runs linux/{arch} programs "
                               "only (no emulation)")


def write_cidfile(o: dict, cid: str) -> None:
    path = o.get("cidfile")
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise PyContainerError(f"--cidfile {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(cid)
