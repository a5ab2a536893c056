"""OCI hooks (each kind, where it runs, with the state on stdin) and --console-socket."""

import json
import os
import socket
import time

import pytest

from conftest import new_id

pytestmark = pytest.mark.root


def test_every_hook_kind_runs_with_the_state(cli, bundle, tmp_path, leakcheck):
    out = tmp_path / "hooks"
    out.mkdir()
    os.chmod(tmp_path, 0o755)

    def hook(kind, where=str(out)):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {where}/{kind}.json; "
                                            f"readlink /proc/self/ns/mnt > {where}/{kind}.mnt"]}
    # createContainer runs in the container's mount namespace before pivot_root,
    # so it still sees host paths; startContainer runs after pivot: write into the rootfs.
    bundle.config["hooks"] = {k: [hook(k)] for k in ("prestart", "createRuntime", "createContainer",
                                                   "poststart", "poststop")}
    bundle.config["hooks"]["startContainer"] = [hook("startContainer", "/tmp")]
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    pid = cli.state(cid)["pid"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    for kind in ("prestart", "createRuntime", "createContainer"):
        st = json.loads((out / f"{kind}.json").read_text())
        assert st["id"] == cid and st["pid"] == pid and st["status"] == "creating", kind
        assert st["bundle"] == bundle.path
    assert (out / "createRuntime.mnt").read_text().strip() == host_mnt
    assert (out / "createContainer.mnt").read_text().strip() == os.readlink(f"/proc/{pid}/ns/mnt")
    assert not (out / "poststart.json").exists()
    assert cli("start", cid).returncode == 0
    assert json.loads((out / "poststart.json").read_text())["status"] == "running"
    assert json.loads(open(os.path.join(bundle.rootfs, "tmp", "startContainer.json")).read())["id"] == cid
    assert cli("delete", "--force", cid).returncode == 0
    assert json.loads((out / "poststop.json").read_text())["status"] == "stopped"


def test_console_socket_receives_the_pty_master(cli, bundle, tmp_path, leakcheck):
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 40, "width": 123}
    bundle.args("sh", "-c", "tty; stty size; sleep 30")
    cid = new_id()
    p = cli.create(cid, bundle.path, "--console-socket", sock_path)
    assert p.returncode == 0, p.stderr
    conn, _ = srv.accept()
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    assert len(fds) == 1
    master = fds[0]
    assert cli("start", cid).returncode == 0
    data = b""
    deadline = time.time() + 10
    while b"123" not in data and time.time() < deadline:
        data += os.read(master, 1024)
    text = data.decode()
    assert "/dev/pts/0" in text and "40 123" in text
    pid = cli.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/fd/0").startswith("/dev/pts/")
    os.close(master)
    conn.close()
    srv.close()
    cli("delete", "--force", cid)


def test_terminal_without_console_socket_is_refused(cli, bundle, leakcheck):
    bundle.config["process"]["terminal"] = True
    bundle.write()
    p = cli.create(new_id(), bundle.path)
    assert p.returncode != 0 and "console-socket" in p.stderr
