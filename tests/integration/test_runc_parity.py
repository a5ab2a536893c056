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
    t.size_seen(44, 120)
    t.type(b"sleep 30; echo sl''ept\r")      # Ctrl-C reaches the container's foreground job
    t.ctrl_c_to_the_job(cli.state(cid)["pid"], ["sleep", "30"])
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


# --- lifecycle ---------------------------------------------------------------------------

def test_delete_force_of_a_missing_container_exits_0(cli, leakcheck):
    cid = new_id()
    p = cli("delete", "--force", cid)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = cli("delete", cid)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_run_keep_keeps_the_stopped_container(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "exit 3")
    cid = new_id()
    p = cli("run", "--keep", "-b", bundle.path, cid)
    assert p.returncode == 3, p.stderr
    assert cli.state(cid)["status"] == "stopped"
    assert cli("delete", cid).returncode == 0
    p = cli("run", "--keep", "-d", "-b", bundle.path, new_id())
    assert p.returncode == 1 and "--keep" in p.stderr


def test_exec_cgroup_puts_the_process_in_a_sub_cgroup(cli, bundle, leakcheck):
    bundle.args("sleep", "60")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    pid = cli.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        lines = dict(line.strip().split(":", 2)[1:] for line in f)
    mem = lines.get("memory") or lines.get("")
    base = "/sys/fs/cgroup/memory" + mem if "memory" in lines else "/sys/fs/cgroup" + mem
    os.mkdir(base + "/sub")
    try:
        arg = "memory:sub" if "memory" in lines else "sub"
        p = cli("exec", "--cgroup", arg, cid, "cat", "/proc/self/cgroup")
        assert p.returncode == 0, p.stderr
        assert any(line.endswith("/sub") for line in p.stdout.splitlines() if "memory" in line
                   or line.startswith("0::")), p.stdout
        p = cli("exec", "--cgroup", "nosuch", cid, "true")
        assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
        p = cli("exec", "--cgroup", "../x", cid, "true")
        assert p.returncode == 1 and "invalid --cgroup" in p.stderr, p.stderr
    finally:
        assert cli("delete", "--force", cid).returncode == 0
        if os.path.isdir(base + "/sub"):
            os.rmdir(base + "/sub")


def test_state_never_says_creating_after_create_returned(cli, bundle, tmp_path, leakcheck):
    # A createRuntime hook keeps `create` busy: `state` meanwhile waits for it.
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sh",
                                                 "args": ["sh", "-c", "sleep 1.5"]}]}
    bundle.args("sleep", "60")
    cid = new_id()
    creating = subprocess.Popen(cli.cmd("create", "-b", bundle.path, cid), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(cli.root, cid, "state.json")):
                break
            time.sleep(0.02)
        assert cli.state(cid)["status"] == "created"
    finally:
        assert creating.wait(30) == 0
    assert cli("delete", "--force", cid).returncode == 0
    # A create killed half-way: "stopped", never "creating"; delete removes it.
    env = dict(os.environ, PYCONTAINER_TEST_CRASH_AT="after-pivot")
    cid = new_id()
    bundle.config.pop("hooks")
    bundle.write()
    p = cli("create", "-b", bundle.path, cid, env=env)
    assert p.returncode != 0
    assert cli.state(cid)["status"] == "stopped"
    assert cli("delete", cid).returncode == 0


def test_failed_poststart_hook_stops_the_container_and_fails_start(cli, bundle, leakcheck):
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/false"}]}
    bundle.args("sleep", "60")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    pid = cli.state(cid)["pid"]
    p = cli("start", cid)
    assert p.returncode == 1 and "poststart" in p.stderr, p.stderr
    assert not pid_alive(pid)
    assert cli.state(cid)["status"] == "stopped"
    assert cli("delete", cid).returncode == 0
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 1 and "poststart" in p.stderr


def test_hooks_without_env_get_the_runtimes_environment(cli, bundle, tmp_path, leakcheck):
    os.chmod(tmp_path, 0o755)
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"env > {tmp_path}/inherit"]},
        {"path": "/bin/sh", "args": ["sh", "-c", f"env > {tmp_path}/given"], "env": ["A=1"]}]}
    bundle.write()
    cid = new_id()
    p = cli.create(cid, bundle.path, env=dict(os.environ, PYC_HOOK_MARK="yes"))
    assert p.returncode == 0, p.stderr
    assert "PYC_HOOK_MARK=yes" in (tmp_path / "inherit").read_text()
    given = (tmp_path / "given").read_text()
    assert "A=1" in given and "PYC_HOOK_MARK" not in given
    assert cli("delete", "--force", cid).returncode == 0


# --- the process -------------------------------------------------------------------------

def _passwd(bundle):
    with open(os.path.join(bundle.rootfs, "etc", "passwd"), "a") as f:
        f.write("app:x:1000:1000:app:/home/app:/bin/sh\n")


def test_home_comes_from_etc_passwd_for_init_and_exec(cli, bundle, leakcheck):
    _passwd(bundle)
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.args("sh", "-c", "echo HOME=$HOME; sleep 60")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    pid = cli.state(cid)["pid"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = f.read().split(b"\0")
    assert b"HOME=/home/app" in env
    assert cli("exec", cid, "sh", "-c", "echo $HOME").stdout.strip() == "/home/app"
    assert cli("exec", "--user", "4242", cid, "sh", "-c", "echo $HOME").stdout.strip() == "/"
    assert cli("exec", "-e", "HOME=/x", cid, "sh", "-c", "echo $HOME").stdout.strip() == "/x"
    assert cli("delete", "--force", cid).returncode == 0
    bundle.config["process"]["user"] = {"uid": 0, "gid": 0}
    bundle.args("sh", "-c", "echo HOME=$HOME")
    assert "HOME=/root" in cli("run", "-b", bundle.path, new_id()).stdout


def test_missing_cwd_is_created_for_the_user_and_a_file_cwd_fails(cli, bundle, leakcheck):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1001}
    bundle.config["process"]["cwd"] = "/work/deep/dir"
    bundle.config["root"]["readonly"] = True
    bundle.args("sh", "-c", "pwd; stat -c %u:%g:%a /work/deep/dir")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["/work/deep/dir", "1000:1001:755"]
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.write()
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 1 and "not a directory" in p.stderr.lower(), p.stderr


def test_stdio_is_chowned_to_a_non_root_user(cli, bundle, tmp_path, leakcheck):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.args("sh", "-c", "stat -L -c %u /proc/self/fd/1")
    out = tmp_path / "out"
    with open(out, "w") as f:
        p = subprocess.run(cli.cmd("run", "-b", bundle.path, new_id()), stdout=f,
                           stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    assert out.read_text().strip() == "1000" and os.stat(out).st_uid == 1000


def test_unknown_seccomp_syscall_is_skipped(cli, bundle, leakcheck):
    unknown = "definitely_not_a_syscall_" + new_id().replace("-", "_")   # never a cached filter
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": [unknown, "keyctl"], "action": "SCMP_ACT_ERRNO"}]}
    bundle.args("sh", "-c", "grep Seccomp: /proc/self/status")
    p = cli("--debug", "run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert "Seccomp:\t2" in p.stdout
    assert unknown in p.stderr and "ignored" in p.stderr


# --- fields implemented or refused, and `features` --------------------------------------

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _written(path, timeout=10) -> str:
    """A line the container writes to ``path``, once it is all there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return text
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{path} not written in {timeout} s")


def test_scheduler_iopriority_memorypolicy_personality_time_offsets(cli, bundle, leakcheck):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 1000, "nanosecs": 0}}
    bundle.args("sh", "-c", "uname -m > /tmp/arch; cut -d. -f1 /proc/uptime > /tmp/up; sleep 60")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0, "run failed"
    pid = cli.state(cid)["pid"]
    try:
        f = _stat_fields(pid)
        assert f[16] == "7" and f[38] == "3", (f[16], f[38])     # nice, policy SCHED_BATCH
        out = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True).stdout
        assert "best-effort: prio 6" in out, out
        with open(f"/proc/{pid}/numa_maps") as nm:
            assert " bind:0 " in nm.read()
        assert _written(os.path.join(bundle.rootfs, "tmp/arch")).strip() in ("i686", "i386")
        assert int(_written(os.path.join(bundle.rootfs, "tmp/up"))) >= 86400 * 1000
        # exec gets the process fields too
        p = cli("exec", cid, "sh", "-c", "cut -d' ' -f19 /proc/self/stat")
        assert p.stdout.strip() == "7", p.stdout
    finally:
        assert cli("delete", "--force", cid).returncode == 0


@pytest.mark.parametrize("edit, needle", [
    (lambda c: c["process"].update(scheduler={"policy": "SCHED_OTHER", "nice": 40}),
     "invalid scheduler.nice"),
    (lambda c: c["process"].update(scheduler={"policy": "SCHED_OTHER", "priority": 3}),
     "scheduler.priority"),
    (lambda c: c["process"].update(ioPriority={"class": "IOPRIO_CLASS_XX", "priority": 1}),
     "ioPriority.Class"),
    (lambda c: c["linux"].update(memoryPolicy={"mode": "MPOL_BIND", "nodes": ""}),
     "at least one node"),
    (lambda c: c["linux"].update(timeOffsets={"monotonic": {"secs": 1}}), "time namespace"),
    (lambda c: c["linux"].update(intelRdt={"closID": "x"}), "not supported"),
    (lambda c: c["linux"].update(netDevices={"eth9": {}}), "not supported"),
    (lambda c: c["mounts"].append({"destination": "/mnt", "type": "bind", "source": "/tmp",
                                   "options": ["rbind"],
                                   "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}),
     "idmapped"),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                                          "listenerPath": "/run/agent.sock"}), "not supported"),
    (lambda c: c["linux"].update(personality={"domain": "LINUX", "flags": ["X"]}), "flags"),
])
def test_unimplemented_or_bad_fields_are_refused_in_one_line(cli, bundle, leakcheck, edit, needle):
    edit(bundle.config)
    bundle.write()
    p = cli.create(new_id(), bundle.path)
    assert p.returncode == 1, p.stderr
    assert p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr


def test_features_lists_what_is_supported(cli):
    f = json.loads(cli("features", root=False).stdout)
    assert f["linux"]["intelRdt"] == {"enabled": False}
    assert f["linux"]["mountExtensions"]["idmap"] == {"enabled": False}
    assert f["linux"]["netDevices"] == {"enabled": False}
    assert "MPOL_BIND" in f["linux"]["memoryPolicy"]["modes"]
    assert "SCMP_ACT_NOTIFY" not in f["linux"]["seccomp"]["actions"]
    assert "SCMP_ARCH_X86_64" in f["linux"]["seccomp"]["archs"]


# --- mounts and devices ------------------------------------------------------------------

def test_mount_through_a_dangling_symlink_lands_inside_the_root(cli, bundle, leakcheck):
    os.symlink("/srv/real/data", os.path.join(bundle.rootfs, "data"))
    os.symlink("../srv/rel", os.path.join(bundle.rootfs, "tmp", "rel"))
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["mode=712"]},
        {"destination": "/tmp/rel/x", "type": "tmpfs", "source": "tmpfs"}]
    bundle.args("sh", "-c", "stat -c %a /srv/real/data; grep -c ' /srv/' /proc/self/mountinfo")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["712", "2"], p.stdout
    assert os.path.isdir(os.path.join(bundle.rootfs, "srv/real/data"))
    assert os.path.isdir(os.path.join(bundle.rootfs, "srv/rel/x"))


def test_tmpfs_root_takes_the_mountpoint_mode_without_a_mode_option(cli, bundle, leakcheck):
    os.makedirs(os.path.join(bundle.rootfs, "opt/seven"))
    os.chmod(os.path.join(bundle.rootfs, "opt/seven"), 0o750)
    bundle.config["mounts"] += [
        {"destination": "/opt/seven", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/opt/new", "type": "tmpfs", "source": "tmpfs"}]
    bundle.args("stat", "-c", "%a", "/opt/seven", "/opt/new")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["750", "1777"]


def test_bind_source_is_checked_on_the_host_first(cli, bundle, leakcheck):
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind",
                                    "source": "/nonexistent/pyc-src", "options": ["rbind"]})
    bundle.write()
    p = cli.create(new_id(), bundle.path)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert "does not exist on the host" in p.stderr


def test_device_path_with_a_trailing_slash_is_normalised(cli, bundle, leakcheck):
    bundle.config["linux"]["devices"] = [{"path": "/dev/mynull/", "type": "c", "major": 1,
                                          "minor": 3, "fileMode": 0o666}]
    bundle.args("stat", "-c", "%F %t:%T", "/dev/mynull")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "character special file 1:3"


def test_sysctl_rules_and_domainname(cli, bundle, leakcheck):
    for key in ("kernel.hostname", "kernel.domainname"):
        bundle.config["linux"]["sysctl"] = {key: "x"}
        bundle.write()
        p = cli.create(new_id(), bundle.path)
        assert p.returncode == 1 and "conflicts with the OCI" in p.stderr, p.stderr
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] not in ("ipc", "network")]
    for key, needle in (("kernel.shmmax", "ipc namespace"), ("net.ipv4.ip_forward", "network")):
        bundle.config["linux"]["sysctl"] = {key: "1"}
        bundle.write()
        p = cli.create(new_id(), bundle.path)
        assert p.returncode == 1 and needle in p.stderr, p.stderr
    bundle.config["linux"]["namespaces"].append({"type": "ipc"})
    bundle.config["linux"]["sysctl"] = {"kernel.shmmax": "12345678"}
    bundle.config["domainname"] = "example.org"
    bundle.args("sh", "-c", "cat /proc/sys/kernel/domainname /proc/sys/kernel/shmmax")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0 and p.stdout.split() == ["example.org", "12345678"], p.stderr
    bundle.config["linux"].pop("sysctl")
    bundle.args("cat", "/proc/sys/kernel/domainname")
    assert cli("run", "-b", bundle.path, new_id()).stdout.strip() == "example.org"
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] != "uts"]
    bundle.config.pop("hostname")
    bundle.write()
    p = cli.create(new_id(), bundle.path)
    assert p.returncode == 1 and "domainname without a private UTS" in p.stderr, p.stderr


# --- cgroups -----------------------------------------------------------------------------

def _cgroup_dir(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return f"/sys/fs/cgroup/{ctrls}{path}"
            if ctrls == "" and not os.path.isdir(f"/sys/fs/cgroup/{controller}"):
                return f"/sys/fs/cgroup{path}"
    return None


def test_blkio_weight_without_bfq_is_a_warning(cli, bundle, leakcheck):
    bundle.config["linux"]["resources"]["blockIO"] = {"weight": 500}
    bundle.args("sleep", "60")
    cid = new_id()
    p = cli("run", "-d", "-b", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    try:
        d = _cgroup_dir(cli.state(cid)["pid"], "blkio") or _cgroup_dir(cli.state(cid)["pid"], "io")
        files = [f for f in ("blkio.bfq.weight", "blkio.weight", "io.bfq.weight", "io.weight")
                 if os.path.exists(os.path.join(d, f))]
        if files:
            assert "ignored" not in p.stderr
        else:
            assert "blockIO.weight: ignored" in p.stderr and "BFQ" in p.stderr, p.stderr
    finally:
        assert cli("delete", "--force", cid).returncode == 0


def test_rt_runtime_under_the_default_parent(cli, bundle, leakcheck):
    if not os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        pytest.skip("no cgroup v1 cpu.rt_runtime_us (RT group scheduling) on this host")
    bundle.config["linux"]["resources"]["cpu"] = {"realtimePeriod": 1000000,
                                                  "realtimeRuntime": 20000}
    bundle.args("sleep", "60")
    cid = new_id()
    p = cli("run", "-d", "-b", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    try:
        d = _cgroup_dir(cli.state(cid)["pid"], "cpu")
        assert open(os.path.join(d, "cpu.rt_runtime_us")).read().strip() == "20000"
        assert int(open(os.path.join(os.path.dirname(d), "cpu.rt_runtime_us")).read()) >= 20000
        # the container may run a SCHED_FIFO task now
        p = cli("exec", cid, "sh", "-c", "chrt -f 1 true && echo fifo-ok")
        assert "fifo-ok" in p.stdout or "not found" in p.stderr, p.stderr
    finally:
        assert cli("delete", "--force", cid).returncode == 0


# --- the CLI -----------------------------------------------------------------------------

def test_log_path_is_opened_at_start_up(cli, tmp_path, leakcheck):
    for argv in (("state", "x"), ("list",), ("features",)):
        p = cli("--log", str(tmp_path / "no" / "such" / "dir.log"), *argv)
        assert p.returncode == 1, argv
        assert p.stderr.count("\n") == 1 and "--log" in p.stderr and "No such file" in p.stderr


def test_list_json_of_no_containers_is_null_as_runcs(cli, tmp_path):
    p = cli("--root", str(tmp_path / "root"), "list", "-f", "json")
    assert p.returncode == 0 and p.stdout == "null\n", (p.stdout, p.stderr)


def test_spec_rootless_writes_runcs_rootless_template(cli, bundle, leakcheck):
    os.unlink(os.path.join(bundle.path, "config.json"))
    assert cli("spec", "--rootless", "-b", bundle.path).returncode == 0
    with open(os.path.join(bundle.path, "config.json")) as f:
        spec = json.load(f)
    types = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "user" in types and "network" not in types
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert spec["linux"]["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in spec["linux"]
    sys_mount = [m for m in spec["mounts"] if m["destination"] == "/sys"]
    assert sys_mount == [{"destination": "/sys", "type": "none", "source": "/sys",
                          "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}]
    assert not any(o.startswith(("uid=", "gid=")) for m in spec["mounts"] for o in m.get("options", []))
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map"]
    spec["root"]["readonly"] = False
    bundle.write(spec)
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", str(os.geteuid()), "1"]


# --- long names and IDs (issue 11, item 6) -----------------------------------------------

@pytest.mark.parametrize("length", [201, 241, 256, 300])
def test_long_ids_are_refused_up_front_by_the_runc_verbs(cli, bundle, leakcheck, length):
    cid = "a" * length
    for argv in (("create", "-b", bundle.path, cid), ("run", "-b", bundle.path, cid),
                 ("state", cid), ("delete", cid)):
        p = cli(*argv)
        assert p.returncode == 1, (argv, p.stderr)
        assert p.stderr.count("\n") == 1 and "at most 200" in p.stderr, p.stderr
    ok = "b" * 200
    assert cli("create", "-b", bundle.path, ok).returncode == 0
    assert cli("delete", "--force", ok).returncode == 0


@pytest.mark.parametrize("name", ["x" * 250, "bad/name", "-dash", "a", "ünicode"])
def test_bad_or_long_names_fail_with_125_and_leave_nothing(cli, leakcheck, name):
    holds = "/var/lib/pycontainer/images/holds"
    p = cli("run", "--rm", "--net", "none", "--name", name, "busybox", "true")
    assert p.returncode == 125, p.stderr
    assert p.stderr.count("\n") == 1 and "container name" in p.stderr, p.stderr
    if "/" not in name:
        assert not os.path.exists(os.path.join(holds, name + ".json"))


def test_api_refuses_a_long_name_up_front(cli, leakcheck):
    sys.path.insert(0, ROOT)
    from pycontainer import api
    client = api.Client(root=cli.root)
    with pytest.raises(api.APIError, match="container name"):
        client.containers.run("busybox", ["true"], name="n" * 250, network_mode="none")
