"""docker diff and docker export (fs_cli.py): a container's changes read from its overlay upper
dir, and its root filesystem as a tar without what is mounted on it; stopped and running; bad
input one line, exit 1 (docker's), nothing left. Beside podman's diff in test_docker_vs_podman.py."""

import io
import os
import pty
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT, logged, new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root

SCRIPT = "echo hi > /root/new; rm /bin/ls; mkdir -p /var/x; echo y > /var/x/f"


def test_diff_lists_added_changed_and_deleted(cli, dleak):
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c", SCRIPT).returncode == 0
    try:
        assert cli("diff", cid).stdout.splitlines() == [
            "C /bin", "D /bin/ls", "C /root", "A /root/new", "C /var", "A /var/x", "A /var/x/f"]
        assert cli("container", "diff", cid).stdout == cli("diff", cid).stdout
    finally:
        cli("rm", cid)


def _names(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else m.type) for m in tar}


def test_export_of_a_stopped_and_a_running_container(cli, dleak, tmp_path):
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c", SCRIPT).returncode == 0
    try:
        out = tmp_path / "c.tar"
        assert cli("export", "-o", str(out), cid).returncode == 0
        files = _names(out.read_bytes())
        assert files["root/new"] == b"hi\n" and files["var/x/f"] == b"y\n"
        assert "bin/ls" not in files and "bin/sh" in files and "etc/passwd" in files
    finally:
        cli("rm", cid)
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "outside").write_text("host")
    run = new_id()
    assert cli("run", "-d", "--net", "none", "--name", run, "-v", f"{tmp_path / 'vol'}:/data",
               "busybox", "sh", "-c", "echo a > /tmp/new; echo ready; sleep 60").returncode == 0
    try:
        logged(cli, run, "ready")                     # /tmp/new is written
        p = subprocess.run([sys.executable, "-m", "pycontainer", "--root", cli.root, "export", run],
                           capture_output=True, cwd=ROOT)
        assert p.returncode == 0, p.stderr
        files = _names(p.stdout)
        assert files["tmp/new"] == b"a\n" and "proc" in files and "data" in files
        assert not any(n.startswith(("proc/", "sys/", "data/")) for n in files)   # mounts stay out
    finally:
        cli("rm", "-f", run)


def test_export_refuses_a_terminal_and_leaves_no_partial_file(cli, dleak, tmp_path):
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "true").returncode == 0
    try:
        master, slave = pty.openpty()
        p = subprocess.run([sys.executable, "-m", "pycontainer", "--root", cli.root, "export", cid],
                           stdout=slave, stderr=subprocess.PIPE, cwd=ROOT, text=True)
        os.close(slave)
        os.close(master)
        assert p.returncode == 1 and "terminal" in p.stderr and len(p.stderr.splitlines()) == 1
        out = tmp_path / "out"
        out.mkdir()
        p = cli("export", "-o", str(out / "no" / "x.tar"), cid)
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1
        for args in (("diff", "no-such-container"), ("export", "-o", str(out / "y.tar"),
                                                    "no-such-container")):
            p = cli(*args)
            assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, (args, p.stderr)
        assert os.listdir(out) == []
    finally:
        cli("rm", cid)


def test_diff_export_cp_of_a_bundle_container_say_what_it_is(cli, bundle, dleak):
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    try:
        for args in (("diff", cid), ("export", cid), ("cp", f"{cid}:/", "-")):
            p = cli(*args)
            assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, (args, p.stderr)
            assert "not a container made from an image" in p.stderr, (args, p.stderr)
    finally:
        cli("delete", "--force", cid)


def _ingest() -> set:
    d = "/var/lib/pycontainer/images/ingest"
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def test_import_makes_an_image_of_an_exported_root(cli, dleak, tmp_path):
    # docker import: export | import round-trips; -c and -m; stdin; what is not a tar, a URL,
    # a RUN, a missing file: one line, 125, no image and no blob half-written
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c", SCRIPT).returncode == 0
    tag = f"pyc-import-{cid[-8:]}"
    try:
        tar = tmp_path / "root.tar"
        assert cli("export", "-o", str(tar), cid).returncode == 0
        import lzma                                                        # any compression docker takes
        (tmp_path / "root.tar.xz").write_bytes(lzma.compress(tar.read_bytes(), preset=1))
        p = cli("import", "-c", 'CMD ["cat", "/root/new"]', "-c", "ENV WHO=imported", "-m", "round trip",
                str(tar) + ".xz", f"{tag}:1")
        assert p.returncode == 0 and p.stdout.startswith("sha256:"), p.stderr
        run = cli("run", "--rm", "--net", "none", "--pull", "never", f"{tag}:1")
        assert run.returncode == 0 and run.stdout == "hi\n", run.stderr
        probe = cli("run", "--rm", "--net", "none", "--pull", "never", f"{tag}:1", "sh", "-c",
                    'echo $WHO; test -e /bin/ls || echo no-ls')
        assert probe.stdout.split() == ["imported", "no-ls"]                # the container's state
        assert "round trip" in cli("history", f"{tag}:1").stdout
        with open(tar, "rb") as f:                                         # image import - < FILE
            p = subprocess.run(cli.cmd("image", "import", "-", f"{tag}:2"), stdin=f,
                               capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        (tmp_path / "junk").write_bytes(b"not a tar at all\n" * 64)
        ingest = _ingest()                      # (another test's killed commit may have left one)
        for args in ([str(tmp_path / "junk"), f"{tag}:bad"], ["https://127.0.0.1/x.tar", f"{tag}:bad"],
                     ["-c", "RUN true", str(tar), f"{tag}:bad"], [str(tmp_path / "nope.tar")]):
            p = cli("import", *args)
            assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
        assert cli("image", "inspect", f"{tag}:bad").returncode != 0 and _ingest() == ingest
    finally:
        cli("rm", cid)
        cli("rmi", f"{tag}:1", f"{tag}:2")
