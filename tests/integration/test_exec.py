"""exec: a new process that joins every namespace and the cgroup of the container.

Checked from outside: the exec'd process's /proc/PID/ns/* equal the init's,
its pid is in the container's cgroup, it has the process spec's caps and
no_new_privs, and no host fd (CVE-2024-21626 applies to exec too).
"""

import json
import os
import subprocess
import time

import pytest

from conftest import new_id, proc_status

pytestmark = pytest.mark.root


@pytest.fixture
def running(cli, bundle):
    bundle.args("sleep", "60")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    yield cid, cli.state(cid)["pid"]
    cli("delete", "--force", cid)


def test_exec_joins_namespaces_and_cgroup(cli, leakcheck, running, tmp_path):
    cid, init = running
    pidfile = tmp_path / "exec.pid"
    p = cli("exec", "--detach", "--pid-file", str(pidfile), cid, "sleep", "30")
    assert p.returncode == 0, p.stderr
    pid = int(pidfile.read_text())
    for ns in ("pid", "mnt", "uts", "ipc", "net", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}"), ns
    assert open(f"/proc/{pid}/cgroup").read() == open(f"/proc/{init}/cgroup").read()
    assert pid in json.loads(cli("ps", "--format", "json", cid).stdout)
    s = proc_status(pid)
    assert s["NoNewPrivs"] == "1" and int(s["CapEff"], 16) == int(proc_status(init)["CapEff"], 16)
    assert sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]


def test_exec_exit_status_env_user_cwd(cli, leakcheck, running):
    cid, _ = running
    p = cli("exec", "-e", "FOO=bar", "-u", "1000:1001", "--cwd", "/tmp", cid,
            "sh", "-c", "echo $FOO; id -u; id -g; pwd; echo $$; exit 3")
    assert p.returncode == 3, p.stderr
    foo, uid, gid, cwd, pid = p.stdout.split()
    assert (foo, uid, gid, cwd) == ("bar", "1000", "1001", "/tmp")
    assert int(pid) > 1                       # pid inside the container's pid namespace


def test_exec_with_process_json(cli, leakcheck, running, tmp_path):
    cid, _ = running
    proc = {"args": ["sh", "-c", "grep CapEff /proc/self/status; echo $X"], "env": ["X=y", "PATH=/bin"],
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "noNewPrivileges": True,
            "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = cli("exec", "--process", str(f), cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["CapEff:", f"{1 << 5:016x}", "y"]


def test_exec_errors(cli, leakcheck, running, bundle):
    cid, _ = running
    p = cli("exec", cid, "/nonexistent")
    assert p.returncode != 0 and "no such file or directory" in p.stderr
    p = cli("exec", cid, "/etc/passwd")
    assert p.returncode != 0 and "permission denied" in p.stderr
    p = cli("exec", "nope", "true")
    assert p.returncode != 0 and "does not exist" in p.stderr


def test_exec_in_a_stopped_container_is_refused(cli, bundle, leakcheck):
    bundle.args("true")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    for _ in range(100):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    p = cli("exec", cid, "true")
    assert p.returncode != 0 and "stopped" in p.stderr
    cli("delete", cid)


def test_exec_does_not_import_from_the_container(cli, leakcheck, running, bundle):
    """security.md P1: after joining the mount namespace no Python module is imported.

    Plant modules the runtime might import under every sys.path entry inside
    the rootfs; exec must neither run them nor fail.
    """
    import sys
    cid, _ = running
    marker = os.path.join(bundle.rootfs, "tmp", "pwned")
    for entry in sys.path:
        if not entry.startswith("/") or entry.endswith(".zip"):
            continue
        d = os.path.join(bundle.rootfs, entry.lstrip("/"))
        os.makedirs(d, exist_ok=True)
        for mod in ("json", "subprocess", "pycontainer", "prctl", "capabilities", "encodings"):
            with open(os.path.join(d, mod + ".py"), "w") as f:
                f.write("open('/tmp/pwned', 'w').write('imported')\n")
    p = cli("exec", cid, "sh", "-c", "echo ok")
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
    assert not os.path.exists(marker)
