"""Unit tests of the core's pure parts (no root, no kernel)."""

import json
import os
import signal

import pytest

from pycontainer import _fastcli, mounts, spec, state, trace
from pycontainer import syscalls as sc
from pycontainer.signals import parse_signal
from pycontainer.errors import InvalidID, SpecError


# --- IDs and state --------------------------------------------------------------------

@pytest.mark.parametrize("good", ["a", "abc-DEF_1.2+3", "x" * 100])
def test_valid_ids(good):
    assert state.validate_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "a\nb", "é"])
def test_invalid_ids(bad):
    with pytest.raises(InvalidID):
        state.validate_id(bad)


def test_state_dir_is_exclusive_and_atomic(tmp_path):
    sd = state.StateDir(str(tmp_path), "c1")
    sd.create()
    sd.write({"id": "c1", "status": "creating", "pid": 0})
    assert sd.read()["status"] == "creating"
    from pycontainer.errors import ContainerExists
    with pytest.raises(ContainerExists):
        state.StateDir(str(tmp_path), "c1").create()
    assert not [n for n in os.listdir(sd.path) if n.startswith(".state")]   # no temp files left
    sd.remove()
    assert state.list_ids(str(tmp_path)) == []


def test_status_of_a_dead_or_reused_pid_is_stopped():
    me = os.getpid()
    rec = {"status": "running", "pid": me, "pid_start": state.proc_start_time(me)}
    assert state.status_of(rec) == "running"
    rec["pid_start"] += 1          # same pid, other process: reused
    assert state.status_of(rec) == "stopped"
    assert state.status_of({"status": "running", "pid": 0}) == "stopped"


def test_oci_state_fields():
    out = state.oci_state({"id": "x", "pid": 5, "bundle": "/b", "rootfs": "/b/r", "created": "t",
                           "annotations": {"a": "b"}}, "running")
    assert out == {"ociVersion": state.OCI_VERSION, "id": "x", "pid": 5, "status": "running",
                   "bundle": "/b", "rootfs": "/b/r", "created": "t", "owner": "", "annotations": {"a": "b"}}
    assert state.oci_state({"id": "x", "pid": 5}, "stopped")["pid"] == 0


# --- the config ------------------------------------------------------------------------

def _bundle(tmp_path, cfg):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return str(tmp_path)


def test_default_spec_is_valid(tmp_path):
    cfg = spec.default_spec(["sh"])
    loaded = spec.load(_bundle(tmp_path, cfg))
    assert loaded["process"]["args"] == ["sh"]
    assert len(loaded["process"]["capabilities"]["bounding"]) == 14


@pytest.mark.parametrize("edit, field", [
    (lambda c: c.pop("ociVersion"), "ociVersion"),
    (lambda c: c["process"].__setitem__("args", ["", "x"]), "process.args[0]"),
    (lambda c: c["process"].__setitem__("env", "A=1"), "process.env"),
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type"),
    (lambda c: c["process"].__setitem__("oomScoreAdj", 5000), "oomScoreAdj"),
    (lambda c: c["linux"].__setitem__("uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
     "needs a user namespace"),
    (lambda c: c["linux"]["namespaces"].remove({"type": "uts"}), "hostname without a private UTS"),
    (lambda c: c["linux"].__setitem__("sysctl", {"net.ipv4.ip_forward": 1}), "linux.sysctl"),
    (lambda c: c["linux"].__setitem__("maskedPaths", ["proc/kcore"]), "maskedPaths"),
    (lambda c: c["linux"].__setitem__("rootfsPropagation", "sideways"), "rootfsPropagation"),
    (lambda c: c.__setitem__("hooks", {"prestop": []}), "hooks.prestop"),
    (lambda c: c.__setitem__("hooks", {"poststop": [{"path": "/x", "timeout": 0}]}), "timeout"),
    (lambda c: c["linux"]["namespaces"].append({"type": "net", "path": "/x"}), "'net'"),
    (lambda c: c["linux"]["namespaces"].append({"type": "time", "path": "x"}), "absolute"),
])
def test_invalid_configs_name_the_field(tmp_path, edit, field):
    cfg = spec.default_spec(["sh"])
    edit(cfg)
    with pytest.raises(SpecError) as e:
        spec.load(_bundle(tmp_path, cfg))
    assert field in str(e.value)
    assert "\n" not in str(e.value)


def test_sysctl_allowlist():
    ns = {"ipc", "network", "uts"}
    for ok in ("kernel.shmmax", "fs.mqueue.msg_max", "net.ipv4.ip_forward", "net/ipv4/ip_forward"):
        spec._check_sysctl(ok, ns)
    for bad in ("kernel.panic", "vm.swappiness", "fs.file-max", "kernel.domainname",
                "kernel.hostname", "user.max_user_namespaces"):
        with pytest.raises(SpecError):
            spec._check_sysctl(bad, ns)
    with pytest.raises(SpecError):
        spec._check_sysctl("net.ipv4.ip_forward", {"ipc"})


# --- mounts ----------------------------------------------------------------------------

def test_mount_options_split_into_flags_propagation_and_data():
    flags, prop, data = mounts.parse_options(["nosuid", "noexec", "mode=755", "size=64k", "rprivate", "ro"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_RDONLY
    assert prop == sc.MS_PRIVATE | sc.MS_REC
    assert data == "mode=755,size=64k"
    flags, _, _ = mounts.parse_options(["ro", "rw", "rbind"])
    assert flags == sc.MS_BIND | sc.MS_REC


def test_flag_names():
    assert sc.flag_names(sc.CLONE_NEWNS | sc.CLONE_NEWPID, sc.CLONE_NAMES) == "CLONE_NEWNS|CLONE_NEWPID"
    assert sc.flag_names(0, sc.MS_NAMES) == "0"


# --- signals -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, num", [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("sigterm", 15),
                                       ("USR1", int(signal.SIGUSR1)), ("SIGWINCH", int(signal.SIGWINCH))])
def test_parse_signal(text, num):
    assert parse_signal(text) == num


@pytest.mark.parametrize("bad", ["0", "99", "SIGFOO", "", "-1"])
def test_parse_signal_rejects(bad):
    from pycontainer.errors import PyContainerError
    with pytest.raises(PyContainerError):
        parse_signal(bad)


# --- the fast CLI path agrees with click ---------------------------------------------------

@pytest.mark.parametrize("argv, expect", [
    (["create", "--bundle", "/b", "c"], ({}, "create", {"--bundle": "/b"}, ["c"])),
    (["--root", "/r", "--log", "/l", "--log-format=json", "create", "-b", "/b", "--pid-file", "/p",
      "--console-socket", "/s", "c"],
     ({"--root": "/r", "--log": "/l", "--log-format": "json"}, "create",
      {"--bundle": "/b", "--pid-file": "/p", "--console-socket": "/s"}, ["c"])),
    (["kill", "c", "9"], ({}, "kill", {}, ["c", "9"])),
    (["kill", "--all", "c", "-9"], None),
    (["delete", "-f", "c"], ({}, "delete", {"--force": True}, ["c"])),
    (["run", "-b", "/b", "-d", "c"], ({}, "run", {"--bundle": "/b", "--detach": True}, ["c"])),
    (["run", "busybox", "echo"], None),        # the porcelain goes to click
    (["create", "--help"], None),
    (["list"], None),
    (["create", "--bogus", "c"], None),
    (["create", "busybox"], None),             # docker's create IMAGE, or runc's in a bundle: click
    (["create", "--no-pivot", "c"], ({}, "create", {"--no-pivot": True}, ["c"])),
    (["state"], None),
    (["--root", "/r", "exec", "--process", "/p.json", "--detach", "--pid-file", "/e.pid", "c"],
     ({"--root": "/r"}, "exec", {"--process": "/p.json", "--detach": True, "--pid-file": "/e.pid"}, ["c"])),
    (["exec", "-p", "/p.json", "--console-socket", "/s", "-t", "-d", "c"],
     ({}, "exec", {"--process": "/p.json", "--console-socket": "/s", "--tty": True, "--detach": True}, ["c"])),
    (["exec", "c", "sh"], None),               # a command line: click builds the process
    (["exec", "--process", "/p.json", "c", "--detach"], None),   # after the ID: the command's
    (["exec", "-t", "--process", "/p.json", "c"], None),         # a terminal for people
])
def test_fastcli_parse(argv, expect):
    assert _fastcli.parse(argv) == expect


def test_fastcli_options_exist_in_click():
    from pycontainer import cli
    for verb, (values, flags, aliases) in _fastcli._VERBS.items():
        cmd = {"run": cli.run_bundle, "create": cli.create_bundle}.get(verb) or cli.main_group.commands[verb]
        names = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert values | flags | set(aliases) <= names, verb
    gnames = {o for p in cli.main_group.params for o in getattr(p, "opts", [])}
    assert _fastcli._GLOBAL_VALUE | _fastcli._GLOBAL_FLAG <= gnames


# --- the CLI without root ----------------------------------------------------------------

def test_cli_spec_features_version(tmp_path):
    from click.testing import CliRunner

    from pycontainer import cli
    r = CliRunner().invoke(cli.main_group, ["spec", "--bundle", str(tmp_path)])
    assert r.exit_code == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    r = CliRunner().invoke(cli.main_group, ["spec", "--bundle", str(tmp_path)])
    assert r.exit_code != 0                       # refuses to overwrite
    r = CliRunner().invoke(cli.main_group, ["features"])
    f = json.loads(r.output)
    assert "pid" in f["linux"]["namespaces"] and f["ociVersionMax"].startswith("1.")
    r = CliRunner().invoke(cli.main_group, ["--version"])
    assert "pycontainer version" in r.output and "spec: 1.2.0" in r.output


# --- the trace ------------------------------------------------------------------------------

def test_trace_json_and_text(tmp_path):
    path = tmp_path / "t.jsonl"
    trace.enable(str(path))
    try:
        with trace.step("mount", "mounts[0]", type="proc", target="/proc"):
            pass
        trace.event("unshare", "linux.namespaces", flags="CLONE_NEWNS")
    finally:
        trace.close()
    events = [json.loads(x) for x in path.read_text().splitlines()]
    assert events[0]["action"] == "startup" and events[0]["ms"] > 0   # the time before enable
    events = events[1:]
    assert [e["action"] for e in events] == ["mount", "unshare"]
    assert events[0]["field"] == "mounts[0]" and events[0]["args"]["target"] == "/proc" and "ms" in events[0]
    assert not trace.enabled()
