"""Docker's exit statuses (issue 11 item 4): 125 engine, 126 cannot execute, 127 not found,
the program's status otherwise, 128+N for signal N; for run, exec, start -a and the API.

A container whose program could not be started stays as ``Created`` (docker
does), unless ``--rm``; runc's verbs keep runc's status 1.
"""

import json
import os
import socket
import subprocess

import pytest

from conftest import TICKS_UNTIL_GO, attached_to_the_end, new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


def mine(cli):
    """Container dirs of this test's state root (other helpers' come and go meanwhile)."""
    out = []
    for n in os.listdir(CDIR) if os.path.isdir(CDIR) else []:
        try:
            with open(os.path.join(CDIR, n, "root")) as f:
                if f.read().strip() == cli.root:
                    out.append(n)
        except OSError:
            pass
    return sorted(out)


def status(cli, cid):
    return cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid).stdout.strip()


def test_run_missing_program_is_127_and_kept_as_created(cli, dleak):
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "busybox", "nosuchcmd")
    assert p.returncode == 127, p.stderr
    assert "executable file not found" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert status(cli, cid) == "created 127"
    full = cli.id_of(cid)
    row = next(r for r in cli("ps", "-a").stdout.splitlines() if r.startswith(full[:12]))
    assert "Created" in row
    assert cli("wait", cid).stdout.strip() == "127"
    assert cli("stop", cid).returncode == 0                 # nothing runs: nothing to stop
    assert cli("restart", cid).returncode == 1              # docker restart: 1 when one failed
    # docker start tries again and fails as its daemon's answer: status 1 (docker/cli's start
    # maps no status, unlike run), the error, then "failed to start containers: NAME"
    p = cli("start", cid)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip().splitlines() == [
        "pycontainer: exec 'nosuchcmd': executable file not found in $PATH: no such file or directory",
        f"pycontainer: failed to start containers: {cid}"]
    assert cli("start", "-a", cid).returncode == 1
    assert status(cli, cid) == "created 127"
    assert cli("rm", cid).returncode == 0
    assert not os.path.exists(os.path.join(CDIR, full))


def test_run_not_executable_is_126(cli, dleak):
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "busybox", "/etc/passwd")
    assert p.returncode == 126, p.stderr
    assert "permission denied" in p.stderr
    assert status(cli, cid) == "created 126"
    assert cli("rm", cid).returncode == 0


def test_run_rm_missing_program_leaves_nothing(cli, dleak, tmp_path):
    cid, cidfile = new_id(), tmp_path / "cid"
    assert cli("run", "--rm", "--net", "none", "--name", cid, "--cidfile", str(cidfile),
               "busybox", "nosuch").returncode == 127
    full = cidfile.read_text().strip()
    assert len(full) == 64 and not os.path.exists(os.path.join(CDIR, full))
    assert cid not in cli("ps", "-a").stdout
    assert mine(cli) == []


def test_create_of_a_missing_program_succeeds_and_its_start_fails(cli, dleak):
    # docker create does not look for the program: it prints the ID and exits 0; the start
    # fails (1) and leaves it Created with the error, or, created with --rm, takes it away
    # (the API's create and start do the same: test_api_pool)
    p = cli("create", "--net", "none", "busybox", "nosuchcmd")
    assert p.returncode == 0 and len(p.stdout.strip()) == 64, p.stderr
    kept = p.stdout.strip()
    assert status(cli, kept) == "created 0"
    assert cli("start", kept).returncode == 1
    assert cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", kept) \
        .stdout.strip().startswith("created 127 exec 'nosuchcmd': executable file not found")
    p = cli("create", "--rm", "--net", "none", "busybox", "nosuchcmd")
    assert p.returncode == 0, p.stderr
    gone = p.stdout.strip()
    assert cli("start", gone).returncode == 1
    assert not os.path.exists(os.path.join(CDIR, gone)) and gone[:12] not in cli("ps", "-aq").stdout
    assert cli("rm", kept).returncode == 0
    assert mine(cli) == []


def test_run_d_missing_program_is_127_and_kept(cli, dleak):
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, "busybox", "nosuch")
    assert p.returncode == 127, p.stderr
    assert status(cli, cid) == "created 127"
    assert cli("rm", cid).returncode == 0


def test_missing_program_on_the_default_network_is_127_not_a_network_error(cli, dleak, tmp_path):
    """On the bridge (what `run IMAGE` gets) the init builds its rootfs while the runtime
    makes the veth; an init that fails (and exits, its netns with it) must be reported, not
    the setup that failed on its vanished netns (that was 125: "open network namespace")."""
    from pycontainer import network
    from pycontainer.network import bridge

    def leases():
        return {c for net in network.networks() for c in net["leases"].values()}

    rm, kept, noexec = new_id(), new_id(), new_id()
    p = cli("run", "--rm", "--name", rm, "--cidfile", str(tmp_path / "rm"), "busybox", "nosuchcmd")
    assert p.returncode == 127, p.stderr
    assert p.stderr.strip().splitlines() == [
        "pycontainer: exec 'nosuchcmd': executable file not found in $PATH: no such file or directory"]
    p = cli("run", "-d", "--name", kept, "busybox", "nosuchcmd")
    assert p.returncode == 127, p.stderr
    assert status(cli, kept) == "created 127"
    p = cli("run", "--rm", "--name", noexec, "--cidfile", str(tmp_path / "noexec"), "busybox",
            "/etc/passwd")
    assert p.returncode == 126 and "permission denied" in p.stderr, p.stderr
    ids = [(tmp_path / "rm").read_text().strip(), cli.id_of(kept), (tmp_path / "noexec").read_text().strip()]
    assert cli("rm", kept).returncode == 0
    import pycontainer                  # the API's sandbox on the bridge: the same 127
    c = pycontainer.Client(root=cli.root)
    try:
        r = c.containers.sandbox("busybox", ["nosuchcmd"])
        assert r.exit_code == 127 and b"executable file not found" in r.stderr, r
    finally:
        c.close()
    for cid in ids:                     # no veth, no lease, no directory
        assert len(cid) == 64 and not bridge.exists(bridge.veth_name(cid)), cid
        assert cid not in leases() and not os.path.exists(os.path.join(CDIR, cid))


def test_docker_cli_statuses_for_refusals_and_usage_and_change_nothing(cli, dleak, tmp_path):
    # docker/cli: run's (and create's) refusals are 125; a flag it cannot parse is 125 on
    # every verb (its flag-error function); a wrong number of arguments, an unknown
    # subcommand and what the daemon refuses (no such object, a bad filter) are 1
    # (cmd/docker/docker.go, cli/required.go, cli/command/inspect). One line each.
    before = mine(cli)
    cases = {125: [
        ("run", "--bogus-flag", "busybox", "true"),
        ("run", "--net", "none", "-m", "lots", "busybox", "true"),
        ("run", "--net", "none", "-v", "relative/x:/x", "busybox", "true"),     # not a name, not a path
        ("run", "--net", "none", "-v", f"{tmp_path}:/x:zz", "busybox", "true"),
        ("run", "--net", "none", "--pull", "never", "no-such-image-xyz", "true"),
        ("create", "--net", "none", "--pull", "never", "no-such-image-xyz"),
        ("restart", "--bogus"), ("ps", "--bogus"), ("container", "ls", "--bogus"),
        ("images", "--bogus"), ("image", "ls", "--bogus"), ("rmi", "--bogus", "x"),
        ("build", "--bogus", "."), ("build", "-t", "Bad:Name:x", "."),     # -t: a flag's value
        ("builder", "prune", "--bogus"), ("login", "--bogus", "x"),
        ("info", "--bogus"), ("push", "--bogus", "x"), ("save", "--bogus"), ("load", "--bogus"),
        ("volume", "ls", "--bogus"), ("network", "ls", "--bogus"), ("logs", "--bogus", "x"),
        ("stop", "--bogus", "x"),
    ], 1: [
        ("inspect", "no-such-container"),
        ("inspect", "-f", "{{.NoSuchField}}", "no-such-container"),
        ("port", "no-such-container"), ("top", "no-such-container"),
        ("stats", "--no-stream", "no-such-container"), ("rename", "no-such-container", "x"),
        ("stop", "no-such-container"), ("logs", "no-such-container"), ("wait", "no-such-container"),
        ("ps", "--filter", "colour=red"), ("ps", "--filter", "status=sleepy"),
        ("image", "bogus"), ("tag", "only-one"), ("history",), ("commit",), ("logs",),
        ("pull", "--platform", "linux", "x"), ("inspect", "--type", "thing", "busybox"),
    ]}
    for status, group in cases.items():
        for args in group:
            p = cli(*args)
            assert p.returncode == status, (args, p.returncode, p.stderr)
            lines = p.stderr.strip().splitlines()
            assert len(lines) == 1, (args, p.stderr)
            assert "Traceback" not in p.stderr
    p = cli("inspect", "busybox", "no-such-container")  # docker: what was found, then the miss
    assert p.returncode == 1 and json.loads(p.stdout)[0]["RepoTags"] == ["busybox:latest"]
    assert cli("inspect", "no-such-container").stdout == "[]\n"
    p = cli("inspect", "-f", "{{.Id", "busybox")       # docker/cli's inspect: a template it
    assert (p.returncode, p.stdout) == (64, "") and "template parsing error" in p.stderr  # can't parse
    assert mine(cli) == before == []


def test_name_taken_is_125(cli, dleak):
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "true").returncode == 0
    p = cli("run", "--net", "none", "--name", cid, "busybox", "true")
    assert p.returncode == 125 and "already in use" in p.stderr
    assert cli("rm", cid).returncode == 0


def test_port_taken_is_125(cli, dleak):
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    try:
        p = cli("run", "--rm", "-p", f"{port}:80", "busybox", "true")
        assert p.returncode == 125, p.stderr
    finally:
        s.close()


def test_program_status_and_signals(cli, dleak):
    assert cli("run", "--rm", "--net", "none", "busybox", "sh", "-c", "exit 3").returncode == 3
    # 128+N: the program killed by a signal it cannot ignore
    p = cli("run", "--rm", "--net", "none", "busybox", "sh", "-c", "sh -c 'kill -9 $$'; exit $?")
    assert p.returncode == 137


def test_exec_codes_for_an_image_container(cli, dleak):
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "busybox", "sleep", "60").returncode == 0
    try:
        assert cli("exec", cid, "nosuch").returncode == 127
        assert cli("exec", cid, "/etc/passwd").returncode == 126
        assert cli("exec", cid, "sh", "-c", "exit 5").returncode == 5
        assert cli("exec", cid, "sh", "-c", "kill -9 $$").returncode == 137
    finally:
        cli("rm", "-f", cid)


def test_runc_verbs_keep_status_1(cli, bundle, dleak):
    cid = new_id()
    bundle.args("nosuchcmd")
    p = cli("run", "--bundle", bundle.path, cid)
    assert p.returncode == 1, p.stderr
    bundle.args("sleep", "30")
    assert cli("run", "-d", "--bundle", bundle.path, cid).returncode == 0
    try:
        assert cli("exec", cid, "nosuch").returncode == 1          # runc's exec: 1
        assert cli("kill", cid).returncode == 0                    # runc: SIGTERM by default
    finally:
        cli("delete", "--force", cid)


def test_api_exec_run_and_sandbox_and_run(cli, dleak):
    import pycontainer
    from pycontainer.api import ContainerError
    with pycontainer.Client(root=cli.root) as client:
        r = client.containers.sandbox("busybox", ["nosuch"], network_mode="none")
        assert r.exit_code == 127 and b"executable file not found" in r.stderr
        r = client.containers.sandbox("busybox", ["/etc/passwd"], network_mode="none")
        assert r.exit_code == 126 and b"permission denied" in r.stderr
        with pytest.raises(ContainerError) as ei:
            client.containers.run("busybox", ["nosuch"], network_mode="none", remove=True)
        assert ei.value.exit_status == 127
        c = client.containers.run("busybox", ["sleep", "60"], network_mode="none", detach=True)
        try:
            code, out = c.exec_run(["nosuch"])
            assert code == 127 and b"not found" in out
            code, out = c.exec_run(["/etc/passwd"])
            assert code == 126 and b"permission denied" in out
            assert c.exec_run(["sh", "-c", "echo hi; exit 4"]) == (4, b"hi\n")
        finally:
            c.remove(force=True)
        with pytest.raises(ContainerError) as ei:
            client.containers.run("busybox", ["nosuch"], network_mode="none")
        assert ei.value.exit_status == 127
        kept = ei.value.container
        assert kept is not None and kept.status == "created"
        assert json.loads(json.dumps(kept.attrs["State"]))["ExitCode"] == 127
        kept.remove()


def test_api_create_then_start_of_a_missing_program(cli, dleak):
    import pycontainer
    from pycontainer.api import APIError
    with pycontainer.Client(root=cli.root) as client:
        c = client.containers.create("busybox", ["nosuch"], network_mode="none")
        assert c.status == "created"                         # docker: create succeeds
        with pytest.raises(APIError, match="not found"):
            c.start()
        c.reload()
        assert c.status == "created" and c.attrs["State"]["ExitCode"] == 127
        c.remove()
        ok = client.containers.create("busybox", ["sh", "-c", "exit 6"], network_mode="none")
        ok.start()
        assert ok.wait()["StatusCode"] == 6
        ok.start()                                           # a stopped one starts again
        assert ok.wait()["StatusCode"] == 6
        ok.remove()


def test_start_a_and_attach_of_an_rm_container_give_its_status(cli, dleak):
    """`create --rm` then `start -a` (run a made container once), and `attach` to a `run -d
    --rm`: the program's status, though --rm's delete removes the container as it exits
    (it waits for them to read the status: containerdir.hold_for_reading)."""
    for _ in range(3):
        cid = cli("create", "--rm", "--net", "none", "busybox", "sh", "-c",
                  "echo hi; exit 3").stdout.strip()
        p = cli("start", "-a", cid)
        assert (p.returncode, p.stdout) == (3, "hi\n"), p.stderr
    cid = cli("run", "-d", "--rm", "--net", "none", "busybox", "sh", "-c",
              TICKS_UNTIL_GO + "echo late; exit 4").stdout.strip()
    code, out, err = attached_to_the_end(cli, cid)
    assert code == 4 and out.endswith(b"tick\nlate\n"), (out, err)


def test_stop_and_rm_f_do_not_wait_for_a_waiter(cli, dleak):
    """A `wait` holds the container's directory until it has read the status (--rm's delete
    waits for it); `stop`, `kill` and `rm -f` of the container it waits on must not, or
    each would wait for the other."""
    import time
    for verb in (("stop", "-t", "0"), ("rm", "-f")):
        cid = cli("run", "-d", "--net", "none", "busybox", "sleep", "60").stdout.strip()
        w = subprocess.Popen(cli.cmd("wait", cid), stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10        # until the waiter holds the directory
            while not any(f":{os.stat(os.path.join(CDIR, cid)).st_ino} " in line
                          for line in open("/proc/locks")):
                assert time.monotonic() < deadline and w.poll() is None
                time.sleep(0.02)
            t0 = time.monotonic()
            p = cli(*verb, cid)
            # (waiting for the waiter would be for ever: the cli's 60 s timeout)
            assert p.returncode == 0 and time.monotonic() - t0 < 30, (verb, p.stderr)
            assert w.communicate(timeout=10)[0].strip() == "137"
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()
        if verb[0] == "stop":
            assert cli("rm", cid).returncode == 0


def test_a_program_the_kernel_cannot_run_says_why(cli, dleak, tmp_path):
    # The famous two: a glibc program in a busybox image (its ELF loader is missing: ENOENT
    # for a file that is there) and a script without a #! line (ENOEXEC). The runtime finds
    # the file, so the failing execve is the sealed exec helper's: it exited 127 in silence.
    # Now it says why on stderr, as runc's init does, and 127/126 as docker would.
    script = tmp_path / "noscript"
    script.write_text("echo no shebang\n")
    script.chmod(0o755)
    for mount, path, code, why in (
            ("/usr/bin/true:/dyn:ro", "/dyn", 127, "no such file or directory (a missing interpreter"),
            (f"{script}:/noscript:ro", "/noscript", 126, "exec format error")):
        p = cli("run", "--rm", "--net", "none", "-v", mount, "busybox", path)
        assert p.returncode == code, (path, p.returncode, p.stderr)
        assert p.stderr.startswith(f"pycontainer: exec {path}: {why}"), p.stderr
        cid = new_id()                          # detached: the words are in its log
        assert cli("run", "-d", "--net", "none", "--name", cid, "-v", mount, "busybox",
                   path).returncode == 0
        assert cli("wait", cid).stdout.strip() == str(code)
        assert f"pycontainer: exec {path}: {why}" in cli("logs", cid).stderr
        cli("rm", cid)
