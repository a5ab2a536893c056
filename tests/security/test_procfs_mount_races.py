"""The 2025 procfs races and mount-destination symlinks (S03 ★, S04 ★, S05 ★, S06, S07 ★, S15 ★).

CVE-2025-31133 (a swapped or missing /dev/null used to mask paths),
CVE-2025-52565 (/dev/console bound from a swapped /dev/pts/N),
CVE-2025-52881 / CVE-2019-19921 / CVE-2023-27561 (procfs writes redirected by a
symlinked /proc or a mount over /proc/...), CVE-2026-41579 (pre-pivot joins
through an image's /dev symlink), CVE-2021-30465 (mount destinations through
symlinks). Attacks aim at procfs files through symlinks prepared in a decoy
dir under the test's tmp dir; ``host_files`` compares core_pattern & co.
before and after, ``leakcheck`` the host's mountinfo.
"""

import json
import os
import socket
import uuid

import pytest

from conftest import new_id
from _helpers import host_files, one_line_error  # noqa: F401

pytestmark = pytest.mark.root


def _attacker_dev(tmp_path, **links) -> str:
    """A host dir the spec binds over /dev: what a malicious volume or image supplies."""
    d = tmp_path / "evil-dev"
    d.mkdir()
    for name, target in links.items():
        os.symlink(target, d / name)
    return str(d)


def test_CVE_2025_31133_dev_null_swapped_for_core_pattern(cli, bundle, tmp_path, host_files, leakcheck):
    """S03a: /dev/null is a symlink to /proc/sys/kernel/core_pattern when the masks are
    made: start fails naming /dev/null, core_pattern is byte-identical."""
    evil = _attacker_dev(tmp_path, null="/proc/sys/kernel/core_pattern")
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    bundle.config["mounts"].append({"destination": "/dev", "type": "bind", "source": evil,
                                    "options": ["rbind", "rw"]})
    bundle.config["linux"]["maskedPaths"] = ["/proc/kcore", "/testfile"]
    open(os.path.join(bundle.rootfs, "testfile"), "w").write("secret\n")
    bundle.args("sh", "-c", "echo '|/tmp/pwn' > /dev/null; cat /testfile")
    line = one_line_error(cli("run", "-b", bundle.path, new_id()), "/dev/null")
    assert "1:3" in line
    assert os.listdir(evil) == ["null"]


def test_CVE_2025_31133_missing_dev_null_is_not_a_silent_skip(cli, bundle, tmp_path, leakcheck):
    """S03b: no /dev/null at all: refused, not "nothing to mask with"."""
    evil = _attacker_dev(tmp_path)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    bundle.config["mounts"].append({"destination": "/dev", "type": "bind", "source": evil,
                                    "options": ["rbind", "rw"]})
    bundle.args("cat", "/proc/kcore")
    one_line_error(cli("run", "-b", bundle.path, new_id()), "/dev/null", "masked paths")


def test_S03c_masked_paths_behave_as_runc(cli, bundle, leakcheck):
    """runc mask.bats: a masked file reads empty and is read-only, a masked dir is an empty
    read-only tmpfs, masks cannot be unmounted, all masked dirs share one tmpfs... per mask."""
    os.makedirs(os.path.join(bundle.rootfs, "testdir"))
    open(os.path.join(bundle.rootfs, "testdir", "inside"), "w").write("x")
    open(os.path.join(bundle.rootfs, "testfile"), "w").write("secret\n")
    bundle.config["linux"]["maskedPaths"] += ["/testdir", "/testfile", "/testfile"]
    bundle.args("sh", "-c", "cat /testfile; echo r=$?; ls -A /testdir; touch /testdir/foo 2>&1; "
                "echo t=$?; echo x > /testfile; echo w=$?; umount /testfile; echo u=$?")
    p = cli("run", "-b", bundle.path, new_id())
    out = p.stdout
    assert "secret" not in out and "inside" not in out, out
    assert "r=0" in out and "t=1" in out and "u=1" in out, out
    assert "Read-only file system" in out


def test_CVE_2025_52565_console_from_a_swapped_dev_pts(cli, bundle, tmp_path, host_files, leakcheck):
    """S04: terminal with /dev/pts a bind of a dir whose entries point at procfs files:
    start fails, or /dev/console is a real pty; never a procfs file over /dev/console."""
    evil = tmp_path / "evil-pts"
    evil.mkdir()
    for n in range(10):
        os.symlink("/proc/sysrq-trigger", evil / str(n))
    os.symlink("/proc/sys/kernel/core_pattern", evil / "ptmx")
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev/pts"]
    bundle.config["mounts"].append({"destination": "/dev/pts", "type": "bind", "source": str(evil),
                                    "options": ["rbind", "rw"]})
    bundle.config["process"]["terminal"] = True
    bundle.args("sh", "-c", "stat -c %t:%T /dev/console; grep console /proc/self/mountinfo; sleep 5")
    cid = new_id()
    p = cli.create(cid, bundle.path, "--console-socket", sock_path)
    srv.close()
    if p.returncode == 0:
        pid = cli.state(cid)["pid"]
        mi = [ln for ln in open(f"/proc/{pid}/mountinfo") if " /dev/console " in ln]
        assert mi and all(" devpts " in ln for ln in mi), mi
        cli("delete", "--force", cid)
    else:
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert sorted(os.listdir(evil)) == sorted([str(n) for n in range(10)] + ["ptmx"])


@pytest.mark.parametrize("where", ["proc", "sys"])
def test_CVE_2019_19921_symlinked_proc_or_sys_is_refused(cli, bundle, tmp_path, host_files, leakcheck, where):
    """S05a (runc mounts.bats "[/proc is a symlink]", CVE-2023-27561): proc/sysfs must be
    mounted on an ordinary directory; the link's target (a decoy) stays untouched."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    os.rmdir(os.path.join(bundle.rootfs, where))
    os.symlink(str(decoy), os.path.join(bundle.rootfs, where))
    one_line_error(cli.create(new_id(), bundle.path), f"/{where}", "refusing to mount proc")
    assert os.listdir(decoy) == []


@pytest.mark.parametrize("dest, mtype", [("/proc/sys/kernel", "tmpfs"), ("/proc/sys", "tmpfs"),
                                         ("/proc/self", "bind"), ("/proc/../proc/sys", "tmpfs"),
                                         ("/proc", "tmpfs")])
def test_CVE_2025_52881_mounts_over_procfs_are_refused(cli, bundle, tmp_path, host_files, leakcheck,
                                                       dest, mtype):
    """S05b/S05c: a mount inside /proc (here with a sysctl the runtime would then write into the
    tmpfs) is refused at create, before anything exists; only procfs on /proc itself."""
    m = {"destination": dest, "type": mtype, "source": str(tmp_path) if mtype == "bind" else "tmpfs"}
    if mtype == "bind":
        m["options"] = ["rbind"]
    bundle.config["mounts"].append(m)
    bundle.config["linux"]["sysctl"] = {"kernel.shm_rmid_forced": "1"}
    bundle.write()
    one_line_error(cli.create(new_id(), bundle.path), "/proc")


def test_lxcfs_style_binds_under_proc_are_allowed(cli, bundle, tmp_path, leakcheck):
    fake = tmp_path / "uptime"
    fake.write_text("42.00 42.00\n")
    bundle.config["mounts"].append({"destination": "/proc/uptime", "type": "bind",
                                    "source": str(fake), "options": ["bind", "ro"]})
    bundle.args("cat", "/proc/uptime")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0 and p.stdout == "42.00 42.00\n", p.stderr


def test_CVE_2026_41579_dev_symlink_to_a_host_dir(cli, bundle, tmp_path, leakcheck):
    """S06: the image's /dev is an absolute symlink to a host dir holding a decoy ptmx:
    refused or kept inside the rootfs; the decoy dir gains and loses nothing."""
    decoy = tmp_path / "hostdev"
    decoy.mkdir()
    (decoy / "ptmx").write_text("decoy\n")
    dev = os.path.join(bundle.rootfs, "dev")
    os.system(f"rm -rf {dev}")
    os.symlink(str(decoy), dev)
    bundle.args("sh", "-c", "ls -la /dev")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode != 0 or "decoy" not in p.stdout
    assert sorted(os.listdir(decoy)) == ["ptmx"] and (decoy / "ptmx").read_text() == "decoy\n"


def test_CVE_2021_30465_bind_destination_through_a_symlink_lands_in_the_rootfs(cli, bundle, tmp_path,
                                                                               leakcheck):
    """S07a: /data/link -> /etc in the image; a volume at /data/link/<x> is mounted at
    <rootfs>/etc/<x>, host /etc gains nothing (leakcheck: no host mount either)."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "marker").write_text("vol\n")
    name = f"pyc-s07-{uuid.uuid4().hex[:8]}"
    os.makedirs(os.path.join(bundle.rootfs, "data"))
    os.symlink("/etc", os.path.join(bundle.rootfs, "data", "link"))
    bundle.config["mounts"].append({"destination": f"/data/link/{name}", "type": "bind",
                                    "source": str(vol), "options": ["rbind"]})
    bundle.args("cat", f"/etc/{name}/marker")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0 and p.stdout == "vol\n", p.stderr
    assert not os.path.exists(f"/etc/{name}")
    assert os.path.isdir(os.path.join(bundle.rootfs, "etc", name))


def test_CVE_2021_30465_dangling_escape_link_stays_inside_the_root(cli, bundle, tmp_path, leakcheck):
    """An absolute link to a host dir is resolved inside the rootfs, where it dangles: the
    target is created there and mounted on (runc does the same), never on the host's dir."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    os.symlink(str(decoy), os.path.join(bundle.rootfs, "escape"))
    bundle.config["mounts"].append({"destination": "/escape", "type": "tmpfs", "source": "tmpfs"})
    bundle.args("sh", "-c", f"touch /escape/inside && grep -c ' {decoy} ' /proc/self/mountinfo")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0 and p.stdout.strip() == "1", p.stdout + p.stderr
    assert os.listdir(decoy) == []                                     # the host's dir: untouched
    assert os.path.isdir(os.path.join(bundle.rootfs, str(decoy).lstrip("/")))   # made inside


def test_S15_default_masks_and_read_only_procfs(cli, bundle, host_files, leakcheck):
    """/proc/kcore reads empty, /sys/firmware is empty, sysrq-trigger and /proc/sys are
    read-only, /sys is mounted ro."""
    bundle.args("sh", "-c", "cat /proc/kcore 2>/dev/null | wc -c; ls -A /sys/firmware | wc -l; "
                "echo h > /proc/sysrq-trigger; echo s=$?; echo 1 > /proc/sys/vm/drop_caches; "
                "echo d=$?; grep ' /sys ' /proc/self/mountinfo | head -1")
    p = cli("run", "-b", bundle.path, new_id())
    lines = p.stdout.splitlines()
    assert lines[0].strip() == "0" and lines[1].strip() == "0", p.stdout
    assert "s=1" in p.stdout and "d=1" in p.stdout, p.stdout
    assert " ro," in lines[-1] or " ro " in lines[-1], lines[-1]
    # drop_caches: EROFS; sysrq-trigger: EROFS, or absent on kernels without CONFIG_MAGIC_SYSRQ
    assert "drop_caches: Read-only file system" in p.stderr, p.stderr
    if os.path.exists("/proc/sysrq-trigger"):
        assert "sysrq-trigger: Read-only file system" in p.stderr, p.stderr


def test_CVE_2021_30465_rename_exchange_race_on_a_mount_destination(cli, bundle, tmp_path, leakcheck):
    """S07b (bounded race): while a helper swaps rootfs/vol between a directory and a symlink
    to / with renameat2(RENAME_EXCHANGE), 25 containers mount a volume at /vol/x. Every run
    either fails cleanly or sees the volume inside its own root; the host's / never shows up
    (its marker file is absent) and no mount is left on the host (leakcheck)."""
    import ctypes
    import threading
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        pytest.skip("the C library has no renameat2")
    vol = tmp_path / "volume"
    vol.mkdir()
    (vol / "from-volume").write_text("v\n")
    marker = f"/tmp/pyc-s07b-host-{uuid.uuid4().hex[:8]}"
    open(marker, "w").close()
    try:
        os.makedirs(os.path.join(bundle.rootfs, "vol", "x"))
        os.symlink("/", os.path.join(bundle.rootfs, "evil"))
        bundle.config["mounts"].append({"destination": "/vol/x", "type": "bind", "source": str(vol),
                                        "options": ["rbind"]})
        bundle.args("sh", "-c", f"ls /vol/x /evil/x 2>/dev/null; ls {marker} 2>/dev/null; true")
        bundle.write()
        stop = threading.Event()
        a = os.path.join(bundle.rootfs, "vol").encode()
        b = os.path.join(bundle.rootfs, "evil").encode()

        def swap():
            while not stop.is_set():
                libc.renameat2(-100, a, -100, b, 2)          # AT_FDCWD, RENAME_EXCHANGE
        t = threading.Thread(target=swap, daemon=True)
        t.start()
        try:
            for _ in range(25):
                p = cli("run", "-b", bundle.path, new_id())
                assert marker not in p.stdout, p.stdout
                if p.returncode != 0:
                    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        finally:
            stop.set()
            t.join()
    finally:
        os.unlink(marker)
