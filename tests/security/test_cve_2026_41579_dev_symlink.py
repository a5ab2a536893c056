"""S06, CVE-2026-41579 (runc 1.3.6/1.4.3/1.5.x): an image whose /dev is a symlink.

runc's ``setupPtmx`` and ``setupDevSymlinks`` joined ``rootfs + "/dev/ptmx"``
as strings before pivot_root: an image with ``/dev -> /some/host/dir`` made
runc delete a host file named ``ptmx`` and create its /dev symlinks (fd,
stdin, stdout, stderr, core, ptmx) in that host directory; siblings of
CVE-2025-31133 (/dev/null) and CVE-2025-52565 (/dev/console, /dev/pts).

pycontainer makes every pre-pivot /dev operation relative to an fd of the
rootfs resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
(pycontainer.mounts.open_in_root, pycontainer.devices), so an absolute or
``../`` symlink resolves inside the rootfs; after pivot_root only the
container's own tree is reachable, and /dev/null (masks) and /dev/console
(terminal) are checked before they are used. Each case below points the
image's /dev (or one entry of it) at a decoy directory on the host and
proves: the decoy is byte-for-byte unchanged, nothing was created in it, the
host's mount table is unchanged (``leakcheck``), and the container either
runs with a fresh /dev inside its rootfs or fails with one line.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from conftest import new_id
from _helpers import host_files, one_line_error  # noqa: F401

pytestmark = pytest.mark.root

DEV_NAMES = ("ptmx", "null", "zero", "full", "random", "urandom", "tty", "console", "fd", "stdin",
             "stdout", "stderr", "core", "pts", "shm", "mqueue")


@pytest.fixture
def decoy(tmp_path):
    """A host directory with a file of every name the runtime touches under /dev."""
    d = tmp_path / "host-dir"
    d.mkdir()
    (d / "ptmx").write_text("host ptmx: must not be deleted\n")
    (d / "null").write_text("host null\n")
    (d / "console").write_text("host console\n")
    return d


def _snapshot(d) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, d)] = (st.st_mode, st.st_ino, open(p, "rb").read()
                                          if os.path.isfile(p) and not os.path.islink(p) else None)
    return out


def _point_dev(bundle, target: str) -> None:
    dev = os.path.join(bundle.rootfs, "dev")
    shutil.rmtree(dev, ignore_errors=True)
    if os.path.lexists(dev):
        os.unlink(dev)
    os.symlink(target, dev)


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_CVE_2026_41579_dev_symlink_to_a_host_dir(cli, bundle, decoy, host_files, leakcheck, how):
    """The advisory's case: /dev -> host dir, with the default /dev tmpfs, devpts, shm, mqueue.
    The container gets its /dev inside its own rootfs; the host dir is untouched."""
    target = str(decoy) if how == "absolute" else "../" * 12 + str(decoy).lstrip("/")
    _point_dev(bundle, target)
    before = _snapshot(decoy)
    bundle.args("sh", "-c", "ls /dev; stat -c %t:%T /dev/null; readlink /dev/ptmx; readlink /dev/fd")
    p = cli("run", "-b", bundle.path, new_id("s06"))
    assert _snapshot(decoy) == before, "the host directory changed"
    if p.returncode == 0:
        out = p.stdout.split()
        assert "1:3" in out and "pts/ptmx" in out and "/proc/self/fd" in out, p.stdout
        # what the runtime made went below the rootfs (the in-root meaning of the link)
        inside = os.path.join(bundle.rootfs, str(decoy).lstrip("/"))
        assert os.path.isdir(inside), inside
    else:
        one_line_error(p, "/dev")


def test_CVE_2026_41579_dev_symlink_with_a_terminal(cli, bundle, decoy, tmp_path, host_files, leakcheck):
    """Same image with terminal: true (ptmx and /dev/console are made too)."""
    _point_dev(bundle, str(decoy))
    before = _snapshot(decoy)
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    bundle.config["process"]["terminal"] = True
    bundle.args("sleep", "5")
    cid = new_id("s06t")
    p = cli.create(cid, bundle.path, "--console-socket", sock_path)
    srv.close()
    assert _snapshot(decoy) == before, "the host directory changed"
    if p.returncode == 0:
        pid = cli.state(cid)["pid"]
        try:
            # /dev is the image's link, resolved in the rootfs: the console is bound at that
            # path inside the container, and it is the pty
            mi = [ln for ln in open(f"/proc/{pid}/mountinfo") if ln.split()[4].endswith("/console")]
            assert mi and all(" devpts " in ln for ln in mi), mi
        finally:
            cli("delete", "--force", cid, check=True)
    else:
        one_line_error(p)


@pytest.mark.parametrize("entry", ["null", "console", "pts", "ptmx"])
def test_CVE_2026_41579_image_dev_entries_pointing_at_the_host(cli, bundle, decoy, tmp_path, host_files,
                                                               leakcheck, entry):
    """No /dev tmpfs in the spec: the image's own /dev is used, and one of its entries is a
    symlink to the host decoy. Masking must not use a symlinked /dev/null, the console must
    not be bound onto a symlink, devpts lands in the rootfs; the decoy never changes."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    dev = os.path.join(bundle.rootfs, "dev")
    os.makedirs(dev, exist_ok=True)
    for n in os.listdir(dev):
        p = os.path.join(dev, n)
        shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    os.mknod(os.path.join(dev, "null"), 0o20666, os.makedev(1, 3))
    os.makedirs(os.path.join(dev, "pts"), exist_ok=True)
    os.makedirs(os.path.join(dev, "shm"), exist_ok=True)
    os.makedirs(os.path.join(dev, "mqueue"), exist_ok=True)
    link = os.path.join(dev, entry)
    if os.path.isdir(link):
        os.rmdir(link)
    elif os.path.lexists(link):
        os.unlink(link)
    os.symlink(str(decoy / entry) if entry != "pts" else str(decoy), link)
    before = _snapshot(decoy)
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    bundle.config["process"]["terminal"] = entry in ("console", "ptmx")
    bundle.args("sleep", "5")
    cid = new_id("s06e")
    extra = ("--console-socket", sock_path) if bundle.config["process"]["terminal"] else ()
    p = cli.create(cid, bundle.path, *extra)
    srv.close()
    assert _snapshot(decoy) == before, "the host directory changed"
    if p.returncode == 0:
        pid = cli.state(cid)["pid"]
        try:
            assert entry != "null", "masking with a symlinked /dev/null must be refused"
            if entry == "pts":
                # the link was resolved in the rootfs: devpts is mounted at the *container's*
                # path of that name (its ptmx is there), not on the host's directory
                inside = f"/proc/{pid}/root{decoy}"
                assert os.path.exists(os.path.join(inside, "ptmx")), os.listdir(inside)
                assert not (decoy / "ptmx").is_char_device()
        finally:
            cli("delete", "--force", cid, check=True)
    else:
        one_line_error(p)
