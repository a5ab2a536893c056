"""What the container's process gets: identity, capabilities, limits, fds, cwd.

Each test reads /proc/PID/status (or the program's own output) of a real
container process.
"""

import json
import os
import subprocess

import pytest

from conftest import new_id, status_of_program

pytestmark = pytest.mark.root

DOCKER_CAPS_MASK = 0x00000000a80425fb   # docker's 14 default capabilities


def _running(cli, bundle, *args, extra=()):
    bundle.args(*args)
    cid = new_id()
    p = cli.create(cid, bundle.path, *extra)
    assert p.returncode == 0, p.stderr
    assert cli("start", cid).returncode == 0
    return cid, cli.state(cid)["pid"]


def test_default_capabilities_and_no_new_privs(cli, bundle, leakcheck):
    cid, pid = _running(cli, bundle, "sleep", "30")
    s = status_of_program(pid, "sleep")      # start returns before the init sets NNP and execs
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert int(s[key], 16) == DOCKER_CAPS_MASK, key
    assert int(s["CapInh"], 16) == 0 and int(s["CapAmb"], 16) == 0
    assert s["NoNewPrivs"] == "1"
    cli("delete", "--force", cid)


def test_user_groups_umask_cwd_env(cli, bundle, leakcheck):
    proc = bundle.config["process"]
    proc["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 0o027}
    proc["cwd"] = "/tmp"
    proc["env"] = ["PATH=/bin", "HELLO=world"]
    proc["capabilities"] = {k: ["CAP_NET_BIND_SERVICE"] for k in
                            ("bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle.args("sh", "-c", "id; umask; pwd; echo $HELLO; grep -E 'CapEff|CapAmb' /proc/self/status")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("uid=1000 gid=1001") and "groups=5,7" in lines[0]
    assert lines[1:4] == ["0027", "/tmp", "world"]
    # CAP_NET_BIND_SERVICE (10) survives setuid through the ambient set.
    assert lines[4].split()[1] == f"{1 << 10:016x}"
    assert lines[5].split()[1] == f"{1 << 10:016x}"


def test_rlimits_and_oom_score_adj(cli, bundle, leakcheck):
    proc = bundle.config["process"]
    # RLIMIT_LOCKS: Python's resource module has no such name; runc sets it (setrlimit(2)
    # through _nscalls, with <sys/resource.h>'s numbers)
    proc["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                       {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88},
                       {"type": "RLIMIT_LOCKS", "soft": 55, "hard": 66},
                       {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1}]
    proc["oomScoreAdj"] = 321
    cid, pid = _running(cli, bundle, "sleep", "30")
    status_of_program(pid, "sleep")          # start returns before the init sets them and execs
    limits = open(f"/proc/{pid}/limits").read()
    assert [ln for ln in limits.splitlines() if ln.startswith("Max open files")][0].split()[3:5] == ["123", "456"]
    assert [ln for ln in limits.splitlines() if ln.startswith("Max processes")][0].split()[2:4] == ["77", "88"]
    assert [ln for ln in limits.splitlines() if ln.startswith("Max file locks")][0].split()[3:5] == ["55", "66"]
    assert [ln for ln in limits.splitlines() if ln.startswith("Max core file size")][0].split()[4:6] == \
        ["0", "unlimited"]
    assert open(f"/proc/{pid}/oom_score_adj").read().strip() == "321"
    cli("delete", "--force", cid)


def test_only_stdio_reaches_the_container(cli, bundle, tmp_path, leakcheck):
    """CVE-2024-21626 class: no host fd survives into the container."""
    leak = open(tmp_path / "leak", "w")
    os.set_inheritable(leak.fileno(), True)
    bundle.args("sh", "-c", "ls /proc/self/fd")
    p = subprocess.run(cli.cmd("run", "-b", bundle.path, new_id()), capture_output=True, text=True,
                       pass_fds=(leak.fileno(),), timeout=60)
    assert p.returncode == 0, p.stderr
    # 0-2, plus the fd ls itself opens for the directory
    assert sorted(int(x) for x in p.stdout.split()) in ([0, 1, 2, 3],)
    cid, pid = _running(cli, bundle, "sleep", "30")
    assert sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]
    cli("delete", "--force", cid)


def test_preserve_fds_passes_exactly_n_extra_fds(cli, bundle, tmp_path, leakcheck):
    out3, out4 = tmp_path / "fd3", tmp_path / "fd4"
    bundle.args("sh", "-c", "echo through-fd3 >&3; echo through-fd4 >&4; ls /proc/self/fd | wc -l")
    cmd = " ".join(f"'{a}'" for a in cli.cmd("run", "--preserve-fds", "1", "-b", bundle.path, new_id()))
    p = subprocess.run(["bash", "-c", f"exec 3>{out3} 4>{out4}; {cmd}"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert out3.read_text() == "through-fd3\n"      # fd 3 preserved
    assert out4.read_text() == ""                    # fd 4 was not: closed before exec
    assert p.stdout.strip() == "5"                   # 0,1,2,3 and ls's own directory fd


def test_masked_and_readonly_paths(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "cat /proc/kcore | wc -c; ls /sys/firmware | wc -l; "
                "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo ro")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "0", "ro"]


def test_readonly_root(cli, bundle, leakcheck):
    bundle.config["root"]["readonly"] = True
    bundle.args("sh", "-c", "touch /x 2>/dev/null && echo rw || echo ro; touch /dev/shm/x && echo shm-rw")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.stdout.split() == ["ro", "shm-rw"]


def test_devices_and_dev_symlinks(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | "
                "awk '{print $1, $5, $6, $NF}'; readlink /dev/fd; readlink /dev/ptmx; ls /dev/pts")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "crw-rw-rw- 1, 7 /dev/full"
    assert "crw-rw-rw- 1, 3 /dev/null" in lines
    assert "/proc/self/fd" in lines and "pts/ptmx" in lines
    assert "ptmx" in lines


def test_env_and_args_are_passed_exactly(cli, bundle, leakcheck):
    bundle.config["process"]["env"] = ["PATH=/bin", "A=1=2", "EMPTY="]
    bundle.args("/bin/sh", "-c", 'printf "%s|" "$0" "$A" "$EMPTY"; env | sort | tr "\\n" " "', "arg 0")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.stdout.startswith("arg 0|1=2||")
    assert "A=1=2" in p.stdout and "PATH=/bin" in p.stdout


def test_sysctl_in_the_container_namespace(cli, bundle, leakcheck):
    bundle.config["linux"]["sysctl"] = {"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"}
    bundle.args("sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward")
    host_fwd = open("/proc/sys/net/ipv4/ip_forward").read()
    p = cli("run", "-b", bundle.path, new_id())
    assert p.stdout.split() == ["1234", "1"], p.stderr
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_fwd


def test_trace_shows_the_kernel_calls(cli, bundle, leakcheck):
    bundle.args("true")
    p = cli("--trace", "run", "-b", bundle.path, new_id())
    assert p.returncode == 0
    for needle in ("unshare flags=CLONE_NEWNS", "pivot_root", "mount type=proc", "cgroup.procs",
                   "mknod path=/dev/null", "linux.maskedPaths", "prctl PR_SET_NO_NEW_PRIVS"):
        assert needle in p.stderr, needle
    p = cli("--trace-to", "json", "run", "-b", bundle.path, new_id())
    events = [json.loads(x) for x in p.stderr.splitlines() if x.startswith("{")]
    assert {"runtime", "init"} <= {e["stage"] for e in events}     # stage 1: test_namespaces.py
    unshare = [e for e in events if e["action"] == "unshare"][0]
    assert unshare["field"] == "linux.namespaces" and "ms" in unshare


@pytest.mark.parametrize("cgroupns", [True, False])
def test_container_sees_its_own_cgroup_at_sys_fs_cgroup(cli, bundle, leakcheck, cgroupns):
    """With or without a cgroup namespace, the top of /sys/fs/cgroup is the container's cgroup
    (podman reads memory.limit_in_bytes there after `podman update`)."""
    from pycontainer import cgroups
    linux = bundle.config["linux"]
    if not cgroupns:
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "cgroup"]
    linux["resources"]["memory"] = {"limit": 48 * 1024 * 1024}
    unified = cgroups.detect() == "unified"
    f = "/sys/fs/cgroup/memory.max" if unified else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    bundle.args("cat", f)
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(48 * 1024 * 1024)
