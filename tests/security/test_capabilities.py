"""S12 ★ capabilities and S13 ★ no_new_privs / setuid.

Checked from the host in /proc/PID/status, and by what a setuid binary and a
raw socket can still do inside.
"""

import os
import shutil

import pytest

from conftest import new_id, status_of_program
from _helpers import one_line_error, probe, probe_bin  # noqa: F401

pytestmark = pytest.mark.root

DOCKER_MASK = 0x00000000a80425fb      # docker's 14 (moby oci/caps/defaults.go)
CAP_NET_BIND_SERVICE, CAP_NET_RAW = 10, 13


def _status_of_running(cli, bundle, *args):
    bundle.args(*args)
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    s = status_of_program(cli.state(cid)["pid"], args[0])    # start returns before the exec
    cli("delete", "--force", cid)
    return s


def test_S12_default_set_is_dockers_14(cli, bundle, leakcheck):
    s = _status_of_running(cli, bundle, "sleep", "30")
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert int(s[key], 16) == DOCKER_MASK, (key, s[key])
    assert int(s["CapInh"], 16) == 0 and int(s["CapAmb"], 16) == 0
    assert s["NoNewPrivs"] == "1"


def test_S12_non_root_user_without_ambient_has_no_effective_caps(cli, bundle, leakcheck):
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    s = _status_of_running(cli, bundle, "sleep", "30")
    assert int(s["CapEff"], 16) == 0 and int(s["CapPrm"], 16) == 0 and int(s["CapAmb"], 16) == 0
    assert int(s["CapBnd"], 16) == DOCKER_MASK


def test_S12_five_sets_and_ambient_as_the_config_says(cli, bundle, leakcheck):
    one = ["CAP_NET_BIND_SERVICE"]
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {
        "bounding": one + ["CAP_CHOWN"], "effective": one, "permitted": one,
        "inheritable": one, "ambient": one}
    s = _status_of_running(cli, bundle, "sleep", "30")
    bit = 1 << CAP_NET_BIND_SERVICE
    assert int(s["CapBnd"], 16) == bit | 1
    for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(s[key], 16) == bit, (key, s[key])


def test_S12_dropping_net_raw_stops_raw_sockets(cli, bundle, leakcheck):
    bundle.args("ping", "-c", "1", "-W", "1", "127.0.0.1")
    assert cli("run", "-b", bundle.path, new_id()).returncode == 0       # control: with NET_RAW
    caps = [c for c in bundle.config["process"]["capabilities"]["bounding"] if c != "CAP_NET_RAW"]
    bundle.config["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    bundle.write()
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode != 0 and "ermission" in p.stderr + p.stdout, (p.stdout, p.stderr)


def test_S12_unknown_capability_is_one_line(cli, bundle, leakcheck):
    bundle.config["process"]["capabilities"]["ambient"] = ["CAP_WIZARDRY"]
    bundle.write()
    one_line_error(cli.create(new_id(), bundle.path), "CAP_WIZARDRY")


def test_S12_docker_cap_add_drop_privileged_rules():
    """Unit: moby's TweakCapabilities (drop ALL + add X = X; add ALL - drop X; add wins)."""
    from pycontainer.api import config as api
    from pycontainer.errors import SpecError
    from pycontainer.spec import DEFAULT_CAPS
    assert api.capabilities((), (), False) == sorted(DEFAULT_CAPS)
    assert api.capabilities(["NET_RAW"], ["ALL"], False) == ["CAP_NET_RAW"]
    assert api.capabilities([], ["ALL"], False) == []
    everything = api.capabilities(["ALL"], [], False)
    assert "CAP_SYS_ADMIN" in everything and "CAP_SYS_ADMIN" not in api.capabilities(["ALL"], ["sys_admin"], False)
    assert api.capabilities((), (), True) == everything
    assert "CAP_SYS_ADMIN" in api.capabilities(["cap_sys_admin"], [], False)
    assert "CAP_CHOWN" not in api.capabilities([], ["CHOWN"], False)
    assert "CAP_CHOWN" in api.capabilities(["CHOWN"], ["CHOWN"], False)
    with pytest.raises(SpecError):
        api.capabilities(["BOGUS"], [], False)
    # a capability the runtime lacks cannot be handed out (CAP_SYS_RESOURCE on CI)
    bnd = int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("CapBnd:")), 16)
    from pycontainer.capabilities import CAPS
    assert all(bnd >> CAPS[c] & 1 for c in everything)


def test_S12_porcelain_cap_drop_all(cli, leakcheck):
    p = cli("run", "--rm", "--net", "none", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
            "busybox", "grep", "CapEff", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[1], 16) == 1 << CAP_NET_BIND_SERVICE


@pytest.mark.parametrize("nnp, want", [(True, "1000"), (False, "0")])
def test_S13_setuid_root_binary_with_and_without_no_new_privs(cli, bundle, probe, leakcheck, nnp, want):
    """A setuid-root binary run by uid 1000: NNP keeps euid 1000; the control (NNP off,
    CAP_SETUID in the bounding set) really becomes 0, so the check means something."""
    idroot = os.path.join(bundle.rootfs, "bin", "idroot")
    shutil.copy(os.path.join(bundle.rootfs, "bin", "probe"), idroot)
    os.chown(idroot, 0, 0)
    os.chmod(idroot, 0o4755)
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.args("/bin/idroot", "euid")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == want


def test_S13_porcelain_no_new_privileges_option_as_dockers(cli, probe_bin, tmp_path, leakcheck):
    """`run IMAGE` sets no_new_privs by default (docker does not: security.md S13); docker's
    `--security-opt no-new-privileges=false` (or :false) turns it off, so a setuid-root
    program run by uid 1000 becomes root as under docker, and `no-new-privileges[=true]`
    keeps it. systempaths=unconfined drops the masked and read-only /proc paths; label=
    and apparmor=unconfined are taken (no LSM applies here). Bad values: one line, 125,
    nothing left behind."""
    d = tmp_path / "suid"
    d.mkdir()
    shutil.copy(probe_bin, d / "idroot")
    os.chown(d / "idroot", 0, 0)
    os.chmod(d / "idroot", 0o4755)

    def euid(*opts):
        p = cli("run", "--rm", "--pull", "never", "--net", "none", "-u", "1000", "-v", f"{d}:/x:ro",
                *opts, "busybox", "sh", "-c", "grep NoNewPrivs /proc/self/status; /x/idroot euid")
        assert p.returncode == 0, p.stderr
        return p.stdout.split()[1:]
    assert euid() == ["1", "1000"]
    assert euid("--security-opt", "no-new-privileges=false") == ["0", "0"]
    assert euid("--security-opt", "no-new-privileges:false") == ["0", "0"]
    assert euid("--security-opt", "no-new-privileges=false", "--security-opt", "no-new-privileges") == ["1", "1000"]
    assert euid("--security-opt", "label=disable", "--security-opt", "apparmor=unconfined") == ["1", "1000"]
    sub = "grep -cE ' /proc/(acpi|keys|sys|timer_list|scsi|bus)( |$)' /proc/self/mountinfo"
    p = cli("run", "--rm", "--pull", "never", "--net", "none", "busybox", "sh", "-c", sub)
    assert int(p.stdout) >= 3, (p.stdout, p.stderr)
    p = cli("run", "--rm", "--pull", "never", "--net", "none", "--security-opt", "systempaths=unconfined",
            "busybox", "sh", "-c", sub)
    assert p.stdout.strip() == "0", (p.stdout, p.stderr)
    for bad, needle in (("no-new-privileges=maybe", "true or false"), ("apparmor=docker-default", "AppArmor"),
                        ("label=foo", "label takes"), ("bogus=1", "invalid --security-opt"),
                        ("systempaths=strict", "unconfined")):
        p = cli("run", "--rm", "--pull", "never", "--net", "none", "--security-opt", bad, "busybox", "true")
        assert p.returncode == 125, (bad, p.returncode, p.stderr)
        one_line_error(p, needle)
