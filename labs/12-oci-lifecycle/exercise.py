"""Lab 12: complete these functions (see README.md). Each runs the pycontainer command."""

import json
import subprocess
import sys
import tempfile

ROOT = "/run/pycontainer-lab12"        # the state root (--root) for this lab's containers


def runtime(*args: str) -> subprocess.CompletedProcess:
    """Run `pycontainer --root ROOT ARGS...` (as `python -m pycontainer`); return its output as text.

    Careful: after `create`, the container's init keeps the stdout/stderr it
    inherited from the command. Capture into temporary files (tempfile.TemporaryFile),
    not pipes, or reading the pipe waits until the container exits.
    """
    raise NotImplementedError("TODO: subprocess.run([sys.executable, '-m', 'pycontainer', '--root', ROOT, *args], ...)")


def create(bundle: str, cid: str) -> None:
    raise NotImplementedError("TODO: runtime('create', '--bundle', bundle, cid); fail if it fails")


def start(cid: str) -> None:
    raise NotImplementedError("TODO: runtime('start', cid)")


def status(cid: str) -> str:
    """The "status" field of `state ID`'s JSON."""
    raise NotImplementedError("TODO: json.loads(runtime('state', cid).stdout)['status']")


def kill(cid: str, signal: str) -> None:
    raise NotImplementedError("TODO: runtime('kill', cid, signal)")


def delete(cid: str) -> None:
    raise NotImplementedError("TODO: runtime('delete', cid)")
