"""cgroups.attachlock on a pure cgroup v2 kernel (the VM lane): the priming write
finds our cgroup2 cgroup, changes no membership, and a container's attach after it
still puts the container where it belongs (the runtime's v2 tests run with it on).
No timing is asserted (issue 18: benchmarks only)."""

import os

import pytest

from conftest import new_id

pytestmark = [pytest.mark.root, pytest.mark.cgroupv2]


@pytest.fixture(autouse=True)
def _need_v2():
    from pycontainer import cgroups
    if cgroups.detect() != "unified":
        pytest.skip("needs a pure cgroup v2 host (run by .ci/vm-lane.sh)")


def test_priming_on_v2_changes_no_membership():
    from pycontainer.cgroups import attachlock
    own = open("/proc/self/cgroup").read()
    path = attachlock.target()
    assert path is not None and path.startswith("/sys/fs/cgroup")
    assert path == "/sys/fs/cgroup" + own.strip().split("::", 1)[1].rstrip("/") + "/cgroup.procs"
    p = attachlock.start(path=path)
    p.stop(wait=True)
    attachlock.finish()
    assert p.writes >= 1
    assert open("/proc/self/cgroup").read() == own
    assert str(os.getpid()) in open(path).read().split()


def test_a_primed_create_puts_the_init_in_its_cgroup(cli, bundle, leakcheck):
    bundle.args("sleep", "30")
    cid = new_id()
    p = cli("create", "-b", bundle.path, cid)
    assert p.returncode == 0, p.stderr
    try:
        import json
        pid = json.loads(cli("state", cid).stdout)["pid"]
        line = open(f"/proc/{pid}/cgroup").read().strip()
        assert line.startswith("0::") and line.endswith("/" + cid), line
    finally:
        cli("delete", "--force", cid)
