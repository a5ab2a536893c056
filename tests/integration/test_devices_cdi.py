"""--device, --gpus and CDI on the host lane (cgroup v1 device rules), no GPU needed.

A made-up vendor's spec (tests/cdi_acme.py) is applied by ``run --device``:
inside the container the node, the read-only mount, the env and the hook's
marker are checked, and that the device rules allow exactly that node; from
outside, the container's devices cgroup. The eBPF program that enforces the
same rules on cgroup v2 is also loaded into this kernel and attached to a
scratch cgroup2 directory (the hybrid host's /sys/fs/cgroup/unified).
"""

import json
import os
import re
import subprocess
import time

import pytest

import cdi_acme
from conftest import new_id

pytestmark = pytest.mark.root


@pytest.fixture
def acme(tmp_path):
    return cdi_acme.make(str(tmp_path / "acme"))


def test_cdi_device_node_mount_env_hook_and_rules(cli, leakcheck, acme):
    cid = new_id()
    p = cli("--cdi-spec-dir", acme["specs"], "run", "--rm", "--net", "none", "--name", cid,
            "--device", cdi_acme.NAME, "busybox", "sh", "-c",
            cdi_acme.CHECK + "; cat /sys/fs/cgroup/devices/devices.list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:len(cdi_acme.EXPECTED)] == cdi_acme.EXPECTED
    rules = lines[len(cdi_acme.EXPECTED):]
    assert "c 10:229 rw" in rules
    assert [r for r in rules if r.startswith("c 10:")] == ["c 10:229 rw"]   # exactly that node
    state = json.load(open(acme["marker"]))                                  # the hook ran, on the host
    assert re.fullmatch(r"[0-9a-f]{64}", state["id"]) and state["status"] == "creating"   # docker's ID


def test_cdi_rules_seen_from_outside(cli, leakcheck, acme):
    cid = new_id()
    p = cli("--cdi-spec-dir", acme["specs"], "run", "-d", "--net", "none", "--name", cid,
            "--device", cdi_acme.NAME, "busybox", "sleep", "30")
    assert p.returncode == 0, p.stderr
    try:
        cg = json.load(open(os.path.join(cli.root, cli.id_of(cid), "state.json")))["cgroup"]
        lst = open(f"/sys/fs/cgroup/devices{cg}/devices.list").read().split("\n")
        assert "c 10:229 rw" in lst and "a *:* rwm" not in lst
    finally:
        assert cli("rm", "-f", cid).returncode == 0


def test_host_device_flag_and_cgroup_rule(cli, leakcheck, acme):
    p = cli("run", "--rm", "--net", "none", "--device", f"{acme['node']}:/dev/mine:r",
            "--device-cgroup-rule", "c 1:7 r", "--group-add", "44", "busybox", "sh", "-c",
            "stat -c '%t:%T' /dev/mine; : < /dev/mine && echo r ok; "
            "(: > /dev/mine) 2>&1 | grep -q 'Operation not permitted' && echo w EPERM; "
            "id -G; grep 10: /sys/fs/cgroup/devices/devices.list")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["a:e5", "r ok", "w EPERM", "0 44", "c 10:229 r"]


def test_gpus_without_nvidia_spec_says_how_to_get_one(cli, leakcheck, tmp_path):
    cid = new_id()
    p = cli("--cdi-spec-dir", str(tmp_path), "run", "--rm", "--name", cid, "--gpus", "all",
            "busybox", "true")
    assert p.returncode == 125
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "pycontainer cdi generate --vendor nvidia" in err[0], p.stderr
    assert cli.dirs_named(cid) == []


@pytest.mark.parametrize("name, content, words", [
    ("bad.json", "{", "malformed JSON"),
    ("bad.yaml", "cdiVersion: 0.6.0\n kind: x\n", "malformed YAML"),
    ("unknown.json", None, "unknown field 'colour'"),
    ("dup.json", None, "multiple device 'w0'"),
])
def test_bad_specs_one_line_naming_the_file(cli, leakcheck, acme, name, content, words):
    spec = json.load(open(os.path.join(acme["specs"], "acme.json")))
    if name == "unknown.json":
        spec["devices"][0]["containerEdits"]["deviceNodes"][0]["colour"] = "red"
        content = json.dumps(spec)
    elif name == "dup.json":
        spec["devices"] *= 2
        content = json.dumps(spec)
    os.unlink(os.path.join(acme["specs"], "acme.json"))
    path = os.path.join(acme["specs"], name)
    with open(path, "w") as f:
        f.write(content)
    p = cli("--cdi-spec-dir", acme["specs"], "run", "--rm", "--device", cdi_acme.NAME,
            "busybox", "true")
    err = p.stderr.strip().splitlines()
    assert p.returncode == 125 and len(err) == 1, p.stderr
    assert path in err[0] and words in err[0]


def test_missing_node_path_names_the_file(cli, leakcheck, acme):
    os.unlink(acme["node"])
    p = cli("--cdi-spec-dir", acme["specs"], "run", "--rm", "--device", cdi_acme.NAME,
            "busybox", "true")
    err = p.stderr.strip().splitlines()
    assert p.returncode == 125 and len(err) == 1, p.stderr
    assert "acme.json" in err[0] and acme["node"] in err[0] and "No such file" in err[0]


def test_cdi_list_and_info_report_stale_specs(cli, acme):
    p = cli("--cdi-spec-dir", acme["specs"], "cdi", "list")
    assert p.returncode == 0 and p.stdout.split() == [cdi_acme.NAME]
    os.unlink(acme["node"])
    p = cli("--cdi-spec-dir", acme["specs"], "info")
    assert p.returncode == 0, p.stderr
    assert f"CDI devices: {cdi_acme.NAME}" in p.stdout
    assert "stale CDI spec" in p.stdout and acme["node"] in p.stdout
    env = dict(os.environ, PYCONTAINER_CDI_SPEC_DIRS=acme["specs"])
    p = cli("info", "--format", "json", env=env)
    assert json.loads(p.stdout)["cdi"]["specDirs"] == [acme["specs"]]


def test_api_devices_and_device_requests(tmp_path, acme):
    import sys
    import pycontainer
    from pycontainer import api
    from conftest import ROOT
    # the API's helper runs `python -I -m pycontainer.api`: the venv's installed checkout
    where = subprocess.run([sys.executable, "-I", "-c", "import pycontainer; print(pycontainer.__file__)"],
                           cwd="/", capture_output=True, text=True).stdout.strip()
    if not where.startswith(ROOT + "/"):
        pytest.skip(f"the venv's pycontainer is {where}, not this checkout: the API helper would run it")
    c = pycontainer.Client(root=str(tmp_path / "state"))
    try:
        out = c.containers.run("busybox", ["stat", "-c", "%t:%T", "/dev/x"], network_mode="none",
                               devices=[f"{acme['node']}:/dev/x:rw"], remove=True)
        assert out.strip() == b"a:e5"
        os.environ["PYCONTAINER_CDI_SPEC_DIRS"] = acme["specs"]
        try:
            out = c.containers.run("busybox", ["sh", "-c", "echo $ACME_VISIBLE_DEVICES"],
                                   network_mode="none", remove=True, device_requests=[
                                       api.DeviceRequest(driver="cdi", device_ids=[cdi_acme.NAME])])
            assert out.strip() == b"w0"
            with pytest.raises(pycontainer.api.APIError, match="cdi generate --vendor nvidia"):
                c.containers.run("busybox", "true", device_requests=[
                    api.DeviceRequest(count=-1, capabilities=[["gpu"]])])
        finally:
            del os.environ["PYCONTAINER_CDI_SPEC_DIRS"]
    finally:
        c.close()


def test_ebpf_program_is_enforced_by_this_kernel(tmp_path):
    """The v2 program in the real kernel: a scratch cgroup2 dir, a shell moved into it."""
    from pycontainer.cgroups import ebpf, mounts
    unified = mounts.parse().unified
    if not unified:
        pytest.skip("no cgroup2 mount")
    d = os.path.join(unified, f"pyc-ebpf-{new_id()}")
    os.mkdir(d)
    try:
        ebpf.install(d, [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}])
        assert ebpf.attached(d) == 1
        node = str(tmp_path / "n")
        os.mknod(node, 0o20600, os.makedev(10, 229))
        other = str(tmp_path / "o")
        os.mknod(other, 0o20600, os.makedev(1, 11))      # /dev/kmsg
        sh = (f"echo $$ > {d}/cgroup.procs; : < /dev/null && echo null; : < {node} && echo r; "
              f"(: > {node}) 2>&1 | grep -q 'not permitted' && echo w-eperm; "
              f"(: < {other}) 2>&1 | grep -q 'not permitted' && echo kmsg-eperm")
        out = subprocess.run(["sh", "-c", sh], capture_output=True, text=True).stdout.split()
        assert out == ["null", "r", "w-eperm", "kmsg-eperm"]
        ebpf.install(d, [{"allow": True, "access": "rwm"}])            # update: replaced, not added
        assert ebpf.attached(d) == 1
        out = subprocess.run(["sh", "-c", f"echo $$ > {d}/cgroup.procs; : < {other} && echo ok"],
                             capture_output=True, text=True).stdout.split()
        assert out == ["ok"]
    finally:
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.02)


def test_verifier_refusal_is_one_line_with_its_reason():
    from pycontainer.cgroups import ebpf
    from pycontainer.errors import CgroupError
    with pytest.raises(CgroupError) as e:
        ebpf.load(ebpf.insn(ebpf.ALU_MOV_K, 0, imm=1))       # no exit instruction
    assert "last insn is not an exit or jmp" in str(e.value) and "\n" not in str(e.value)


def test_bpf_prog_load_takes_whole_instructions():
    """_nscalls.bpf_prog_load refuses a program that is not whole 8-byte instructions before
    any system call, and a log it cannot write into (bytes) before the kernel could."""
    from pycontainer import _nscalls
    from pycontainer.cgroups import ebpf
    for insns in (b"", b"\0" * 7):
        with pytest.raises(ValueError):
            _nscalls.bpf_prog_load(ebpf.BPF_PROG_TYPE_CGROUP_DEVICE, insns, b"GPL", b"x", None)
    with pytest.raises(BufferError):
        _nscalls.bpf_prog_load(ebpf.BPF_PROG_TYPE_CGROUP_DEVICE, b"\0" * 8, b"GPL", b"x", b"read-only")


def _host_devices() -> set:
    """(path, type, major, minor) of every device node runc's HostDevices would give
    (no directory named pts, shm, fd, mqueue, .lxc, .lxd-mounts, .udev; not console)."""
    import stat
    out = set()
    for top, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts",
                                                ".udev")]
        for f in files:
            p = os.path.join(top, f)
            st = os.lstat(p)
            if f != "console" and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                out.add((p, "c" if stat.S_ISCHR(st.st_mode) else "b",
                         os.major(st.st_rdev), os.minor(st.st_rdev)))
    return out


LIST_DEVICES = ("find /dev -path /dev/pts -prune -o \\( -type c -o -type b \\) "
                "-exec stat -c '%n %t %T %F' {} +")


def _devices_seen(out: str) -> set:
    seen = set()
    for line in out.splitlines():
        p, mj, mn, kind = line.split(" ", 3)
        seen.add((p, "c" if kind.startswith("character") else "b", int(mj, 16), int(mn, 16)))
    return seen


def test_privileged_has_every_host_device_all_allowed_and_sys_writable(cli, leakcheck):
    # docker run --privileged (moby's oci_linux.go): the host's device nodes, the device
    # cgroup open ("a *:* rwm"), /sys and the cgroup tree read-write, mknod usable anywhere;
    # /dev/ptmx still this container's own (pts/ptmx), a --device at its own path not twice.
    # Before: none of the host's nodes, the default rules, /sys and the cgroups read-only.
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, "--privileged",
            "--device", "/dev/null:/dev/mynull", "--device", "/dev/tty0", "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    try:
        ex = cli("exec", cid, "sh", "-c", LIST_DEVICES)
        assert ex.returncode == 0, ex.stderr
        seen = _devices_seen(ex.stdout)
        want = {d for d in _host_devices() if d[0] != "/dev/ptmx"} | {("/dev/mynull", "c", 1, 3)}
        assert want - seen == set() and len(want) > 20
        extra = {d for d in seen - want if d[0] not in ("/dev/null", "/dev/zero", "/dev/full",
                                                         "/dev/random", "/dev/urandom", "/dev/tty")}
        assert extra == set()                               # nothing but the OCI defaults
        ex = cli("exec", cid, "sh", "-c", "readlink /dev/ptmx; mknod /tmp/l b 7 0 && "
                 "exec 3</tmp/l && echo opened")
        assert ex.stdout.splitlines() == ["pts/ptmx", "opened"], ex.stderr
        state = json.load(open(os.path.join(cli.root, cli.id_of(cid), "state.json")))
        if os.path.isdir("/sys/fs/cgroup/devices"):         # from outside: the v1 rules
            lst = open(f"/sys/fs/cgroup/devices{state['cgroup']}/devices.list").read().split("\n")
            assert lst[0] == "a *:* rwm"
        mnt = {ln.split(" - ")[0].split()[4]: ln for ln in open(f"/proc/{state['pid']}/mountinfo")}
        assert " rw," in mnt["/sys"] and "nodev" not in mnt["/"].split(" - ")[0]
        assert all(" rw," in ln for m, ln in mnt.items() if m.startswith("/sys/fs/cgroup/"))
    finally:
        assert cli("rm", "-f", cid).returncode == 0
    p = cli("run", "--rm", "--net", "none", "busybox", "sh", "-c", LIST_DEVICES)
    assert {d[0] for d in _devices_seen(p.stdout)} == {
        "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
