"""Bad input and faults: one clear line, a non-zero exit, and nothing left behind.

``leakcheck`` diffs mountinfo, the pycontainer cgroups and the state dir
before and after each test.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import new_id

pytestmark = pytest.mark.root


def _one_line_error(p, *needles):
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("bad_id, why", [("", "empty"), ("a/b", "letters"), (".", "letters"),
                                         ("..", "letters"), ("a b", "letters")])
def test_bad_ids(cli, bundle, leakcheck, bad_id, why):
    _one_line_error(cli.create(bad_id, bundle.path), "invalid container ID", why)


def test_duplicate_id(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    before = cli.state(cid)
    _one_line_error(cli.create(cid, bundle.path), "already exists", cid)
    assert cli.state(cid) == before         # the first container is untouched
    cli("delete", "--force", cid)


def test_missing_bundle_and_config(cli, tmp_path, leakcheck):
    _one_line_error(cli.create(new_id(), str(tmp_path / "nope")), "does not exist")
    os.makedirs(tmp_path / "empty")
    _one_line_error(cli.create(new_id(), str(tmp_path / "empty")), "no config.json")


@pytest.mark.parametrize("mutate, needle", [
    (lambda c: "{not json", "not valid JSON"),
    (lambda c: c.update(process={"args": "sh"}) or c, "process.args"),
    (lambda c: c["process"].update(args=[]) or c, "process.args"),
    (lambda c: c["process"].update(cwd="tmp") or c, "process.cwd must be an absolute path"),
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}) or c, "bogus"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}) or c, "listed twice"),
    (lambda c: c["mounts"].append({"destination": "relative", "type": "tmpfs"}) or c, "absolute"),
    (lambda c: c["process"].update(user={"uid": "root"}) or c, "process.user.uid"),
    (lambda c: c["root"].update(path="missing") or c, "root.path"),
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_BOGUS") or c, "CAP_BOGUS"),
    (lambda c: c["linux"].update(sysctl={"kernel.panic": "1"}) or c, "not in a separate kernel namespace"),
    (lambda c: c.update(hooks={"prestart": [{"path": "rel"}]}) or c, "hooks.prestart"),
])
def test_invalid_config(cli, bundle, leakcheck, mutate, needle):
    cfg = mutate(json.loads(json.dumps(bundle.config)))
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
    _one_line_error(cli.create(new_id(), bundle.path), needle)


def test_missing_program_says_no_such_file(cli, bundle, leakcheck, tmp_path):
    bundle.args("/bin/nonexistent")
    log = tmp_path / "log.json"
    p = cli("--log", str(log), "--log-format", "json", "create", "--bundle", bundle.path, new_id())
    _one_line_error(p, "no such file or directory", "/bin/nonexistent")
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "no such file or directory" in last["msg"] and last["time"]
    bundle.args("nonexistent-in-path")
    _one_line_error(cli.create(new_id(), bundle.path), "not found in $PATH", "no such file or directory")


def test_non_executable_program_says_permission_denied(cli, bundle, leakcheck):
    bundle.args("/etc/passwd")
    _one_line_error(cli.create(new_id(), bundle.path), "permission denied")
    bundle.args("/etc")
    _one_line_error(cli("run", "-b", bundle.path, new_id()), "permission denied")


def test_start_of_unknown_and_of_running(cli, bundle, leakcheck):
    _one_line_error(cli("start", "nope"), "does not exist")
    _one_line_error(cli("delete", "nope"), "does not exist")
    _one_line_error(cli("kill", "nope"), "does not exist")
    _one_line_error(cli("state", "nope"), "does not exist")


def test_failing_mount_leaves_nothing(cli, bundle, leakcheck):
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": "/nonexistent/x",
                                    "options": ["rbind"]})
    bundle.write()
    _one_line_error(cli.create(new_id(), bundle.path), "/nonexistent/x", "does not exist")


def test_failing_hook_leaves_nothing(cli, bundle, leakcheck):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}]}
    bundle.write()
    _one_line_error(cli.create(new_id(), bundle.path), "createRuntime hook", "status 4", "nope")


def test_hook_timeout(cli, bundle, leakcheck):
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]}
    bundle.write()
    _one_line_error(cli.create(new_id(), bundle.path), "timed out")


# The symlinked-/proc and mount-destination-symlink tests moved to
# tests/security/test_procfs_mount_races.py (the CVE catalogue).


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_kill_9_during_create_is_recoverable(cli, bundle, leakcheck, delay):
    # A slow createRuntime hook keeps `create` mid-way; kill -9 it at various points.
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "2"]}]}
    bundle.args("sleep", "30")
    cid = new_id()
    proc = subprocess.Popen(cli.cmd("create", "--bundle", bundle.path, cid),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    p = cli("delete", "--force", cid)
    assert p.returncode == 0 or "does not exist" in p.stderr, p.stderr


def test_kill_9_while_created_then_delete_force(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    pid = cli.state(cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert cli.state(cid)["status"] == "stopped"
    assert cli("delete", cid).returncode == 0


def test_unsupported_global_flags(cli, bundle, leakcheck):
    _one_line_error(cli("--rootless", "true", "list"), "rootless")
    p = cli("--systemd-cgroup", "list")
    assert p.returncode == 0 and "systemd" in p.stderr


def test_usage_errors_are_one_line_and_runcs_status(cli, leakcheck):
    # runc (urfave/cli) exits 1 for a flag it does not know or a missing argument; an unknown
    # verb is one line too (docker exits 1 for it)
    for args in (("state", "--bogus", "x"), ("delete",), ("list", "--bogus"), ("kill", "--bogus", "x"),
                 ("spec", "--bogus"), ("--bogus", "list"), ("no-such-verb",)):
        p = cli(*args)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "--help" in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr and "Usage:" not in p.stderr


def test_a_group_without_a_command_prints_its_help(cli, leakcheck):
    # as runc, docker and click 8.1: the help on stdout, status 0 (click 8.2+ raises instead)
    for args in ((), ("image",), ("volume",), ("network",), ("container",), ("system",)):
        p = cli(*args)
        assert (p.returncode, p.stderr) == (0, ""), (args, p.stderr)
        assert p.stdout.startswith("Usage: pycontainer") and "Commands:" in p.stdout, args
    # docker's management forms have docker's verbs: image build/push/import, container update
    for group, verbs in (("image", {"build", "push", "import", "pull", "ls", "list", "rm"}),
                         ("container", {"update", "ls", "list", "run", "export", "commit"}),
                         ("system", {"df", "events", "info", "prune"}),
                         ("builder", {"build", "prune"})):
        listed = {line.split()[0] for line in cli(group).stdout.split("Commands:")[1].splitlines()
                  if line.strip()}
        assert verbs <= listed, (group, verbs - listed)


def test_gc_reclaims_a_create_killed_mid_way(cli, bundle, leakcheck):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "3"]}]}
    bundle.args("sleep", "30")
    cid = new_id()
    proc = subprocess.Popen(cli.cmd("create", "--bundle", bundle.path, cid),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait until the init exists (the record has a pid); not with `state`, which waits
    # for a create in progress to finish (it never reports "creating" to its caller).
    rec = os.path.join(cli.root, cid, "state.json")
    deadline = time.monotonic() + 15            # generous: a loaded host may stall the create

    def has_pid() -> bool:
        try:
            with open(rec) as f:
                return bool(json.load(f)["pid"])
        except (OSError, ValueError, KeyError):
            return False
    while not has_pid() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert has_pid(), "the create never recorded its init"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)
    # A stopped container that someone kept is not gc's business; this one is a crashed create.
    keep = new_id("keep")
    bundle.config.pop("hooks")
    bundle.args("true")
    assert cli("run", "-d", "-b", bundle.path, keep).returncode == 0
    p = cli("gc")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["containers"] == [cid]
    assert cli("state", cid).returncode != 0
    assert cli("state", keep).returncode == 0
    cli("delete", "--force", keep)


def test_cwd_that_is_not_a_directory_fails_create(cli, bundle, leakcheck):
    # A missing cwd is created, as runc does (test_runc_parity); a file or a path through
    # a file is an error.
    bundle.config["process"]["cwd"] = "/etc/passwd/sub"
    bundle.write()
    _one_line_error(cli.create(new_id(), bundle.path), "process.cwd", "/etc/passwd/sub")
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.write()
    _one_line_error(cli("run", "-b", bundle.path, new_id()), "not a directory")
