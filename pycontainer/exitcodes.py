"""Docker's exit statuses for the porcelain (``run``, ``exec``, ``start -a``, ...) and the API.

docker (cli/command/container/run.go, docs "Exit status") reserves three
codes so a script can tell the engine's failure from the program's:

* 125: the engine failed (unknown flag, no such image, bad ``-m``, a port or
  name already taken, a bad ``-v``): the program never ran (docker's other
  verbs exit 1 for what the daemon refuses, 125 only for a flag: dockercli.py);
* 126: the program exists but cannot be executed (EACCES, a directory, ...);
* 127: the program does not exist (ENOENT: not in ``$PATH``, or no such file);
* otherwise the program's own status, 128+N when signal N killed it
  (wait(2): ``WTERMSIG``).

runc's verbs keep runc's behaviour (status 1 for its errors); only the
docker-shaped commands use these. Nothing here imports click.
"""

from __future__ import annotations

import errno as _errno

ENGINE = 125
CANNOT_EXECUTE = 126
NOT_FOUND = 127

_CANNOT = {_errno.EACCES, _errno.EPERM, _errno.ENOEXEC, _errno.EISDIR, _errno.ETXTBSY}


def for_error(exc: BaseException, engine: int = ENGINE) -> int:
    """The docker exit status for an error raised while running a container's program;
    ``engine``: the status of an error that is not the program's (125 for ``run``/``create``,
    1 for docker's other verbs: see dockercli.py)."""
    from .errors import ExecError
    if not isinstance(exc, ExecError):
        return engine
    if exc.errno is not None:
        return NOT_FOUND if exc.errno in (_errno.ENOENT, _errno.ENOTDIR) else \
            CANNOT_EXECUTE if exc.errno in _CANNOT else CANNOT_EXECUTE
    # An error that crossed a pipe as text (the start barrier, the monitor) has no errno.
    text = str(exc).lower()
    if "not found" in text or "no such file" in text:
        return NOT_FOUND
    return CANNOT_EXECUTE


def is_exec_error(exc: BaseException) -> bool:
    """True when the program itself could not be started (126/127), not the engine."""
    from .errors import ExecError
    return isinstance(exc, ExecError)
