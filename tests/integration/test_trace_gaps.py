"""The trace tells the whole story (issue 19, gaps a, b, d, e, f): read from ``--trace-to json``.

Every line names its stage, the system call or file, its arguments, the
config field or docker flag that asked for it, and how long it took; the
image, config and network steps are traced, and the runtime's time has no
silent hole.
"""

from __future__ import annotations

import json
import socket

import pytest

from conftest import new_id

pytestmark = pytest.mark.root

# instants: nothing to time (a fork, a pid reported, the end of the program, the last steps
# after the sink is closed), or Python's own work (imports, interpreter start)
INSTANT = {"fork", "init started", "exit", "close_range", "execve", "veth already gone",
           "seccomp SECCOMP_SET_MODE_FILTER + execve",   # one C call that ends in the program
           "command line parsed"}                         # a mark for bench/breakdown.py
NO_FIELD = {"startup", "command line parsed"}


def events(p) -> list[dict]:
    out = []
    for line in p.stderr.splitlines():
        if line.startswith('{"t"'):
            out.append(json.loads(line))
    assert out, p.stderr
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def largest_gap(evs: list[dict], until: str) -> tuple[float, str]:
    """The longest stretch of the runtime's own time that no step covers, before ``until``."""
    stop = next(e["t"] for e in evs if e["action"] == until and e["stage"] == "runtime")
    spans = sorted((e["t"] - e.get("ms", 0), e["t"], e["action"]) for e in evs
                   if e["stage"] == "runtime" and e["t"] <= stop)
    worst, where, end = 0.0, "", spans[0][1]
    for start, t, action in spans[1:]:
        if start - end > worst:
            worst, where = start - end, action
        end = max(end, t)
    return worst, where


def check_every_line(evs: list[dict]) -> None:
    for e in evs:
        assert e["stage"] and e["action"], e
        if e["action"] not in INSTANT:
            assert "ms" in e, f"no duration: {e}"
        if e["action"] not in NO_FIELD and not e["action"].startswith("import "):
            assert e.get("field"), f"no config field or flag: {e}"


@pytest.fixture
def docker_none(cli, leakcheck):
    p = cli("--trace-to", "json", "run", "--rm", "--net", "none", "--name", new_id(), "busybox", "true")
    assert p.returncode == 0, p.stderr
    return events(p)


@pytest.fixture
def docker_bridge(cli, leakcheck):
    port = free_port()
    p = cli("--trace-to", "json", "run", "--rm", "-p", f"127.0.0.1:{port}:80", "--name", new_id(),
            "busybox", "true")
    assert p.returncode == 0, p.stderr
    return events(p), port


def test_a_image_and_config_steps_are_traced_from_the_start(docker_none):
    evs = docker_none
    actions = [e["action"] for e in evs]
    for want in ("startup", "find in index.json", "read manifest, config, layer dirs", "hold image",
                 "mkdir upper, work (overlay plan)", "image config -> process",
                 "docker options -> network request", "write config.json"):
        assert want in actions, f"{want!r} not traced"
    start = next(e for e in evs if e["action"] == "startup")
    assert start["t"] < 5 and start["ms"] > 0               # the interpreter's start, measured
    assert any(a.startswith("import pycontainer.") for a in actions)
    gap, where = largest_gap(evs, "fork")
    assert gap < 15, f"{gap:.1f} ms untraced before {where!r}"
    assert next(e for e in evs if e["action"] == "find in index.json")["field"] == "IMAGE"


def test_b_pyroute2_import_is_a_step_and_bridge_mode_has_no_silent_gap(docker_bridge):
    evs, _ = docker_bridge
    imports = [e for e in evs if e["action"] == "import pyroute2"]
    assert imports and all(e["ms"] >= 0 for e in imports)
    gap, where = largest_gap(evs, "network setup")
    assert gap < 15, f"{gap:.1f} ms untraced before {where!r}"


def test_d_nft_steps_carry_the_ruleset(docker_bridge):
    evs, port = docker_bridge
    nft = [e for e in evs if e["action"] == "nft -j"]
    assert len(nft) >= 2                                     # publish, and unpublish on --rm
    publish = next(e for e in nft if e["args"]["what"].startswith("publish"))
    text = json.dumps(publish["args"]["ruleset"])
    assert str(port) in text and "127.0.0.1" in text and '"create"' in text


def test_e_netlink_lines_name_the_network_flag(docker_bridge):
    evs, port = docker_bridge
    net = [e for e in evs if e["action"].startswith(("rtnetlink", "setns+socket", "nft", "ipam"))]
    assert len(net) >= 8
    for e in net:
        assert "org.pycontainer.network" in e.get("field", ""), e
    assert any("--network bridge" in e["field"] for e in evs if e["action"].startswith("rtnetlink"))
    publish = next(e for e in net if e["action"] == "nft -j" and e["args"]["what"].startswith("publish"))
    assert f"-p 127.0.0.1:{port}:80/tcp" in publish["field"]
    check_every_line(evs)


def test_f_each_mount_line_names_its_own_entry(docker_none):
    mounts = [e for e in docker_none if e["stage"] == "init" and e["action"] == "mount"]
    by_field: dict[str, set] = {}
    for e in mounts:
        by_field.setdefault(e["field"], set()).add(e["args"]["target"])
    overlay = [e for e in mounts if e["args"].get("type") == "overlay"]
    assert overlay and overlay[0]["field"] == "root.path"
    assert "lowerdir=" in overlay[0]["args"]["data"]
    for field, targets in by_field.items():
        if field.startswith("mounts["):
            top = min(targets, key=len)                     # cgroup v1: one entry, many mounts
            assert all(t == top or t.startswith(top + "/") for t in targets), (field, targets)
    etc = [e for e in mounts if e["args"]["target"] in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")]
    assert len(etc) == 3 and all("org.pycontainer.network" in e["field"] for e in etc)
    # mounts[3] is the 4th entry of docker's default config: /dev/shm
    assert by_field.get("mounts[3]") == {"/dev/shm"}
    check_every_line(docker_none)


def test_net_none_lo_is_the_inits_step_and_the_files_need_no_state_write(cli, leakcheck):
    """--net none: lo is up and /etc/hosts names the container, but the runtime neither
    enters the netns (the init brings lo up in the netns it made, as runc's "loopback") nor
    does anything between the init's namespaces and its CONTINUE: the files (in the state
    dir) and the record of the init's pid are made before GO, while the init imports."""
    name = new_id()
    p = cli("--trace-to", "json", "run", "--rm", "--net", "none", "--name", name, "--hostname", "solo",
            "busybox", "sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net; grep solo /etc/hosts")
    assert p.returncode == 0, p.stderr
    flags, links, hosts = p.stdout.strip().split("\n", 2)
    assert int(flags, 16) & 0x1 and links == "lo"               # IFF_UP; no other interface
    assert "solo" in hosts
    evs = events(p)
    lo = [e for e in evs if e["action"] == "ioctl SIOCSIFFLAGS"]
    assert [e["stage"] for e in lo] == ["init"], lo
    runtime = [e["action"] for e in evs if e["stage"] == "runtime"]
    ready = len(runtime) - 1 - runtime[::-1].index("recv from init")     # the last: READY
    between = runtime[runtime.index("recv from init") + 1:ready]
    assert between == ["init started"], between
    assert runtime.index("network setup") < runtime.index("write cgroup.procs")


def test_bundle_run_and_exec_lines_name_their_fields(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    r = cli("--trace-to", "json", "run", "-d", "-b", bundle.path, cid)
    assert r.returncode == 0, r.stderr
    check_every_line(events(r))
    proc = dict(bundle.config["process"], args=["true"], terminal=False)
    path = f"{bundle.path}/p.json"
    with open(path, "w") as f:
        json.dump(proc, f)
    r = cli("--trace-to", "json", "exec", "--process", path, cid)
    assert r.returncode == 0, r.stderr
    evs = events(r)
    check_every_line(evs)
    setns = [e for e in evs if e["action"] == "setns"]
    assert setns and all(e["args"]["file"].startswith("/proc/") for e in setns)
    r = cli("--trace-to", "json", "delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    check_every_line(events(r))


def test_tracing_off_costs_one_lookup():
    """``step`` and ``asked_by`` do nothing but check the sink when tracing is off."""
    import sys
    from pycontainer import trace
    assert not trace.enabled()
    before = list(sys.meta_path)
    with trace.asked_by("x"), trace.step("y", "z", a=1):
        pass
    assert sys.meta_path == before                           # no import timer installed
