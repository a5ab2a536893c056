"""S14 ★ seccomp: the OCI linux.seccomp section, and docker's default profile.

The filter is checked from the host (/proc/PID/status ``Seccomp: 2``) and by
the errno a blocked call returns inside the container (the static probe,
tests/security/probe.c, makes the calls busybox cannot).
"""

import errno
import json
import os

import pytest

from conftest import new_id, proc_status, status_of_program
from _helpers import docker_seccomp, host_files, one_line_error, probe, probe_bin  # noqa: F401

pytestmark = pytest.mark.root


def _results(out: str) -> dict:
    return {k: int(v) for k, v in (ln.split("=") for ln in out.split() if "=" in ln)}


def test_S14_docker_default_profile_blocks_escapes(cli, bundle, probe, leakcheck):
    """unshare/mount/keyctl -> EPERM, clone3 -> ENOSYS (libc falls back), AF_VSOCK -> EPERM;
    a normal shell still works."""
    bundle.config["linux"]["seccomp"] = docker_seccomp()
    bundle.args("sh", "-c", f"for c in unshare mount keyctl clone3 vsock; do {probe} $c; done; "
                "ls / >/dev/null && echo ok")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    r = _results(p.stdout)
    assert r == {"unshare": errno.EPERM, "mount": errno.EPERM, "keyctl": errno.EPERM,
                 "clone3": errno.ENOSYS, "vsock": errno.EPERM}, p.stdout
    assert p.stdout.strip().endswith("ok")


def test_S14_control_without_seccomp_the_calls_reach_the_kernel(cli, bundle, probe, leakcheck):
    """The same probes without a filter: the errnos above really come from seccomp."""
    bundle.args("sh", "-c", f"for c in keyctl clone3; do {probe} $c; done")
    p = cli("run", "-b", bundle.path, new_id())
    r = _results(p.stdout)
    assert r["clone3"] == errno.EINVAL and r["keyctl"] != errno.EPERM, p.stdout


def test_S14_seccomp_mode_2_seen_from_the_host(cli, bundle, leakcheck):
    bundle.config["linux"]["seccomp"] = docker_seccomp()
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    pid = cli.state(cid)["pid"]
    assert proc_status(pid)["Seccomp"] == "0"        # created: the init is still the runtime
    assert cli("start", cid).returncode == 0
    s = status_of_program(pid, "sleep")      # start returns before the init loads its filter
    assert s["Seccomp"] == "2" and s["NoNewPrivs"] == "1" and int(s["Seccomp_filters"]) == 1
    # exec'd processes get the container's filter (kept in the state dir at create)
    p = cli("exec", cid, "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -r true")
    assert "Seccomp:\t2" in p.stdout and p.returncode != 0, (p.stdout, p.stderr)
    cli("delete", "--force", cid)


def test_S14_errnoRet_and_argument_conditions(cli, bundle, probe, leakcheck):
    """defaultAction ALLOW; mkdir -> ENOSPC (errnoRet); write(2, ...) -> EIO only for fd 2."""
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSPC},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EIO,
             "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        ]}
    bundle.args("sh", "-c", f"{probe} mkdir /tmp/x; ls /no-such-file; echo to-stdout")
    p = cli("run", "-b", bundle.path, new_id())
    assert _results(p.stdout) == {"mkdir": errno.ENOSPC}, p.stdout
    assert "to-stdout" in p.stdout and "no-such-file" not in p.stderr    # ls wrote to fd 2: EIO
    assert not os.path.exists(os.path.join(bundle.rootfs, "tmp", "x"))


def test_S14_default_errno_and_several_conditions_on_one_argument(cli, bundle, probe, leakcheck):
    """defaultErrnoRet; two conditions on the same argument are OR-ed (runc's rule)."""
    prof = docker_seccomp()
    prof["defaultErrnoRet"] = errno.EXDEV
    for r in prof["syscalls"]:
        r["names"] = [n for n in r["names"] if n != "mkdir"]
    prof["syscalls"] = [r for r in prof["syscalls"] if r["names"]]
    prof["syscalls"].append({"names": ["mkdir"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"},
                                      {"index": 1, "value": 0o755, "op": "SCMP_CMP_EQ"}]})
    bundle.config["linux"]["seccomp"] = prof
    bundle.args("sh", "-c", f"{probe} mkdir /tmp/a; {probe} keyctl")
    p = cli("run", "-b", bundle.path, new_id())
    assert _results(p.stdout) == {"mkdir": 0, "keyctl": errno.EXDEV}, p.stdout


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
def test_S14_filter_flags(cli, bundle, leakcheck, flag):
    bundle.config["linux"]["seccomp"] = dict(docker_seccomp(), flags=[flag])
    bundle.args("sh", "-c", "grep -E '^(Seccomp|Speculation_Store_Bypass):' /proc/self/status")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert "Seccomp:\t2" in p.stdout
    if flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
        # Without SPEC_ALLOW a filter forces the SSB mitigation where the CPU needs one.
        assert "force mitigated" not in p.stdout


def test_S14_without_no_new_privileges_the_filter_is_loaded_before_the_caps_drop(cli, bundle, probe,
                                                                                  leakcheck):
    """Loading a filter without NNP needs CAP_SYS_ADMIN, which the process then loses."""
    bundle.config["linux"]["seccomp"] = docker_seccomp()
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.args("sh", "-c", f"grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; {probe} keyctl")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert "Seccomp:\t2" in p.stdout and "NoNewPrivs:\t0" in p.stdout
    assert "keyctl=1" in p.stdout


@pytest.mark.parametrize("mutate, needle", [
    (lambda s: s.update(defaultAction="SCMP_ACT_MAYBE"), "unknown action"),
    (lambda s: s["syscalls"][0].update(action="ALLOW"), "unknown action"),
    (lambda s: s.update(architectures=["SCMP_ARCH_Z80"]), "unknown architecture"),
    (lambda s: s.update(architectures=["x86_64"]), "unknown architecture"),
    (lambda s: s.update(flags=["SECCOMP_FILTER_FLAG_TURBO"]), "unknown flag"),
    (lambda s: s["syscalls"].append({"names": ["read"], "action": "SCMP_ACT_KILL",
                                     "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}),
     "index must be 0..5"),
    (lambda s: s["syscalls"].append({"names": ["read"], "action": "SCMP_ACT_KILL",
                                     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}),
     "unknown operator"),
    (lambda s: s["syscalls"].append({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}),
     "errnoRet"),
    (lambda s: s.pop("defaultAction"), "defaultAction is required"),
    (lambda s: s["syscalls"].append({"names": [], "action": "SCMP_ACT_ALLOW"}), "names"),
    (lambda s: s.update(defaultAction="SCMP_ACT_NOTIFY"), "not supported"),
])
def test_S14_malformed_section_is_one_line_and_leaves_nothing(cli, bundle, leakcheck, mutate, needle):
    sec = docker_seccomp()
    mutate(sec)
    bundle.config["linux"]["seccomp"] = sec
    bundle.write()
    line = one_line_error(cli.create(new_id(), bundle.path), needle)
    assert "linux.seccomp" in line


def test_S14_profile_data_resolves_and_matches_docker():
    """Unit: the shipped profile is moby's, every name is known (or a documented newer
    syscall), EPERM by default, and it compiles for x86-64 with its 32-bit sub-arches."""
    from pycontainer.security import libseccomp, seccomp, seccomp_profile
    with open(seccomp_profile.default_profile_path()) as f:
        prof = json.load(f)
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == 1
    lib = libseccomp.open_library()
    names = {n for r in prof["syscalls"] for n in r["names"]}
    unknown = {n for n in names if lib.seccomp_syscall_resolve_name(n.encode()) == -1}
    assert unknown <= libseccomp.NEWER_SYSCALLS, unknown - libseccomp.NEWER_SYSCALLS
    sec = docker_seccomp()
    if os.uname().machine == "x86_64":
        assert sec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    flat = {n for r in sec["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}
    assert {"keyctl", "unshare", "mount", "setns", "bpf", "kexec_load", "add_key"}.isdisjoint(flat)
    assert {"read", "execve", "clone", "chroot"} & flat == {"read", "execve", "chroot"}
    f = seccomp.compile(sec, cache=False)
    # the program checks each architecture: AUDIT_ARCH_X86_64 and AUDIT_ARCH_I386 appear as constants
    consts = {int.from_bytes(f.bpf[i + 4:i + 8], "little") for i in range(0, len(f.bpf), 8)}
    assert {0xC000003E, 0x40000003} <= consts


def test_S14_cap_sys_admin_opens_the_admin_calls_as_docker_does():
    sec = docker_seccomp(["CAP_SYS_ADMIN"])
    flat = {n for r in sec["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}
    assert {"mount", "unshare", "setns", "clone"} <= flat
    assert not any(r.get("errnoRet") == errno.ENOSYS for r in sec["syscalls"])   # clone3 allowed


def test_S14_compile_cache_is_exact():
    """Unit: a cached program is returned only for the identical section."""
    from pycontainer.security import seccomp
    a = docker_seccomp()
    b = json.loads(json.dumps(a))
    b["defaultErrnoRet"] = 38
    fa, fb = seccomp.compile(a), seccomp.compile(b)
    assert fa.bpf != fb.bpf
    assert seccomp.compile(a).bpf == fa.bpf == seccomp.compile(a, cache=False).bpf


def _porcelain_has_security_opt() -> bool:
    import pycontainer.porcelain as p
    return "--security-opt" in open(p.__file__).read()


@pytest.mark.skipif(not _porcelain_has_security_opt(), reason="porcelain without --security-opt")
def test_S14_porcelain_default_unconfined_and_file(cli, tmp_path, leakcheck):
    """`run IMAGE` gets docker's profile; seccomp=unconfined and --privileged get none;
    seccomp=FILE takes a docker- or OCI-format profile; a bad FILE is one line."""
    def run(*flags):
        return cli("run", "--rm", "--net", "none", *flags, "busybox", "sh", "-c",
                   "grep '^Seccomp:' /proc/self/status; unshare -r true 2>/dev/null; echo rc=$?")
    p = run()
    assert "Seccomp:\t2" in p.stdout and "rc=1" in p.stdout, (p.stdout, p.stderr)
    assert "Seccomp:\t0" in run("--security-opt", "seccomp=unconfined").stdout
    assert "Seccomp:\t0" in run("--privileged").stdout
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSPC}]}))
    p = run("--security-opt", f"seccomp={prof}")
    assert "Seccomp:\t2" in p.stdout and f"rc=1" in p.stdout, (p.stdout, p.stderr)
    one_line_error(run("--security-opt", f"seccomp={tmp_path}/missing.json"), "missing.json")


def test_S14_engine_profiles_compile():
    """Unit: what podman/containers-common ships (if installed) converts and compiles;
    fields the OCI section does not define are ignored, as runc ignores them."""
    from pycontainer.security import seccomp, seccomp_profile
    from pycontainer.spec import DEFAULT_CAPS
    sec = dict(docker_seccomp(), futureField={"x": 1})
    assert seccomp.compile(sec, cache=False).instructions > 100
    path = "/usr/share/containers/seccomp.json"
    if not os.path.exists(path):
        pytest.skip("containers-common's seccomp.json is not installed")
    with open(path) as f:
        prof = json.load(f)
    sec = seccomp_profile.from_docker(prof, DEFAULT_CAPS)
    assert set(sec) <= set(seccomp_profile.OCI_FIELDS) | {"syscalls"}
    assert seccomp.compile(sec, cache=False).instructions > 100
