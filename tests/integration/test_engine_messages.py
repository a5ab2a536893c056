"""The runtime's words that engines parse: one test per row of README's
"Engine messages" table.

containerd's runc shim (cmd/containerd-shim-runc-v2, via go-runc) and podman
do not look at exit codes alone: go-runc puts the runtime's output into the
error (``"exit status 1: <stderr>"``), the shim matches substrings of it
(``checkKillError``, ``Init.delete``) and reports the last ``"level":"error"``
message of ``--log FILE --log-format json`` as the reason ("OCI runtime
create failed: <msg>"); podman maps its text to exit codes 127/126. So
each case runs the real CLI the way the shim does (``--log F --log-format
json``) and checks the exit status, stderr and the JSON log line.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from conftest import new_id, pid_alive

pytestmark = pytest.mark.root

GO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def shim_call(cli, log, *args):
    """The command line containerd's shim uses: --root R --log F --log-format json VERB ..."""
    return cli("--log", str(log), "--log-format", "json", *args)


def last_error(log) -> str:
    """What the shim's getLastRuntimeError returns: the msg of the last level=error line."""
    msg = ""
    with open(log) as f:
        for line in f:
            rec = json.loads(line)
            assert set(rec) >= {"level", "msg", "time"} and GO_TIME.match(rec["time"]), rec
            if rec["level"] == "error":
                msg = rec["msg"]
    return msg


@pytest.fixture
def stopped(cli, bundle):
    """A container whose init has exited (the state the shim meets after every exit)."""
    bundle.args("true")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    pid = cli.state(cid)["pid"]
    assert cli("start", cid).returncode == 0
    for _ in range(500):
        if not pid_alive(pid):
            break
        time.sleep(0.01)
    assert cli.state(cid)["status"] == "stopped"
    return cid


def test_kill_all_of_stopped_container_succeeds(cli, leakcheck, stopped, tmp_path):
    # shim: Init.KillAll after every init exit; client: WithProcessKill before Delete
    p = shim_call(cli, tmp_path / "log.json", "kill", "--all", stopped, "9")
    assert (p.returncode, p.stderr) == (0, "")
    assert cli("delete", stopped).returncode == 0


def test_kill_of_stopped_container_says_container_not_running(cli, leakcheck, stopped, tmp_path):
    # shim: checkKillError matches "container not running" -> ErrNotFound ("process already finished")
    p = shim_call(cli, tmp_path / "log.json", "kill", stopped, "9")
    assert p.returncode == 1 and "container not running" in p.stderr
    assert "container not running" in last_error(tmp_path / "log.json")
    assert cli("delete", stopped).returncode == 0


@pytest.mark.parametrize("verb", [["kill", "{}", "9"], ["kill", "--all", "{}", "9"], ["delete", "{}"],
                                  ["state", "{}"], ["start", "{}"], ["pause", "{}"], ["resume", "{}"],
                                  ["ps", "--format", "json", "{}"]])
def test_missing_container_does_not_exist(cli, tmp_path, verb, leakcheck):
    # shim: checkKillError / Init.delete match "does not exist" (ErrNotFound, "no such container")
    cid = new_id()
    p = shim_call(cli, tmp_path / "log.json", *[a.format(cid) for a in verb])
    assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
    assert "does not exist" in last_error(tmp_path / "log.json")


def test_delete_force_of_missing_container_succeeds(cli, tmp_path, leakcheck):
    # runc: `delete --force` of a container that is not there exits 0 (shim cleanup, podman rm)
    p = shim_call(cli, tmp_path / "log.json", "delete", "--force", new_id())
    assert (p.returncode, p.stderr) == (0, "")


def test_delete_force_of_half_created_container(cli, tmp_path, leakcheck):
    # a create killed before it wrote state.json leaves only the directory: --force removes it
    cid = new_id()
    os.makedirs(os.path.join(cli.root, cid))
    p = shim_call(cli, tmp_path / "log.json", "delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(cli.root, cid))


@pytest.mark.parametrize("args, words", [
    (["nonexistent-cmd"], "executable file not found"),
    (["/etc/passwd"], "permission denied"),
])
def test_create_errors_podman_maps_to_127_126(cli, bundle, tmp_path, args, words, leakcheck):
    # podman: "executable file not found"/"no such file or directory" -> 127, "permission denied" -> 126;
    # containerd: "OCI runtime create failed: <msg>"
    bundle.args(*args)
    cid = new_id()
    p = shim_call(cli, tmp_path / "log.json", "create", "--bundle", bundle.path, cid)
    assert p.returncode != 0 and words in p.stderr, p.stderr
    assert words in last_error(tmp_path / "log.json")
    cli("delete", "--force", cid)
