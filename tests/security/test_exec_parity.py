"""Every way into a container ends with the init's own defences (issue 11 item 1).

``exec -t`` used to build its process without the container's seccomp
filter (``Seccomp: 0`` inside). Each exec form must go through one entry
point (``Runtime.exec_start``) and the init's own tail
(``process/finalize.py``); this test reads ``/proc/self/status`` in every
form, with and without a terminal (a real pty), and compares the defence
fields with the init's, read from the host.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import ROOT, new_id
from _helpers import docker_seccomp

pytestmark = pytest.mark.root

FIELDS = ("Seccomp", "Seccomp_filters", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs",
          "Uid", "Gid", "Groups")


def _fields(text: str) -> dict:
    out = {}
    for line in text.replace("\r", "").splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() in FIELDS:
            out[k.strip()] = " ".join(v.split())
    assert set(out) == set(FIELDS), f"missing fields in {text[:300]!r}"
    return out


def _host_status(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as f:
        return _fields(f.read())


def _read_master(master: int, timeout: float = 20) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break                  # EIO: every slave fd closed
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


class ConsoleListener:
    """A --console-socket: receives the pty master and reads what the process writes."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.master = None
        self.output = ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self, read: bool = True):
        self.sock.settimeout(30)
        conn, _ = self.sock.accept()
        _msg, fds, _f, _a = socket.recv_fds(conn, 1024, 1)
        conn.close()
        self.master = fds[0]
        if self.read:
            self.output = _read_master(self.master)

    read = True

    def close(self):
        self.thread.join(30)
        self.sock.close()
        if self.master is not None:
            os.close(self.master)


def _in_pty(argv: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run ``argv`` with a real terminal as its stdio (what a person at a shell has)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                         start_new_session=True)
    os.close(slave)
    out = _read_master(master, timeout)
    code = p.wait(timeout)
    os.close(master)
    return code, out


def _config(bundle, *, nnp: bool, terminal: bool, args):
    cfg = json.loads(json.dumps(bundle.config))
    cfg["process"]["args"] = args
    cfg["process"]["terminal"] = terminal
    cfg["process"]["noNewPrivileges"] = nnp
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    cfg["linux"]["seccomp"] = docker_seccomp()
    return cfg


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_every_runc_exec_form_has_the_inits_defences(cli, bundle, tmp_path, leakcheck, nnp):
    cid, tid = new_id("par"), new_id("part")
    try:
        _every_form(cli, bundle, tmp_path, nnp, cid, tid)
    finally:
        cli("delete", "--force", cid)
        cli("delete", "--force", tid)


def _every_form(cli, bundle, tmp_path, nnp, cid, tid):
    bundle.write(_config(bundle, nnp=nnp, terminal=False, args=["sleep", "300"]))
    cli.create(cid, bundle.path, check=True)
    cli("start", cid, check=True)
    init = _host_status(cli.state(cid)["pid"])
    assert init["Seccomp"] == "2" and init["Uid"].split()[0] == "1000", init
    assert init["NoNewPrivs"] == ("1" if nnp else "0")

    # the init of a container with a terminal (runc's --console-socket)
    tbundle = tmp_path / "tbundle"
    os.makedirs(tbundle)
    os.symlink(bundle.rootfs, tbundle / "rootfs")
    with open(tbundle / "config.json", "w") as f:
        json.dump(_config(bundle, nnp=nnp, terminal=True, args=["sleep", "300"]), f)
    lst = ConsoleListener(str(tmp_path / "c0.sock"))
    lst.read = False
    cli.create(tid, str(tbundle), "--console-socket", lst.path, check=True)
    cli("start", tid, check=True)
    lst.close()
    forms = {"init with terminal": _host_status(cli.state(tid)["pid"])}

    cat = ["cat", "/proc/self/status"]
    p = cli("exec", cid, *cat, check=True)
    forms["exec"] = _fields(p.stdout)

    proc = dict(_config(bundle, nnp=nnp, terminal=False, args=cat)["process"])
    pfile = tmp_path / "process.json"
    pfile.write_text(json.dumps(proc))
    forms["exec -p process.json"] = _fields(cli("exec", "-p", str(pfile), cid, check=True).stdout)

    lst = ConsoleListener(str(tmp_path / "c1.sock"))
    cli("exec", "-t", "--console-socket", lst.path, cid, *cat, check=True)
    lst.close()
    forms["exec -t --console-socket"] = _fields(lst.output)

    lst = ConsoleListener(str(tmp_path / "c2.sock"))
    pfile.write_text(json.dumps(dict(proc, terminal=True)))
    cli("exec", "-p", str(pfile), "--console-socket", lst.path, cid, check=True)
    lst.close()
    forms["exec -p (terminal) --console-socket"] = _fields(lst.output)

    for flags in (["-t"], ["-t", "-i"]):
        code, out = _in_pty(cli.cmd("exec", *flags, cid, *cat))
        assert code == 0, out
        forms["exec " + " ".join(flags) + " (pty)"] = _fields(out)

    # what the API's worker runs for exec_run(tty=False/True) (pycontainer.api.operations.op_exec)
    for tty in (False, True):
        code = (f"import sys; sys.path.insert(0, {ROOT!r}); from pycontainer.api.operations import op_exec; "
                f"sys.exit(op_exec({cli.root!r}, {cid!r}, {cat!r}, tty={tty}))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           cwd=ROOT, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        forms[f"op_exec(tty={tty})"] = _fields(r.stdout)

    diffs = {name: {k: (v, init[k]) for k, v in got.items() if v != init[k]}
             for name, got in forms.items()}
    assert not any(diffs.values()), {k: v for k, v in diffs.items() if v}


def test_image_container_exec_forms_match_the_init(tmp_path):
    """The issue's reproduction: `run -d busybox sleep`, then `exec` / `exec -t` from a real
    pty, and the API's exec_run(tty=False/True): all the init's Seccomp/caps/NNP/ids."""
    import pycontainer
    client = pycontainer.Client(root=str(tmp_path / "state"))
    c = None
    try:
        c = client.containers.run("busybox", ["sleep", "300"], detach=True, network_mode="none",
                                  name="parity-" + uuid.uuid4().hex[:8])
        from pycontainer.container import Runtime
        init = _host_status(Runtime(client.root).state(c.id)["pid"])
        assert init["Seccomp"] == "2", init
        forms = {}
        for tty in (False, True):
            code, out = c.exec_run(["cat", "/proc/self/status"], tty=tty)
            assert code == 0, out
            forms[f"exec_run(tty={tty})"] = _fields(out.decode())
        base = [sys.executable, "-m", "pycontainer", "--root", client.root]
        for flags in ([], ["-t"], ["-t", "-i"]):
            code, out = _in_pty(base + ["exec", *flags, c.id, "cat", "/proc/self/status"])
            assert code == 0, out
            forms["exec " + " ".join(flags)] = _fields(out)
        diffs = {name: {k: (v, init[k]) for k, v in got.items() if v != init[k]}
                 for name, got in forms.items()}
        assert not any(diffs.values()), {k: v for k, v in diffs.items() if v}
    finally:
        if c is not None:
            c.remove(force=True)
        client.close()
