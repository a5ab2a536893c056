"""--userns/--uidmap/--gidmap (issue 15): host works; every user-namespace request for a
container made from an image is refused with the reason (userns.py: the overlay is mounted
inside the user namespace, where overlayfs cannot use the layers' trusted.overlay xattrs),
one line, exit 125, nothing made."""

import pytest

from conftest import new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root


def test_userns_host_runs(cli, dleak):
    p = cli("run", "--rm", "--net", "none", "--userns", "host", "busybox", "cat", "/proc/self/uid_map")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "0", "4294967295"]


@pytest.mark.parametrize("args, words", [
    (["--uidmap", "0:0:65536"], "trusted.overlay"),
    (["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"], "not supported"),
    (["--userns", "keep-id"], "not supported"),
    (["--userns", "auto"], "not supported"),
    (["--uidmap", "0:x"], "CONTAINER_ID:HOST_ID:AMOUNT"),
    (["--uidmap", "0:0:10", "--uidmap", "5:100:10"], "overlap"),
    (["--userns", "host", "--uidmap", "0:0:1"], "conflict"),
])
def test_userns_refused_one_line_125(cli, dleak, args, words):
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, *args, "busybox", "true")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert words in p.stderr
    assert cli("inspect", cid).returncode != 0
