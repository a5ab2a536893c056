"""Namespaces: new ones, joined ones (by path), and a user namespace with mappings."""

import os
import subprocess
import time

import pytest

from conftest import new_id

pytestmark = pytest.mark.root


def _ns(pid, name):
    return os.readlink(f"/proc/{pid}/ns/{name}")


def test_shared_namespaces_are_the_hosts(cli, bundle, leakcheck):
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
    bundle.config.pop("hostname", None)
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0, cli.created
    pid = cli.state(cid)["pid"]
    for name in ("net", "uts", "ipc"):
        assert _ns(pid, name) == _ns("self", name)
    for name in ("mnt", "pid"):
        assert _ns(pid, name) != _ns("self", name)
    cli("delete", "--force", cid)


def test_join_namespaces_by_path(cli, bundle, tmp_path, leakcheck):
    bundle.args("sleep", "30")
    a = new_id("a")
    assert cli.create(a, bundle.path).returncode == 0
    apid = cli.state(a)["pid"]
    b_bundle = tmp_path / "b"
    os.makedirs(b_bundle)
    os.symlink(bundle.rootfs, b_bundle / "rootfs")
    cfg = dict(bundle.config)
    cfg["linux"] = dict(cfg["linux"])
    cfg["linux"]["namespaces"] = [
        {"type": "network", "path": f"/proc/{apid}/ns/net"},
        {"type": "ipc", "path": f"/proc/{apid}/ns/ipc"},
        {"type": "uts", "path": f"/proc/{apid}/ns/uts"},
        {"type": "pid", "path": f"/proc/{apid}/ns/pid"},
        {"type": "mount"},
    ]
    cfg.pop("hostname", None)
    bundle.write(cfg) and None
    with open(b_bundle / "config.json", "w") as f:
        import json
        json.dump(cfg, f)
    b = new_id("b")
    p = cli.create(b, str(b_bundle))
    assert p.returncode == 0, p.stderr
    bpid = cli.state(b)["pid"]
    for name in ("net", "ipc", "uts", "pid"):
        assert _ns(bpid, name) == _ns(apid, name), name
    assert _ns(bpid, "mnt") != _ns(apid, "mnt")
    cli("delete", "--force", b)
    cli("delete", "--force", a)


def _user_namespace(bundle):
    subprocess.run(["chown", "-R", "100000:100000", bundle.rootfs], check=True)
    # The mapped root (host uid 100000) must be able to reach the rootfs.
    d = os.path.dirname(bundle.rootfs)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = os.path.dirname(d)
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_user_namespace_with_mappings(cli, bundle, leakcheck):
    _user_namespace(bundle)
    bundle.args("sh", "-c", "id -u; cat /proc/self/uid_map; sleep 30")
    cid = new_id()
    p = cli.create(cid, bundle.path)
    assert p.returncode == 0, p.stderr
    pid = cli.state(cid)["pid"]
    assert _ns(pid, "user") != _ns("self", "user")
    assert open(f"/proc/{pid}/uid_map").read().split() == ["0", "100000", "65536"]
    assert open(f"/proc/{pid}/gid_map").read().split() == ["0", "100000", "65536"]
    # Seen from the host, the container's root is uid 100000.
    uid_line = [ln for ln in open(f"/proc/{pid}/status") if ln.startswith("Uid:")][0]
    assert uid_line.split()[1:] == ["100000"] * 4
    cli("delete", "--force", cid)


def test_new_user_namespace_without_mappings_is_refused(cli, bundle, leakcheck):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.write()
    p = cli.create(new_id(), bundle.path)
    assert p.returncode != 0
    assert "uidMappings" in p.stderr and len(p.stderr.strip().splitlines()) == 1


PIDNS_BACK = r"""
import json, os, sys, threading
sys.path.insert(0, sys.argv[1])
from pycontainer.container import Runtime
from pycontainer.errors import PyContainerError
rt = Runtime(sys.argv[2])
bundle, ids = sys.argv[3], sys.argv[4:]
cfg_path = os.path.join(bundle, "config.json")
cfg = json.load(open(cfg_path))
out = []

def check(what):
    t = threading.Thread(target=lambda: None)
    t.start(); t.join()      # clone(CLONE_THREAD) fails while the children's namespace differs
    out.append([what, os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")])

rt.create(ids[0], bundle)
check("new")
first = rt.state(ids[0])["pid"]
for n in cfg["linux"]["namespaces"]:
    if n["type"] == "pid":
        n["path"] = f"/proc/{first}/ns/pid"
json.dump(cfg, open(cfg_path, "w"))
rt.create(ids[1], bundle)
check("joined")
for n in cfg["linux"]["namespaces"]:
    if n["type"] == "pid":
        n["path"] = "/proc/1/ns/nonesuch"
json.dump(cfg, open(cfg_path, "w"))
fds = sorted(os.listdir("/proc/self/fd"))
try:
    rt.create(ids[2], bundle)
except PyContainerError as exc:
    out.append(["refused", str(exc)])
check("after the refusal")
out.append(["fds", sorted(os.listdir("/proc/self/fd")) == fds])
print(json.dumps(out))
"""


def test_the_runtime_forks_the_init_into_its_pid_namespace_and_gets_its_own_back(cli, bundle, leakcheck,
                                                                                  tmp_path):
    """Without a user namespace there is no stage 1 (pidns.py): the runtime points its own
    children at the container's PID namespace, forks the init, and points them back, for a
    new namespace, a joined one and a refused one: a process that creates containers (the
    API's, a pool) goes on forking and making threads in its own."""
    import json
    import sys
    from conftest import ROOT
    bundle.args("sleep", "30")
    ids = [new_id(x) for x in "abc"]
    try:
        # stdio in files: the inits keep theirs open while they sleep
        with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
            p = subprocess.run([sys.executable, "-c", PIDNS_BACK, ROOT, cli.root, bundle.path, *ids],
                               stdout=out, stderr=err, timeout=60)
            err.seek(0)
            assert p.returncode == 0, err.read()
            out.seek(0)
            out = json.load(out)
        assert out[0] == ["new", True] and out[1] == ["joined", True] and out[3] == ["after the refusal", True]
        assert out[2][0] == "refused" and "pid namespace '/proc/1/ns/nonesuch'" in out[2][1], out
        assert out[4] == ["fds", True], out             # the refused create left no fd open
        a, b = cli.state(ids[0])["pid"], cli.state(ids[1])["pid"]
        assert _ns(b, "pid") == _ns(a, "pid") != _ns("self", "pid")
        # the init is the first process of its namespace, the joiner another in it
        assert [ln.split()[-1] for ln in open(f"/proc/{a}/status") if ln.startswith("NSpid:")] == ["1"]
        assert [ln.split()[-1] for ln in open(f"/proc/{b}/status") if ln.startswith("NSpid:")] != ["1"]
        assert cli("state", ids[2]).returncode != 0
    finally:
        for cid in reversed(ids):
            cli("delete", "--force", cid)


def test_a_pid_path_that_is_not_a_pid_namespace_is_one_line_and_leaves_nothing(cli, bundle, leakcheck):
    for n in bundle.config["linux"]["namespaces"]:
        if n["type"] == "pid":
            n["path"] = "/proc/self/ns/net"
    bundle.args("true")
    cid = new_id()
    p = cli("run", "-b", bundle.path, cid)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == ["pycontainer: join pid namespace '/proc/self/ns/net': Invalid argument"]
    assert cli("state", cid).returncode != 0


def test_stage_1_only_where_a_user_namespace_needs_it(cli, bundle, leakcheck):
    """The trace shows who made what: the runtime unshares CLONE_NEWPID and forks the init
    itself; with a user namespace, stage 1 makes them all and forks the init."""
    import json
    bundle.args("true")
    p = cli("--trace-to", "json", "run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    events = [json.loads(x) for x in p.stderr.splitlines() if x.startswith("{")]
    assert {e["stage"] for e in events} >= {"runtime", "init"} and "stage1" not in {e["stage"] for e in events}
    made = {}
    for e in events:
        if e["action"] == "unshare":
            made.setdefault(e["stage"], []).append(e["args"]["flags"])
    assert made["runtime"] == ["CLONE_NEWPID"]
    # the init: all but the cgroup namespace before GO, that one after (process/init.py direct)
    assert made["init"] == ["CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET", "CLONE_NEWCGROUP"], made
    forks = [e for e in events if e["action"] == "fork" and e["stage"] == "runtime"]
    assert forks[0]["args"]["what"] == "init (pid 1)"

    _user_namespace(bundle)
    bundle.args("true")
    p = cli("--trace-to", "json", "run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    events = [json.loads(x) for x in p.stderr.splitlines() if x.startswith("{")]
    assert {"runtime", "stage1", "init"} <= {e["stage"] for e in events}
    assert [e["stage"] for e in events if e["action"] == "unshare" and "CLONE_NEWPID" in e["args"]["flags"]] == ["stage1"]


def _deny_unshare_of(flag: int, err: int):
    """A preexec_fn: the runtime runs under a seccomp filter (inherited by the init it forks)
    that fails unshare(2) with ``err`` whenever ``flag`` is asked for (seccomp(2), bpf(4))."""
    import ctypes
    import platform
    import struct
    if platform.machine() != "x86_64":
        pytest.skip("the filter names x86_64's unshare")
    insns = [(0x20, 0, 0, 0),                   # A = seccomp_data.nr
             (0x15, 0, 3, 272),                 # unshare? else allow
             (0x20, 0, 0, 16),                  # A = args[0] (low 32 bits)
             (0x45, 0, 1, flag),                # flag asked? else allow
             (0x06, 0, 0, 0x00050000 | err),    # SECCOMP_RET_ERRNO | err
             (0x06, 0, 0, 0x7FFF0000)]          # SECCOMP_RET_ALLOW
    code = b"".join(struct.pack("<HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("HP", len(insns), ctypes.addressof(buf))
    pbuf = ctypes.create_string_buffer(prog, len(prog))
    libc = ctypes.CDLL(None, use_errno=True)

    def apply():
        u = ctypes.c_ulong
        if libc.prctl(38, u(1), u(0), u(0), u(0)) or \
                libc.prctl(22, u(2), u(ctypes.addressof(pbuf)), u(0), u(0)):
            os._exit(99)                        # PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP
    apply.buffers = (buf, pbuf)                 # alive as long as the function
    return apply


def test_an_init_that_fails_before_go_is_reported_and_leaves_nothing(cli, bundle, leakcheck):
    """The init makes its namespaces (all but the cgroup one) before the runtime's GO; when
    that fails, the runtime reports the init's own error (not the ESRCH or EPIPE of its next
    step on a dead child) and undoes everything: one line, exit 1, nothing left."""
    import errno
    bundle.args("true")
    cid = new_id()
    p = cli("run", "-b", bundle.path, cid, preexec_fn=_deny_unshare_of(0x04000000, errno.ENOSPC))
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pycontainer: unshare(") and "CLONE_NEWUTS" in lines[0] \
        and lines[0].endswith(": No space left on device"), p.stderr
    assert cli("state", cid).returncode != 0
