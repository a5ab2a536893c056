"""Lab 12, reference answers."""

import json
import subprocess
import sys
import tempfile

ROOT = "/run/pycontainer-lab12"


def runtime(*args: str) -> subprocess.CompletedProcess:
    # Files, not pipes: the container's init inherits stdout/stderr of `create`
    # and would hold a pipe open until it exits.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        r = subprocess.run([sys.executable, "-m", "pycontainer", "--root", ROOT, *args],
                           stdout=out, stderr=err, text=True, stdin=subprocess.DEVNULL)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(r.args, r.returncode, out.read(), err.read())


def _checked(*args: str) -> subprocess.CompletedProcess:
    r = runtime(*args)
    if r.returncode != 0:
        raise RuntimeError(f"pycontainer {' '.join(args)}: {r.stderr.strip()}")
    return r


def create(bundle: str, cid: str) -> None:
    _checked("create", "--bundle", bundle, cid)


def start(cid: str) -> None:
    _checked("start", cid)


def status(cid: str) -> str:
    return json.loads(_checked("state", cid).stdout)["status"]


def kill(cid: str, signal: str) -> None:
    _checked("kill", cid, signal)


def delete(cid: str) -> None:
    _checked("delete", cid)
