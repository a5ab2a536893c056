"""docker run's namespace modes (--ipc, --pid, --uts, --cgroupns: nsmodes.py), the limits beside
--memory/--cpus (--cpu-period, --cpu-quota, --memory-reservation, --memory-swappiness,
--storage-opt size=), and --sysctl, --oom-score-adj, --domainname, --annotation, --expose,
--kernel-memory.

Checked from outside: /proc/PID/ns/* of the container's init against ours and another
container's, its cgroup's files, /proc/PID/oom_score_adj, and the namespaced sysctls read
with nsenter(1) in the init's namespaces. Beside podman in test_docker_vs_podman.py.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


def ns(pid, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def init_pid(cli, cid: str) -> int:
    p = cli("inspect", "-f", "{{.State.Pid}}", cid)
    assert p.returncode == 0, p.stderr
    return int(p.stdout)


def detached(cli, *flags) -> tuple[str, int]:
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, *flags, "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()                  # the ID (what names the cgroup), not the name
    return cid, init_pid(cli, cid)


def nspids(pid: int) -> list[str]:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[1:] for line in f if line.startswith("NSpid:"))


def shm_mounted(pid: int) -> bool:
    with open(f"/proc/{pid}/mountinfo") as f:
        return any(line.split()[4] == "/dev/shm" for line in f)


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """The init's cgroup v1 file ``name`` of ``controller`` (this host lane is hybrid)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                for mount in (controller, ctrls):
                    d = f"/sys/fs/cgroup/{mount}{path}"
                    if os.path.isdir(d):
                        with open(os.path.join(d, name)) as g:
                            return g.read().strip()
    pytest.skip(f"no cgroup v1 {controller} hierarchy here")


def test_namespace_modes_seen_from_outside(cli, dleak):
    me = os.getpid()
    a, pa = detached(cli)
    try:
        for kind in ("ipc", "pid", "uts", "cgroup", "mnt"):
            assert ns(pa, kind) != ns(me, kind), kind        # private: the default
        assert nspids(pa)[-1] == "1" and shm_mounted(pa)
        # container:NAME joins the other's namespace (found by name), the rest stay its own
        b, pb = detached(cli, "--ipc", f"container:{a}", "--pid", f"container:{a}")
        assert ns(pb, "ipc") == ns(pa, "ipc") and ns(pb, "pid") == ns(pa, "pid")
        assert ns(pb, "uts") != ns(pa, "uts") and ns(pb, "mnt") != ns(pa, "mnt")
        assert len(nspids(pb)) == 2 and nspids(pb)[-1] != "1"   # not pid 1: a's init is
        # host: no namespace of its own; --ipc host also binds the host's /dev/shm
        c, pc = detached(cli, "--ipc", "host", "--pid", "host", "--uts", "host", "--cgroupns", "host")
        for kind in ("ipc", "pid", "uts", "cgroup"):
            assert ns(pc, kind) == ns(me, kind), kind
        assert ns(pc, "mnt") != ns(me, "mnt") and len(nspids(pc)) == 1
        assert os.stat(f"/proc/{pc}/root/dev/shm").st_dev == os.stat("/dev/shm").st_dev
        assert cli("exec", c, "hostname").stdout.strip() == os.uname().nodename
        # --network host: the host's netns, and docker's name and /etc/hosts: the host's
        # (its daemon sets Hostname to os.Hostname(), libnetwork copies /etc/hosts), then
        # --add-host's; its own UTS namespace still
        p = cli("run", "--rm", "--network", "host", "--add-host", "extra.test:10.9.9.9", "busybox",
                "sh", "-c", "readlink /proc/self/ns/net; hostname; cat /etc/hosts")
        out = p.stdout.splitlines()
        assert p.returncode == 0 and out[0] == os.readlink("/proc/self/ns/net"), p.stderr
        assert out[1] == os.uname().nodename
        assert "\n".join(out[2:]) + "\n" == open("/etc/hosts").read().rstrip("\n") + \
            "\n10.9.9.9\textra.test\n"
        # --ipc none: its own namespace and no /dev/shm at all
        d, pd = detached(cli, "--ipc", "none")
        assert ns(pd, "ipc") != ns(me, "ipc") and not shm_mounted(pd)
        assert cli("rm", "-f", b, c, d).returncode == 0
        # joining a container that is not running is refused, and nothing is made
        assert cli("stop", "-t", "1", a).returncode == 0
        p = cli("run", "--rm", "--net", "none", "--pid", f"container:{a}", "busybox", "true")
        assert p.returncode == 125 and "not running" in p.stderr and len(p.stderr.splitlines()) == 1
    finally:
        cli("rm", "-f", a)


def test_limits_sysctls_oom_domainname_annotations(cli, dleak):
    cid, pid = detached(cli, "--cpu-period", "50000", "--cpu-quota", "25000", "-m", "64m",
                        "--memory-reservation", "32m", "--memory-swappiness", "10",
                        "--oom-score-adj", "300", "--sysctl", "kernel.msgmax=65536",
                        "--sysctl", "net.ipv4.ip_forward=1", "--domainname", "example.org",
                        "--annotation", "com.example/owner=ci")
    try:
        assert cgroup_file(pid, "cpu", "cpu.cfs_period_us") == "50000"
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "25000"
        assert cgroup_file(pid, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
        assert cgroup_file(pid, "memory", "memory.swappiness") == "10"
        with open(f"/proc/{pid}/oom_score_adj") as f:
            assert f.read().strip() == "300"

        def inside(flag, path):
            p = subprocess.run(["nsenter", "-t", str(pid), flag, "cat", path],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            return p.stdout.strip()
        assert inside("-i", "/proc/sys/kernel/msgmax") == "65536"
        assert inside("-n", "/proc/sys/net/ipv4/ip_forward") == "1"
        assert inside("-u", "/proc/sys/kernel/domainname") == "example.org"
        with open(os.path.join(CDIR, cid, "config.json")) as f:
            assert json.load(f)["annotations"]["com.example/owner"] == "ci"
    finally:
        cli("rm", "-f", cid)


def test_expose_adds_to_publish_all_and_kernel_memory_warns(cli, dleak):
    cid = new_id()
    p = cli("run", "-d", "--name", cid, "-P", "--expose", "8080", "--expose", "9090/udp",
            "--kernel-memory", "10m", "busybox", "sleep", "60")
    try:
        assert p.returncode == 0, p.stderr
        assert "--kernel-memory is ignored" in p.stderr
        ports = cli("port", cid).stdout
        assert "8080/tcp -> 0.0.0.0:" in ports and "9090/udp -> 0.0.0.0:" in ports, ports
    finally:
        cli("rm", "-f", cid)


def test_exec_privileged_gets_every_capability_we_hold(cli, dleak):
    # docker exec --privileged and the API's exec_run(privileged=True): all the runtime's own
    # capabilities, not all the kernel knows (a host may lack one: capset would refuse it)
    with open("/proc/self/status") as f:
        ours = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    cid, _pid = detached(cli)
    try:
        eff = "grep CapEff /proc/self/status"
        assert cli("exec", cid, "sh", "-c", eff).stdout.split()[1] != ours
        assert cli("exec", "--privileged", cid, "sh", "-c", eff).stdout.split()[1] == ours
        import pycontainer
        c = pycontainer.Client(root=cli.root)
        try:
            code, out = c.containers.get(cid).exec_run(["sh", "-c", eff], privileged=True)
            assert code == 0 and out.split()[1].decode() == ours
        finally:
            c.close()
    finally:
        cli("rm", "-f", cid)


def test_docker_update_changes_limits_now_and_for_the_next_start(cli, dleak):
    cid, pid = detached(cli)
    try:
        p = cli("update", "--cpus", "0.5", "-m", "64m", "--restart", "on-failure:3", cid)
        assert (p.returncode, p.stdout) == (0, cid + "\n"), p.stderr
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cli("inspect", "-f", "{{json .HostConfig.RestartPolicy}} {{.HostConfig.Memory}}",
                   cid).stdout.split() == ['{"Name":"on-failure","MaximumRetryCount":3}', str(64 << 20)]
        assert cli("stop", "-t", "0", cid).returncode == 0 and cli("start", cid).returncode == 0
        pid = init_pid(cli, cid)                          # a new init, the same limits
        assert cgroup_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        # runc's own flags on a docker container: docker's update too (engines' runc update of
        # a bundle container stays runc's: test_cgroups_runtime.py)
        assert cli("update", "--memory", "48m", cid).stdout == cid + "\n"
        assert cli("inspect", "-f", "{{.HostConfig.Memory}}", cid).stdout.strip() == str(48 << 20)
        # docker: what its daemon refuses is 1, a value its flag parser refuses 125
        for bad, status in ((("--cpus", "99"), 1), (("--restart", "sometimes"), 1), (("-m", "lots"), 125),
                            (("--cpus", "abc"), 125), (("--pids-limit", "x"), 125)):
            p = cli("update", *bad, cid)
            assert p.returncode == status and len(p.stderr.splitlines()) == 1, (bad, p.stderr)
    finally:
        cli("rm", "-f", cid)
    rm = new_id()
    assert cli("run", "-d", "--rm", "--net", "none", "--name", rm, "busybox", "sleep", "60").returncode == 0
    try:
        p = cli("update", "--restart", "always", rm)
        assert p.returncode == 1 and "--rm" in p.stderr
    finally:
        cli("rm", "-f", rm)


def test_cgroup_parent_places_the_container_below_it(cli, dleak):
    """docker's --cgroup-parent: the container's cgroup is PARENT/ID (absolute here), limits and
    update apply there, rm removes it; the parent stays, as docker leaves it (removed here)."""
    parent = "/" + new_id("pyc-parent")
    cid, pid = detached(cli, "--cgroup-parent", parent, "-m", "64m")
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            paths = {line.rstrip().split(":", 2)[2] for line in f}
        assert f"{parent}/{cid}" in paths, paths
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert cli("update", "-m", "48m", cid).returncode == 0
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(48 << 20)
        assert cli("rm", "-f", cid).returncode == 0
        left = [d for d in os.listdir("/sys/fs/cgroup")
                if os.path.isdir(f"/sys/fs/cgroup/{d}{parent}/{cid}")]
        assert left == []
    finally:
        cli("rm", "-f", cid)
        for d in os.listdir("/sys/fs/cgroup"):            # the parent the test asked for
            if os.path.isdir(f"/sys/fs/cgroup/{d}{parent}"):
                os.rmdir(f"/sys/fs/cgroup/{d}{parent}")


def test_storage_opt_size_is_the_writable_layers_size(cli, dleak):
    p = cli("run", "--rm", "--net", "none", "--storage-opt", "size=16m", "busybox", "sh", "-c",
            "df -k / | tail -1")
    assert p.returncode == 0 and p.stdout.split()[-5] == "16384", (p.stdout, p.stderr)


def test_docker_flags_that_name_what_is_already_so(cli, dleak):
    """--runtime runc, --isolation default and --mount ...,volume-driver=local name what every
    container here gets (compose files and scripts carry them); they were unknown flags."""
    p = cli("run", "--rm", "--net", "none", "--runtime", "runc", "--isolation", "default",
            "--mount", "type=volume,dst=/v,volume-driver=local", "busybox", "echo", "ok")
    assert (p.returncode, p.stdout) == (0, "ok\n"), p.stderr


@pytest.mark.parametrize("flags, needle", [
    (("--ipc", "bogus"), "--ipc 'bogus'"), (("--pid", "private:x"), "--pid"),
    (("--uts", "container:x"), "--uts"), (("--cgroupns", "none"), "--cgroupns"),
    (("--pid", "container:no-such-container"), "no such container"),
    (("--uts", "host", "--hostname", "h"), "--uts host"),
    (("--sysctl", "vm.swappiness=1"), "it would change the host"),
    (("--ipc", "host", "--sysctl", "kernel.msgmax=1"), "host's ipc namespace"),
    (("--sysctl", "novalue"), "KEY=VALUE"), (("--oom-score-adj", "5000"), "-1000 and 1000"),
    (("--annotation", "org.pycontainer.dir=/"), "the runtime's own"),
    (("--expose", "http"), "--expose"), (("--cpu-quota", "10"), "cpu-quota"),
    (("--memory-reservation", "128m", "-m", "64m"), "memory-reservation"),
    (("--storage-opt", "size"), "--storage-opt"), (("--storage-opt", "dm.basesize=1g"), "storage_opt"),
    (("--storage-opt", "size=1k"), "storage_opt"), (("--volumes-from", "no-such"), "no such container"),
    (("--cgroup-parent", "../up"), "--cgroup-parent"), (("--cgroup-parent", "a:b"), "--cgroup-parent"),
    (("--isolation", "hyperv"), "only 'default'"), (("--runtime", "nvidia"), "--gpus all"),
    (("--mount", "type=volume,dst=/v,volume-driver=nfs"), "only local"),
])
def test_bad_values_are_125_one_line_and_leave_nothing(cli, dleak, flags, needle):
    p = cli("run", "--rm", "--net", "none", *flags, "busybox", "true")
    assert p.returncode == 125, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and needle in p.stderr, p.stderr


def _shm_mounts(cid: str) -> int:
    with open("/proc/self/mountinfo") as f:
        return sum(f"/containers/{cid}/shm " in line for line in f)


def test_ipc_shareable_shares_dev_shm_with_who_joins_it(cli, dleak):
    # --ipc container:NAME shared the IPC namespace but not /dev/shm (POSIX shm): a donor run
    # with --ipc shareable now has its /dev/shm mounted on the host, and a joiner binds it
    a, b, plain = new_id(), new_id(), new_id()
    assert cli("run", "-d", "--net", "none", "--name", a, "--ipc", "shareable", "--shm-size", "16m",
               "busybox", "sh", "-c", "echo from-a > /dev/shm/x; sleep 60").returncode == 0
    ida = cli.id_of(a)
    try:
        assert _shm_mounts(ida) == 1
        p = cli("run", "--rm", "--net", "none", "--name", b, "--ipc", f"container:{a}", "busybox", "sh", "-c",
                "cat /dev/shm/x; df -k /dev/shm | tail -1 | awk '{print $2}'; echo from-b > /dev/shm/y")
        assert p.stdout.split() == ["from-a", "16384"], p.stdout + p.stderr
        assert cli("exec", a, "cat", "/dev/shm/y").stdout == "from-b\n"
        assert cli("run", "-d", "--net", "none", "--name", plain, "busybox", "sleep", "60").returncode == 0
        p = cli("run", "--rm", "--net", "none", "--ipc", f"container:{plain}", "busybox", "sh", "-c",
                "ls /dev/shm | wc -l")
        assert p.stdout.strip() == "0"                    # a non-shareable donor: its namespace only
        p = cli("run", "--rm", "--net", "none", "--ipc", "shareable", "busybox", "nosuchprog")
        assert p.returncode == 127
    finally:
        cli("rm", "-f", a, plain)
    assert _shm_mounts(ida) == 0 and not os.path.exists(f"/var/lib/pycontainer/containers/{ida}")
    with open("/proc/self/mountinfo") as f:
        assert "/shm " not in "".join(ln for ln in f if "/var/lib/pycontainer/containers/" in ln)


def test_an_oom_kill_is_137_oomkilled_and_docker_s_status(cli, dleak):
    name = new_id()
    p = cli("run", "--net", "none", "--name", name, "-m", "8m", "--memory-swap", "8m", "busybox",
            "sh", "-c", "x=a; while :; do x=$x$x; done")
    assert p.returncode == 137, p.stderr
    assert cli("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", name).stdout.split() == \
        ["true", "137"]
    status = cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}").stdout.strip()
    assert re.fullmatch(r"Exited \(137\) .* ago", status), status       # docker's State.String()
    assert cli("rm", name).returncode == 0
