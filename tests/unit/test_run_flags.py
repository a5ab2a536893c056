"""docker run's flags as run_flags turns them into build() options and config.json."""

import json
import os

import pytest

from pycontainer import run_flags
from pycontainer.errors import PyContainerError


def test_env_file_and_bare_names_take_the_callers_value(tmp_path):
    f = tmp_path / "env"
    f.write_text("# comment\n\nA=1\nFROM_HOST\nMISSING\nB=x=y\n")
    o = run_flags.apply({"env_file": [str(f)], "env": ["C=3", "FROM_HOST", "A=override"]},
                        environ={"FROM_HOST": "h"})
    assert o["env"] == ["A=1", "FROM_HOST=h", "B=x=y", "C=3", "FROM_HOST=h", "A=override"]
    with pytest.raises(PyContainerError, match="--env-file"):
        run_flags.apply({"env_file": [str(tmp_path / "nope")]})
    f.write_text("BAD NAME=1\n")
    with pytest.raises(PyContainerError, match="invalid environment"):
        run_flags.apply({"env_file": [str(f)]})


def test_bad_values_are_refused_before_anything(tmp_path):
    (tmp_path / "cid").write_text("x")
    for o, msg in (({"stop_signal": "SIGNOPE"}, "--stop-signal"),
                   ({"cidfile": str(tmp_path / "cid")}, "--cidfile"),
                   ({"platform": "linux"}, "--platform"),
                   ({"platform": "windows/amd64"}, "--platform"),
                   ({"label": ["=v"]}, "--label"),
                   ({"userns": "auto"}, "--userns")):
        with pytest.raises(PyContainerError, match=msg):
            run_flags.apply(dict(o))


def _cfg(net=None):
    from pycontainer.spec import default_spec
    cfg = default_spec(["true"], terminal=False)
    cfg["annotations"] = {}
    if net is not None:
        cfg["annotations"]["org.pycontainer.network"] = json.dumps(net)
    return cfg


def test_to_spec_tmpfs_shm_ulimit():
    cfg = _cfg()
    run_flags.to_spec(cfg, {"tmpfs": ["/t", "/u:size=1m,mode=700"], "shm_size": "2m",
                            "ulimit": ["nofile=10:20", "nproc=-1"]}, {})
    m = {x["destination"]: x for x in cfg["mounts"]}
    assert m["/t"]["options"] == ["noexec", "nosuid", "nodev"] and m["/u"]["options"] == ["size=1m", "mode=700"]
    assert "size=2097152" in m["/dev/shm"]["options"]
    rl = {r["type"]: r for r in cfg["process"]["rlimits"]}
    assert rl["RLIMIT_NOFILE"] == {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}
    assert rl["RLIMIT_NPROC"]["soft"] == 2 ** 64 - 1
    for bad in ({"tmpfs": ["rel"]}, {"shm_size": "lots"}, {"ulimit": ["nofile=5:1"]},
                {"ulimit": ["nosuch=1"]}):
        with pytest.raises(PyContainerError):
            run_flags.to_spec(_cfg(), bad, {})


def test_to_spec_hosts_dns_and_publish_all():
    cfg = _cfg({"mode": "bridge", "hostname": "h", "ports": []})
    image = {"config": {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}}
    run_flags.to_spec(cfg, {"add_host": ["db:10.0.0.5"], "dns": ["1.1.1.1"], "dns_search": ["ex"],
                            "publish_all": True}, image)
    req = json.loads(cfg["annotations"]["org.pycontainer.network"])
    assert req["extra_hosts"] == {"db": "10.0.0.5"} and req["dns"] == ["1.1.1.1"]
    assert req["dns_search"] == ["ex"]
    assert sorted((p["container_port"], p["protocol"]) for p in req["ports"]) == [(53, "udp"), (80, "tcp")]
    assert all(1 <= p["host_port"] <= 65535 for p in req["ports"])
    with pytest.raises(PyContainerError, match="--add-host"):
        run_flags.to_spec(_cfg({"mode": "none"}), {"add_host": ["nocolon"]}, {})
    with pytest.raises(PyContainerError, match="--dns"):
        run_flags.to_spec(_cfg({"mode": "none"}), {"dns": ["not-an-ip"]}, {})
    with pytest.raises(PyContainerError, match="network namespace"):
        run_flags.to_spec(_cfg(), {"dns": ["1.1.1.1"]}, {})


def test_write_cidfile(tmp_path):
    run_flags.write_cidfile({"cidfile": str(tmp_path / "c")}, "abc")
    assert (tmp_path / "c").read_text() == "abc"
    run_flags.write_cidfile({}, "abc")
    assert os.listdir(tmp_path) == ["c"]


def test_health_config_flags_over_the_images_healthcheck():
    from pycontainer import health
    img = {"config": {"Healthcheck": {"Test": ["CMD", "/bin/check", "-q"], "Interval": 5 * 10**9,
                                      "Retries": 7}}}
    c = health.config({}, img)
    assert c == {"cmd": ["/bin/check", "-q"], "interval": 5.0, "timeout": 30.0,
                 "start_period": 0.0, "retries": 7}
    c = health.config({"health_cmd": "curl -f x", "health_interval": "250ms"}, img)
    assert c["cmd"] == ["/bin/sh", "-c", "curl -f x"] and c["interval"] == 0.25 and c["retries"] == 7
    assert health.config({"no_healthcheck": True}, img) is None
    assert health.config({}, {"config": {"Healthcheck": {"Test": ["NONE"]}}}) is None
    assert health.config({}, {}) is None
    with pytest.raises(PyContainerError, match="--health-timeout"):
        health.check_flags({"health_timeout": "soon"})
