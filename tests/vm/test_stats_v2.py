"""``stats --no-stream`` on a pure cgroup v2 kernel (the VM lane): MEM USAGE / LIMIT from
memory.current/memory.max (less inactive_file of memory.stat), PIDS from pids.current, CPU %
from cpu.stat's usage_usec, BLOCK I/O from io.stat (issue 15)."""

import json
import os
import re
import time

import pytest

from conftest import new_id

pytestmark = [pytest.mark.root, pytest.mark.cgroupv2]


@pytest.fixture(autouse=True)
def _need_v2():
    from pycontainer import cgroups
    if cgroups.detect() != "unified" and not os.environ.get("PYC_STATS_ANY_CGROUP"):
        pytest.skip("needs a pure cgroup v2 host (run by .ci/vm-lane.sh)")


def _mib(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(B|KiB|MiB|GiB)", text)
    assert m, text
    return float(m.group(1)) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[m.group(2)]


def test_stats_no_stream_reads_v2_files(cli, bundle, leakcheck):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    # 24 MiB in /dev/shm (shmem: charged to the container's memory), 3 processes, a busy loop
    bundle.args("sh", "-c", "dd if=/dev/zero of=/dev/shm/f bs=1M count=24 2>/dev/null; "
                "sleep 100 & sleep 100 & while :; do :; done")
    cid = new_id()
    assert cli("run", "-d", "-b", bundle.path, cid).returncode == 0
    try:
        time.sleep(1.0)
        p = cli("stats", "--no-stream", "--format", "json", cid)
        assert p.returncode == 0, p.stderr
        row = json.loads(p.stdout)
        used, limit = (s.strip() for s in row["MemUsage"].split("/"))
        assert _mib(limit) == 64
        assert 20 <= _mib(used) <= 64, row
        assert float(row["MemPerc"].rstrip("%")) >= 30
        assert int(row["PIDs"]) >= 3                        # sh (the loop), 2 x sleep
        assert float(row["CPUPerc"].rstrip("%")) > 20        # the busy loop
        assert re.fullmatch(r"\S+ / \S+", row["BlockIO"]) and re.fullmatch(r"\S+ / \S+", row["NetIO"])
        p = cli("stats", "--no-stream", cid)                  # the table: docker's columns
        assert p.stdout.splitlines()[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM",
                                                    "USAGE", "/", "LIMIT", "MEM", "%", "NET", "I/O",
                                                    "BLOCK", "I/O", "PIDS"]
        assert p.stdout.splitlines()[1].split()[0] == cid[:12]
    finally:
        cli("kill", cid, "KILL")
        for _ in range(200):
            if cli.state(cid)["status"] == "stopped":
                break
            time.sleep(0.02)
        cli("delete", "--force", cid)
