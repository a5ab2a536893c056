"""cp to and from a stopped container (issue 15): through a private mount namespace with
the container's overlay (upper dir over the image layers), gone when the copy ends; paths
still resolve inside the container's root; bad input: one line, exit 125."""

import io
import os
import subprocess
import tarfile

import pytest

from conftest import ROOT, new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root


def _mounts_of(cid: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if cid in line]


def test_cp_stopped_both_ways_and_no_escape(cli, dleak, tmp_path):
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c",
            "[ -e /made.txt ] || { echo written-inside > /made.txt; ln -s /../../../../etc /esc; "
            "mkdir /d; }")
    assert p.returncode == 0, p.stderr
    assert cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited"
    # out of the writable layer and out of the image's layers
    assert cli("cp", f"{cid}:/made.txt", str(tmp_path / "m")).returncode == 0
    assert (tmp_path / "m").read_text() == "written-inside\n"
    assert cli("cp", f"{cid}:/etc/passwd", str(tmp_path)).returncode == 0
    assert (tmp_path / "passwd").read_text().startswith("root:")
    p = subprocess.run(cli.cmd("cp", f"{cid}:/made.txt", "-"), capture_output=True, cwd=ROOT)
    assert p.returncode == 0 and tarfile.open(fileobj=io.BytesIO(p.stdout)).getnames() == ["made.txt"]
    # into it: seen by the next start
    (tmp_path / "in.txt").write_text("from-host")
    os.chown(tmp_path / "in.txt", 4321, 4321)
    assert cli("cp", str(tmp_path / "in.txt"), f"{cid}:/d/").returncode == 0
    assert cli("cp", "-a", str(tmp_path / "in.txt"), f"{cid}:/kept").returncode == 0
    # a symlink pointing "out" resolves inside the container's root
    marker = f"pyc-cp-{cid}"
    (tmp_path / marker).write_text("x")
    assert cli("cp", str(tmp_path / marker), f"{cid}:/esc/").returncode == 0
    assert not os.path.exists(f"/etc/{marker}")
    assert _mounts_of(cid) == []                       # the overlay went with the child
    for args in ((str(tmp_path / "in.txt"), f"{cid}:/../../tmp/x"), (f"{cid}:/nope", str(tmp_path)),
                 (f"{cid}:/../etc/passwd", str(tmp_path / "x"))):
        p = cli("cp", *args)
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert cli("start", cid).returncode == 0
    assert cli("wait", cid).stdout.strip() == "0"
    # the program ran again (same layer): its files and ours are there
    assert cli("cp", f"{cid}:/d/in.txt", str(tmp_path / "back")).returncode == 0
    assert (tmp_path / "back").read_text() == "from-host"
    assert cli("cp", f"{cid}:/etc/{marker}", str(tmp_path / "mk")).returncode == 0
    p = subprocess.run(cli.cmd("cp", f"{cid}:/kept", "-"), capture_output=True, cwd=ROOT)
    assert tarfile.open(fileobj=io.BytesIO(p.stdout)).getmembers()[0].uid == 4321
    assert _mounts_of(cid) == []
    assert cli("rm", cid).returncode == 0
