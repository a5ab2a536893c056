"""CDI specs (reading, the reference's checks, conflicts), their edits, the run flags,
the nvidia generator on a fake host, and the YAML subset reader. No root needed."""

import json
import os

import pytest

from pycontainer.cdi import edits, nvidia, requests, spec as cdispec, yamlsubset
from pycontainer.cdi.registry import Registry
from pycontainer.errors import DeviceError

GOOD = {"cdiVersion": "0.6.0", "kind": "acme.example/widget",
        "containerEdits": {"env": ["ACME=1"]},
        "devices": [{"name": "w0", "containerEdits": {"deviceNodes": [{"path": "/dev/null"}]}}]}


def write(d, name, obj):
    p = os.path.join(str(d), name)
    with open(p, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def error_of(tmp_path, name, content):
    with pytest.raises(DeviceError) as e:
        cdispec.read(write(tmp_path, name, content))
    msg = str(e.value)
    assert "\n" not in msg and os.path.join(str(tmp_path), name) in msg
    return msg


def test_good_spec_in_json_and_yaml(tmp_path):
    s = cdispec.read(write(tmp_path, "a.json", GOOD))
    assert (s.vendor, s.klass, list(s.devices)) == ("acme.example", "widget", ["w0"])
    y = cdispec.read(write(tmp_path, "a.yaml", yamlsubset.dumps(GOOD)))
    assert y.raw == s.raw


@pytest.mark.parametrize("name, content, words", [
    ("bad.json", '{"cdiVersion": "0.6.0", "kind": ', "malformed JSON"),
    ("bad.yaml", "cdiVersion: 0.6.0\nkind: a/b\n  devices: x\n", "malformed YAML"),
    ("anchor.yaml", "cdiVersion: &v 0.6.0\n", "anchors"),
    ("unknown.json", dict(GOOD, extra=1), "unknown field 'extra'"),
    ("unknown2.json", dict(GOOD, devices=[{"name": "w0", "containerEdits": {
        "deviceNodes": [{"path": "/dev/x", "colour": "red"}]}}]), "unknown field 'colour'"),
    ("dup.json", dict(GOOD, devices=GOOD["devices"] * 2), "multiple device 'w0'"),
    ("nodev.json", dict(GOOD, devices=[]), "no devices"),
    ("kind.json", dict(GOOD, kind="acme"), "invalid kind"),
    ("vendor.json", dict(GOOD, kind="1acme/gpu"), "should start with letter"),
    ("name.json", dict(GOOD, devices=[{"name": "w!0", "containerEdits": {"env": ["A=1"]}}]),
     "invalid character"),
    ("empty.json", dict(GOOD, devices=[{"name": "w0", "containerEdits": {}}]), "empty device edits"),
    ("ver.json", dict(GOOD, cdiVersion="9.9.9"), "invalid version"),
    ("old.json", dict(GOOD, cdiVersion="0.3.0", devices=[{"name": "0", "containerEdits": {
        "env": ["A=1"]}}]), "must be at least v0.5.0"),
    ("env.json", dict(GOOD, containerEdits={"env": ["NOEQUALS"]}), "invalid environment variable"),
    ("hook.json", dict(GOOD, containerEdits={"hooks": [{"hookName": "later", "path": "/x"}]}),
     "invalid hook name"),
    ("perm.json", dict(GOOD, devices=[{"name": "w0", "containerEdits": {
        "deviceNodes": [{"path": "/dev/x", "permissions": "rwx"}]}}]), "invalid permissions"),
    ("mount.json", dict(GOOD, containerEdits={"mounts": [{"hostPath": "/x", "containerPath": ""}]}),
     "empty container path"),
    ("type.json", dict(GOOD, containerEdits={"env": "A=1"}), "list of strings"),
])
def test_bad_specs_are_one_line_errors_naming_the_file(tmp_path, name, content, words):
    assert words in error_of(tmp_path, name, content)


def test_required_version_follows_the_features_used():
    assert cdispec.required_version({"kind": "a/b", "devices": [{"name": "x"}]}) == "0.3.0"
    assert cdispec.required_version({"kind": "a/b", "devices": [{"name": "0"}]}) == "0.5.0"
    assert cdispec.required_version({"kind": "a/b.c", "devices": []}) == "0.6.0"
    assert cdispec.required_version({"kind": "a/b", "containerEdits": {"additionalGids": [5]},
                                     "devices": []}) == "0.7.0"
    assert cdispec.required_version({"kind": "a/b", "containerEdits": {"netDevices": [
        {"hostInterfaceName": "e", "name": "f"}]}, "devices": []}) == "1.1.0"


@pytest.mark.parametrize("name, ok", [
    ("nvidia.com/gpu=0", True), ("nvidia.com/gpu=all", True), ("vendor.com/class=GPU-1a:2", True),
    ("nvidia.com/gpu", False), ("/dev/x=y", False), ("nvidia.com/=0", False),
    ("nvidia.com/gpu=-0", False), ("9v/gpu=0", False), ("v/c=a b", False)])
def test_qualified_names(name, ok):
    assert cdispec.is_qualified(name) is ok


def test_later_dir_wins_and_same_dir_duplicates_conflict(tmp_path):
    d1, d2 = tmp_path / "etc", tmp_path / "run"
    d1.mkdir()
    d2.mkdir()
    write(d1, "a.json", GOOD)
    low = dict(GOOD, containerEdits={"env": ["ACME=2"]})
    write(d2, "b.json", low)
    reg = Registry([str(d1), str(d2)])
    (s, _), = reg.resolve(["acme.example/widget=w0"])
    assert s.path.startswith(str(d2))
    write(d2, "c.json", low)
    reg = Registry([str(d1), str(d2)])
    assert "acme.example/widget=w0" not in reg.devices
    with pytest.raises(DeviceError, match="conflicting device 'acme.example/widget=w0'"):
        reg.resolve(["acme.example/widget=w0"])


def test_broken_spec_fails_a_run_naming_it(tmp_path):
    write(tmp_path, "good.json", GOOD)
    write(tmp_path, "zz.yaml", "cdiVersion: [\n")
    reg = Registry([str(tmp_path)])
    assert reg.names() == ["acme.example/widget=w0"]
    with pytest.raises(DeviceError, match="zz.yaml"):
        reg.resolve(["acme.example/widget=w0"])


def test_edits_fill_from_the_host_node_and_add_the_rule():
    cfg = {"process": {"env": ["ACME=0", "PATH=/bin"], "user": {"uid": 0, "gid": 0}},
           "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]}},
           "mounts": [{"destination": "/proc/x/y"}, {"destination": "/opt/lib", "source": "old"}]}
    edits.apply(cfg, {"env": ["ACME=1", "NEW=2"],
                      "deviceNodes": [{"path": "/dev/widget", "hostPath": "/dev/null",
                                       "permissions": "rw"}],
                      "mounts": [{"hostPath": "/srv/lib", "containerPath": "/opt/lib",
                                  "options": ["ro"]}],
                      "hooks": [{"hookName": "createContainer", "path": "/bin/true", "timeout": 5}],
                      "additionalGids": [0, 44]}, "test")
    assert cfg["process"]["env"] == ["ACME=1", "PATH=/bin", "NEW=2"]
    assert cfg["linux"]["devices"] == [{"path": "/dev/widget", "type": "c", "major": 1, "minor": 3,
                                        "fileMode": 0o666}]
    assert cfg["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "c", "major": 1,
                                                        "minor": 3, "access": "rw"}
    assert [m["destination"] for m in cfg["mounts"]] == ["/opt/lib", "/proc/x/y"]
    assert cfg["mounts"][0] == {"destination": "/opt/lib", "source": "/srv/lib", "type": "bind",
                                "options": ["rbind", "ro"]}
    assert cfg["hooks"] == {"createContainer": [{"path": "/bin/true", "timeout": 5}]}
    assert cfg["process"]["user"]["additionalGids"] == [44]


def test_missing_node_is_an_error_naming_spec_and_node():
    with pytest.raises(DeviceError, match=r"CDI spec /x.json: device node /dev/nope-\w+: No such file"):
        edits.apply({}, {"deviceNodes": [{"path": "/dev/nope-abc"}]}, "CDI spec /x.json")
    cfg: dict = {}      # type and major given: the host node need not exist (the reference)
    edits.apply(cfg, {"deviceNodes": [{"path": "/dev/nope", "type": "c", "major": 10,
                                       "minor": 5, "permissions": "none"}]}, "x")
    assert cfg["linux"]["devices"][0]["major"] == 10 and "resources" not in cfg["linux"]


def test_run_flags():
    p = requests.plan({"device": ["/dev/null:/dev/mynull:r"], "device_cgroup_rule": ["c 10:* rwm"],
                       "group_add": ["44"]})
    assert p["nodes"] == [({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                            "fileMode": 0o666, "uid": 0, "gid": 0}, "r")]
    assert p["rules"] == [{"allow": True, "type": "c", "major": 10, "access": "rwm"}]
    assert p["gids"] == [44]
    assert requests.gpus("all") == ["nvidia.com/gpu=all"]
    assert requests.gpus("2") == ["count", 2]
    assert requests.gpus('"device=0,GPU-1"') == ["nvidia.com/gpu=0", "nvidia.com/gpu=GPU-1"]
    assert requests.gpus("device=1,2") == ["nvidia.com/gpu=1", "nvidia.com/gpu=2"]
    assert requests._request(requests.DeviceRequest(count=-1, capabilities=[["gpu"]])) == \
        ["nvidia.com/gpu=all"]
    assert requests._request({"Driver": "cdi", "DeviceIDs": ["a.b/c=d"]}) == ["a.b/c=d"]
    for bad in ({"device": ["/dev/null:/x:rwx"]}, {"device": ["/etc/passwd"]},
                {"device_cgroup_rule": ["c 10 rwm"]}, {"group_add": ["wheel"]},
                {"device": ["/nonexistent-dev"]}):
        with pytest.raises(DeviceError):
            requests.plan(bad)


def test_gpus_without_an_nvidia_spec_names_the_generate_command(tmp_path):
    with pytest.raises(DeviceError) as e:
        requests.plan({"gpus": "all"}, registry=Registry([str(tmp_path)]))
    assert "pycontainer cdi generate --vendor nvidia" in str(e.value) and e.value.exit_code == 125


def test_nvidia_generate_on_a_fake_host(tmp_path):
    dev, proc, drv = tmp_path / "dev", tmp_path / "proc", tmp_path / "drv"
    for d in (dev / "nvidia-caps", drv):
        d.mkdir(parents=True)
    for n in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
              "nvidia-caps/nvidia-cap1"):
        (dev / n).write_text("")
    for pci, minor in (("0000:01:00.0", 0), ("0000:02:00.0", 1)):
        (proc / "gpus" / pci).mkdir(parents=True)
        (proc / "gpus" / pci / "information").write_text(
            f"Model: H100\nGPU UUID: GPU-{minor}abc\nDevice Minor: {minor}\n")
    (drv / "libcuda.so.550.1").write_text("")
    (drv / "libnvidia-ml.so.550.1").write_text("")
    (drv / "libc.so.6").write_text("")
    raw = nvidia.generate(str(dev), str(proc), ldcache="", driver_dirs=[str(drv)], bin_dirs=[])
    cdispec.check(json.loads(json.dumps(raw)))
    names = [d["name"] for d in raw["devices"]]
    assert names == ["0", "GPU-0abc", "1", "GPU-1abc", "all"]
    nodes = [n["path"] for n in raw["containerEdits"]["deviceNodes"]]
    assert [os.path.basename(n) for n in nodes] == ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
                                                    "nvidia-cap1"]
    libs = [m["hostPath"] for m in raw["containerEdits"]["mounts"]]
    assert [os.path.basename(p) for p in libs] == ["libcuda.so.550.1", "libnvidia-ml.so.550.1"]
    assert raw["containerEdits"]["hooks"][0]["args"][-1] == str(drv)
    assert yamlsubset.loads(yamlsubset.dumps(raw)) == raw


def test_yaml_subset_reads_what_nvidia_ctk_writes_and_refuses_the_rest():
    text = ("---\ncdiVersion: 0.5.0\ncontainerEdits:\n  mounts:\n  - containerPath: /usr/bin/x  # c\n"
            "    options: [ro, 'nodev', \"bind\"]\ndevices:\n- containerEdits:\n    deviceNodes:\n"
            "    - path: /dev/nvidia0\n  name: \"0\"\n- name: 1\nkind: nvidia.com/gpu\n")
    assert yamlsubset.loads(text) == {
        "cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
        "containerEdits": {"mounts": [{"containerPath": "/usr/bin/x", "options": ["ro", "nodev", "bind"]}]},
        "devices": [{"containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}]}, "name": "0"},
                    {"name": 1}]}
    for bad in ("a: &x 1", "a: *x", "a: !t 1", "a: |\n  x", "a: 1\na: 2", "a: b: c",
                "a:\n  - 1\n   - 2", "---\na: 1\n---\nb: 2", "a: \"x"):
        with pytest.raises(yamlsubset.YAMLError, match="line"):
            yamlsubset.loads(bad)


def test_api_keyword_names_reach_the_device_options():
    from pycontainer import api
    from pycontainer.api.config import options_from_kwargs
    o = options_from_kwargs("busybox", devices=["/dev/null:/dev/x:rw"], device_cgroup_rules=["c 1:3 r"],
                                group_add=["44"], device_requests=[api.DeviceRequest(
                                    driver="nvidia", count=-1, capabilities=[["gpu"]])])
    assert o["device"] == ["/dev/null:/dev/x:rw"] and o["device_cgroup_rule"] == ["c 1:3 r"]
    assert o["group_add"] == ["44"] and o["device_requests"][0]["Count"] == -1
    assert requests._request(o["device_requests"][0]) == ["nvidia.com/gpu=all"]


def test_gpus_count_takes_the_first_n_by_index(tmp_path):
    spec = {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
            "devices": [{"name": n, "containerEdits": {"deviceNodes": [
                {"path": f"/dev/fake{n}", "hostPath": "/dev/null"}]}} for n in ("0", "1", "10", "2")]}
    write(tmp_path, "nvidia.json", spec)
    reg = Registry([str(tmp_path)])
    p = requests.plan({"gpus": "3"}, registry=reg)
    assert [d["name"] for _, d in p["cdi"]] == ["0", "1", "2"]
    with pytest.raises(DeviceError, match="only 4 GPU"):
        requests.plan({"gpus": "5"}, registry=reg)
    p = requests.plan({"gpus": "device=10"}, registry=reg)
    cfg: dict = {}
    requests.apply(cfg, p)
    assert cfg["linux"]["devices"][0]["path"] == "/dev/fake10"
