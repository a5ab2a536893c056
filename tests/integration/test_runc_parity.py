"""runc parity: the details runc's users, engines and conformance tools rely on (issue 12).

Each test drives the runc verbs as runc's users do and checks the result
from outside (the pty, /proc, the cgroup tree, the state root).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, new_id, pid_alive
from test_tty import Term

pytestmark = pytest.mark.root


def _pyc(root: str) -> str:
    return f"PYTHONPATH={ROOT} {sys.executable} -m pycontainer --root {root}"


# --- terminals ---------------------------------------------------------------------------

def test_spec_bundle_runs_in_the_foreground_with_our_terminal(tmp_path, bundle, cli, leakcheck):
    """README's example: `spec` writes terminal:true; `run -b . ID` proxies this terminal."""
    cfg = bundle.path + "/config.json"
    os.unlink(cfg)
    assert cli("spec", "-b", bundle.path).returncode == 0
    with open(cfg) as f:
        spec = json.load(f)
    assert spec["process"]["terminal"] is True
    spec["root"]["readonly"] = False
    bundle.write(spec)
    cid = new_id()
    script = (f"stty -g > {tmp_path}/before; cd {bundle.path} && {_pyc(cli.root)} run -b . {cid}; "
              f"echo rc=$? > {tmp_path}/rc; stty -g > {tmp_path}/after")
    t = Term(script, rows=31, cols=101)
    t.read_until(b"# ")
    t.type(b"tty; stty size\r")
    t.read_until(b"31 101")
    assert b"/dev/pts/0" in t.buf
    t.resize(44, 120)
    time.sleep(0.3)
    t.type(b"stty size\r")
    t.read_until(b"44 120")
    t.type(b"sleep 30; echo sl''ept\r")      # Ctrl-C reaches the container's foreground job
    time.sleep(0.5)
    t.type(b"\x03")
    t.type(b"echo after-$((6*7))\r")
    t.read_until(b"after-42")
    assert b"slept" not in t.buf
    t.type(b"exit 6\r")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=6"
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    assert not os.path.exists(os.path.join(cli.root, cid))      # deleted, as runc does


def test_terminal_bundle_detached_or_created_needs_a_console_socket(bundle, cli, leakcheck):
    bundle.config["process"]["terminal"] = True
    bundle.write()
    for argv in (("run", "-d", "-b", bundle.path, new_id()), ("create", "-b", bundle.path, new_id())):
        p = cli(*argv)
        assert p.returncode == 1, p.stderr
        assert p.stderr.count("\n") == 1 and "cannot allocate tty" in p.stderr, p.stderr


def test_exec_t_from_a_terminal_and_exec_process_with_terminal(tmp_path, bundle, cli, leakcheck):
    bundle.args("sleep", "60")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    proc = {"args": ["sh"], "cwd": "/", "terminal": True, "env": ["PATH=/bin:/usr/bin"]}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    script = (f"stty -g > {tmp_path}/before; {_pyc(cli.root)} exec -p {tmp_path}/p.json {cid}; "
              f"echo rc=$? > {tmp_path}/rc; stty -g > {tmp_path}/after")
    t = Term(script, rows=25, cols=77)
    t.read_until(b"# ")
    t.type(b"tty; stty size\r")
    t.read_until(b"25 77")
    t.type(b"exit 9\r")
    assert t.wait() == 0
    assert (tmp_path / "rc").read_text().strip() == "rc=9"
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    p = cli("exec", "-d", "-t", cid, "true")
    assert p.returncode == 1 and "cannot allocate tty" in p.stderr, p.stderr
    assert cli("delete", "--force", cid).returncode == 0
