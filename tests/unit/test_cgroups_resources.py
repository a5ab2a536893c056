"""linux.resources -> cgroup files, checked byte for byte on a fake cgroupfs.

Each test writes into a directory under tmp_path that has the control files a
real cgroup would have (empty), then reads back exactly what was written.
Kernel semantics: Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/*.rst.
"""

import pytest

from pycontainer.cgroups import resources as R
from pycontainer.errors import CgroupError

V2_FILES = ["cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems",
            "memory.max", "memory.swap.max", "memory.low", "memory.high", "pids.max",
            "io.max", "io.weight", "hugetlb.2MB.max", "cgroup.freeze"]
V1_FILES = {
    "cpu": ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us",
            "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
               "memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control"],
    "pids": ["pids.max"],
    "blkio": ["blkio.weight", "blkio.leaf_weight", "blkio.weight_device",
              "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
              "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"],
    "devices": ["devices.allow", "devices.deny"],
    "hugetlb": ["hugetlb.2MB.limit_in_bytes"],
}


def make_v2(tmp_path):
    d = tmp_path / "cg"
    d.mkdir()
    for f in V2_FILES:
        (d / f).write_text("")
    return d


def make_v1(tmp_path):
    dirs = {}
    for ctrl, files in V1_FILES.items():
        d = tmp_path / ctrl / "ctr"
        d.mkdir(parents=True)
        for f in files:
            (d / f).write_text("")
        dirs[ctrl] = str(d)
    return dirs


def read(d, name):
    return (d / name).read_text()


# --- conversions -------------------------------------------------------------

@pytest.mark.parametrize("shares,weight", [
    (0, 0), (2, 1), (3, 2), (512, 59), (1024, 100), (2048, 174), (262144, 10000)])
def test_shares_to_weight_maps_default_1024_to_default_100(shares, weight):
    assert R.shares_to_weight(shares) == weight


def test_old_linear_formula_would_have_given_39():
    # runc before PR #4785: 1 + ((shares - 2) * 9999) // 262142
    assert 1 + ((1024 - 2) * 9999) // 262142 == 39


@pytest.mark.parametrize("blkio,io", [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio, io):
    assert R.blkio_to_io_weight(blkio) == io


def test_swap_v2_is_swap_minus_memory():
    assert R.swap_v2(96 << 20, 64 << 20) == 32 << 20
    assert R.swap_v2(-1, 64 << 20) == -1
    with pytest.raises(CgroupError, match="below memory.limit"):
        R.swap_v2(32 << 20, 64 << 20)
    with pytest.raises(CgroupError, match="needs memory.limit"):
        R.swap_v2(32 << 20, None)


# --- v2 writers ----------------------------------------------------------------

def test_v2_cpu(tmp_path):
    d = make_v2(tmp_path)
    R.apply_v2(str(d), {"cpu": {"shares": 1024, "quota": 50000, "period": 100000,
                                "cpus": "0-1", "mems": "0"}})
    assert read(d, "cpu.weight") == "100"
    assert read(d, "cpu.max") == "50000 100000"
    assert read(d, "cpuset.cpus") == "0-1"
    assert read(d, "cpuset.mems") == "0"


def test_v2_cpu_unlimited_quota_keeps_period(tmp_path):
    d = make_v2(tmp_path)
    R.apply_v2(str(d), {"cpu": {"quota": -1, "period": 250000}})
    assert read(d, "cpu.max") == "max 250000"


def test_v2_memory(tmp_path):
    d = make_v2(tmp_path)
    R.apply_v2(str(d), {"memory": {"limit": 64 << 20, "swap": 96 << 20,
                                   "reservation": 32 << 20}})
    assert read(d, "memory.max") == str(64 << 20)
    assert read(d, "memory.swap.max") == str(32 << 20)
    assert read(d, "memory.low") == str(32 << 20)


def test_v2_memory_unlimited_sets_swap_unlimited_too(tmp_path):
    d = make_v2(tmp_path)
    R.apply_v2(str(d), {"memory": {"limit": -1}})
    assert read(d, "memory.max") == "max"
    assert read(d, "memory.swap.max") == "max"


def test_v2_swap_is_written_before_memory():
    plan = R.plan_v2({"memory": {"limit": 64 << 20, "swap": 128 << 20}})
    assert [w.file for w in plan] == ["memory.swap.max", "memory.max"]


def test_v2_pids(tmp_path):
    d = make_v2(tmp_path)
    R.apply_v2(str(d), {"pids": {"limit": 32}})
    assert read(d, "pids.max") == "32"
    R.apply_v2(str(d), {"pids": {"limit": -1}})
    assert read(d, "pids.max") == "max"


def test_v2_io(tmp_path):
    d = make_v2(tmp_path)
    plan = R.apply_v2(str(d), {"blockIO": {
        "weight": 500,
        "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 0}]}})
    assert read(d, "io.weight") == "default 4950"
    io_max = [w.value for w in plan if w.file == "io.max"]
    assert io_max == ["254:0 rbps=1048576 wiops=100", "8:16 wbps=max"]
    assert read(d, "io.max") == "8:16 wbps=max"       # last write; the kernel keeps both


def test_v2_hugetlb_and_unified_passthrough(tmp_path):
    d = make_v2(tmp_path)
    R.apply_v2(str(d), {"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                        "unified": {"memory.high": "50M\n"}})
    assert read(d, "hugetlb.2MB.max") == "4194304"
    assert read(d, "memory.high") == "50M"


def test_v2_trace_names_field():
    plan = R.plan_v2({"pids": {"limit": 5}})
    assert plan == [R.Write("pids", "pids.max", "5", "linux.resources.pids.limit")]
    assert R.controllers_needed(R.plan_v2({"unified": {"memory.high": "1M"},
                                           "cpu": {"shares": 2}})) == {"memory", "cpu"}


def test_v2_refuses_v1_only_features():
    with pytest.raises(CgroupError, match="realtime"):
        R.plan_v2({"cpu": {"realtimeRuntime": 950000}})
    with pytest.raises(CgroupError, match="disableOOMKiller"):
        R.plan_v2({"memory": {"disableOOMKiller": True}})


def test_v2_missing_file_is_a_clear_error(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    with pytest.raises(CgroupError, match=r"memory\.max: this kernel or hierarchy has no such file"):
        R.apply_v2(str(d), {"memory": {"limit": 64 << 20}})


# --- v1 writers ----------------------------------------------------------------

def test_v1_everything(tmp_path):
    dirs = make_v1(tmp_path)
    R.apply_v1(dirs, {
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "1", "mems": "0"},
        "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                   "swappiness": 0, "disableOOMKiller": True},
        "pids": {"limit": 10},
        "blockIO": {"weight": 300,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                    "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 50}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
    })
    r = lambda c, f: open(f"{dirs[c]}/{f}").read()          # noqa: E731
    assert r("cpu", "cpu.shares") == "512"
    assert r("cpu", "cpu.cfs_period_us") == "100000"
    assert r("cpu", "cpu.cfs_quota_us") == "20000"
    assert r("cpuset", "cpuset.cpus") == "1"
    assert r("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert r("memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert r("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert r("memory", "memory.swappiness") == "0"
    assert r("memory", "memory.oom_control") == "1"
    assert r("pids", "pids.max") == "10"
    assert r("blkio", "blkio.weight") == "300"
    assert r("blkio", "blkio.weight_device") == "8:0 200"
    assert r("blkio", "blkio.throttle.read_bps_device") == "254:0 1048576"
    assert r("blkio", "blkio.throttle.write_iops_device") == "254:0 50"
    assert r("hugetlb", "hugetlb.2MB.limit_in_bytes") == "2097152"


def test_v1_period_before_quota_and_unlimited_quota():
    files = [(w.file, w.value) for w in R.plan_v1({"cpu": {"quota": -1, "period": 50000}},
                                                   devices=False)]
    assert files == [("cpu.cfs_period_us", "50000"), ("cpu.cfs_quota_us", "-1")]


def test_v1_devices_deny_all_then_spec_then_defaults(tmp_path):
    plan = R.plan_v1({"devices": [{"allow": False, "access": "rwm"},
                                  {"allow": True, "type": "c", "major": 10, "minor": 200,
                                   "access": "rwm"},
                                  {"allow": False, "type": "b", "major": 8, "minor": None,
                                   "access": "w"}]})
    rules = [(w.file, w.value) for w in plan]
    assert rules[:3] == [("devices.deny", "a"), ("devices.allow", "c 10:200 rwm"),
                         ("devices.deny", "b 8:* w")]
    assert ("devices.allow", "c 1:3 rwm") in rules          # /dev/null stays usable
    assert ("devices.allow", "c 136:* rwm") in rules        # /dev/pts/*
    assert rules.count(("devices.deny", "a")) == 1


def test_v1_raising_memory_above_memsw_writes_memsw_first(tmp_path):
    dirs = make_v1(tmp_path)
    open(f"{dirs['memory']}/memory.memsw.limit_in_bytes", "w").write(str(64 << 20))
    plan = R.apply_v1(dirs, {"memory": {"limit": 128 << 20, "swap": 256 << 20}}, devices=False)
    assert [w.file for w in plan] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    open(f"{dirs['memory']}/memory.memsw.limit_in_bytes", "w").write(str(512 << 20))
    plan = R.apply_v1(dirs, {"memory": {"limit": 128 << 20, "swap": 256 << 20}}, devices=False)
    assert [w.file for w in plan] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_v1_refuses_unified_and_missing_controllers(tmp_path):
    with pytest.raises(CgroupError, match="needs a cgroup v2 host"):
        R.plan_v1({"unified": {"memory.high": "1M"}})
    dirs = make_v1(tmp_path)
    del dirs["pids"]
    with pytest.raises(CgroupError, match="needs the pids cgroup controller"):
        R.apply_v1(dirs, {"pids": {"limit": 3}})


# --- validation: bad input is refused before anything is written ----------------

@pytest.mark.parametrize("res,msg", [
    ({"memory": {"limit": 4 << 20}}, "below 6291456"),
    ({"memory": {"limit": -5}}, "below the minimum -1"),
    ({"memory": {"limit": "64m"}}, "not an integer"),
    ({"memory": {"limit": True}}, "not an integer"),
    ({"memory": {"limit": 64 << 20, "swap": 1 << 20}}, "below memory.limit"),
    ({"memory": {"swappiness": 101}}, "above the maximum 100"),
    ({"cpu": {"shares": 1}}, "below the minimum 2"),
    ({"cpu": {"shares": 300000}}, "above the maximum 262144"),
    ({"cpu": {"quota": 500}}, "below the minimum 1000"),
    ({"cpu": {"period": 2000000}}, "above the maximum 1000000"),
    ({"cpu": {"cpus": "0-a"}}, "not a list like"),
    ({"pids": {"limit": -2}}, "below the minimum -1"),
    ({"blockIO": {"weight": 5}}, "below the minimum 10"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}},
     "not a device number"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}}, "is missing"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "pageSize"),
    ({"unified": {"../../etc": "x"}}, "not a controller file name"),
    ({"unified": {"cgroup.procs": "1"}}, "not a controller file name"),
    ({"unified": {"memory.high": "1\n2"}}, "one-line"),
    ({"devices": [{"allow": True, "type": "x"}]}, "not a, b or c"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "not made of r, w, m"),
    ({"devices": [{"type": "c"}]}, "allow"),
    ({"memory": []}, "not an object"),
    ({"rdma": {"mlx5_1": {"hcaHandles": 3}}}, "not supported"),
])
def test_validate_refuses(res, msg):
    with pytest.raises(CgroupError, match=msg):
        R.validate(res)
    with pytest.raises(CgroupError):
        R.plan_v2(res) if "devices" not in res else R.plan_v1(res)


def test_validate_accepts_spec_defaults():
    assert R.validate(None) == {}
    res = {"devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": 6 << 20},
           "cpu": {"shares": 0, "quota": 0, "period": 0}, "pids": {"limit": 0}}
    assert R.validate(res) is res
