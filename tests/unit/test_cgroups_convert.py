"""Docker run flags and runc update flags -> OCI LinuxResources."""

import io
import json
import os
import stat

import pytest

from pycontainer.cgroups import convert as C
from pycontainer.errors import CgroupError


@pytest.fixture
def fake_block(monkeypatch):
    """/dev/vda is block device 254:0, /dev/null a char device, others missing."""
    real = os.stat

    class St:
        def __init__(self, mode, rdev):
            self.st_mode, self.st_rdev = mode, rdev

    def fake(path, *a, **kw):
        if path == "/dev/vda":
            return St(stat.S_IFBLK | 0o600, os.makedev(254, 0))
        if path == "/dev/null":
            return St(stat.S_IFCHR | 0o666, os.makedev(1, 3))
        if str(path).startswith("/dev/"):
            raise FileNotFoundError(2, "No such file or directory", path)
        return real(path, *a, **kw)
    monkeypatch.setattr(C.os, "stat", fake)


@pytest.mark.parametrize("s,n", [("64m", 64 << 20), ("64M", 64 << 20), ("64mb", 64 << 20),
                                 ("1g", 1 << 30), ("1GiB", 1 << 30), ("512k", 512 << 10),
                                 ("1048576", 1048576), ("1.5g", 3 << 29), (4096, 4096)])
def test_parse_size_docker_units(s, n):
    assert C.parse_size(s) == n


def test_memory_and_swap():
    assert C.docker_resources(memory="64m") == {"memory": {"limit": 64 << 20}}
    assert C.docker_resources(memory="64m", memory_swap="128m") == \
        {"memory": {"limit": 64 << 20, "swap": 128 << 20}}
    assert C.docker_resources(memory="64m", memory_swap="-1") == \
        {"memory": {"limit": 64 << 20, "swap": -1}}
    assert C.docker_resources(memory="64m", swap_default=True)["memory"]["swap"] == 128 << 20
    assert C.docker_resources(memory="6m") == {"memory": {"limit": 6 << 20}}


def test_cpus_is_quota_over_default_period():
    assert C.docker_resources(cpus="0.5") == {"cpu": {"period": 100000, "quota": 50000}}
    assert C.docker_resources(cpus=1.5, host_cpus=2)["cpu"]["quota"] == 150000
    assert C.docker_resources(cpus="0") == {"cpu": {"period": 100000, "quota": -1}}   # docker: no limit


def test_cpu_shares_cpuset_pids_blkio():
    r = C.docker_resources(cpu_shares=512, cpuset_cpus="0", cpuset_mems="0",
                           pids_limit=100, blkio_weight=300)
    assert r == {"cpu": {"shares": 512, "cpus": "0", "mems": "0"}, "pids": {"limit": 100},
                 "blockIO": {"weight": 300}}
    assert C.docker_resources(pids_limit=0) == {"pids": {"limit": -1}}


def test_device_throttles_resolve_path_to_major_minor(fake_block):
    r = C.docker_resources(device_read_bps="/dev/vda:1mb", device_write_bps=["/dev/vda:10m"],
                           device_read_iops="/dev/vda:1000", device_write_iops="/dev/vda:50",
                           blkio_weight_device="/dev/vda:200")
    assert r["blockIO"] == {
        "weightDevice": [{"major": 254, "minor": 0, "weight": 200}],
        "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1 << 20}],
        "throttleWriteBpsDevice": [{"major": 254, "minor": 0, "rate": 10 << 20}],
        "throttleReadIOPSDevice": [{"major": 254, "minor": 0, "rate": 1000}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 50}]}


@pytest.mark.parametrize("kw,msg", [
    ({"memory": "4m"}, r"--memory '4m': is below the minimum 6MiB"),
    ({"memory": "lots"}, r"--memory 'lots': is not a size"),
    ({"memory": "-5m"}, "is not a size"),
    ({"memory_swap": "128m"}, "needs --memory"),
    ({"memory": "64m", "memory_swap": "32m"}, "must be at least --memory"),
    ({"memory": "64m", "memory_reservation": "128m"}, "must be below --memory"),
    ({"cpus": "0.001"}, "between 0.01 and"),
    ({"cpus": "many"}, "not a number of CPUs"),
    ({"cpus": "4", "host_cpus": 2}, "between 0.01 and 2"),
    ({"cpus": "1", "cpu_quota": "50000"}, "conflicts"),
    ({"cpu_shares": "-3"}, "below the minimum 0"),
    ({"cpu_shares": "1"}, "below the minimum 2"),
    ({"cpu_quota": "500"}, "minimum 1000"),
    ({"cpuset_cpus": "0-"}, "not a list"),
    ({"cpuset_cpus": "0,4095"}, "requested CPUs are not available"),       # docker: 125, not ERANGE
    ({"cpuset_mems": "1023"}, "requested memory nodes are not available"),
    ({"pids_limit": "x"}, "not an integer"),
    ({"blkio_weight": "5"}, "between 10 and 1000"),
    ({"blkio_weight": "2000"}, "above the maximum 1000"),
    ({"device_read_bps": "/dev/nope:1mb"}, "cannot stat the device"),
    ({"device_read_bps": "/dev/null:1mb"}, "is not a block device"),
    ({"device_read_bps": "vda:1mb"}, "DEVICE-PATH:RATE"),
    ({"device_read_iops": "/dev/vda:fast"}, "not an integer"),
])
def test_bad_values_are_one_line_errors(fake_block, kw, msg):
    with pytest.raises(CgroupError, match=msg) as e:
        C.docker_resources(**kw)
    assert "\n" not in str(e.value)


def test_runc_update_flags():
    assert C.runc_update({"memory": "32m", "cpu-share": "512", "cpu-quota": "20000",
                          "pids-limit": "10", "memory-swap": "-1", "kernel-memory": "1m"}) == {
        "memory": {"limit": 32 << 20, "swap": -1}, "cpu": {"shares": 512, "quota": 20000},
        "pids": {"limit": 10}}


def test_runc_update_resources_file_and_stdin(tmp_path, monkeypatch):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"memory": {"limit": 64 << 20}, "pids": {"limit": 5}}))
    assert C.runc_update({"pids_limit": 7}, str(f)) == \
        {"memory": {"limit": 64 << 20}, "pids": {"limit": 7}}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"cpu": {"shares": 100}}'))
    assert C.runc_update(None, "-") == {"cpu": {"shares": 100}}


@pytest.mark.parametrize("flags,text,msg", [
    ({"memory": "2m"}, None, "below 6291456"),
    ({"cpu-share": "x"}, None, "not an integer"),
    ({"no-such": "1"}, None, "not a runc update flag"),
    (None, "{", "is not JSON"),
    (None, "[1]", "not a LinuxResources JSON object"),
    (None, '{"pids": {"limit": "many"}}', "not an integer"),
])
def test_runc_update_refuses(tmp_path, flags, text, msg):
    path = None
    if text is not None:
        path = tmp_path / "r.json"
        path.write_text(text)
    with pytest.raises(CgroupError, match=msg):
        C.runc_update(flags, str(path) if path else None)


def test_cpulist_reads_the_kernels_list_format():
    assert C.cpulist("0-3,5,7-8\n") == {0, 1, 2, 3, 5, 7, 8} and C.cpulist("") == set()
