"""Safe layer extraction (security.md S09): every malicious archive is built here.

Each attack case asserts the refusal *and* that a sentinel directory next to
the extraction root is byte-for-byte unchanged. Cases that need root (device
nodes, chown, trusted.* xattrs) skip without it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile

import pytest

from pycontainer.errors import ImageError, UnsafeArchiveError
from pycontainer.image import layers
from pycontainer.image.layers import Limits, apply_layer

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, chown, trusted xattrs)")


# --- building archives --------------------------------------------------------------

def _info(name, type=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mode = kw.pop("mode", 0o755 if type == tarfile.DIRTYPE else 0o644)
    ti.mtime = kw.pop("mtime", 1_600_000_000)
    for k, v in kw.items():
        setattr(ti, k, v)
    if type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        ti.size = len(data)
    return ti, data


def F(name, data=b"x", **kw):
    return _info(name, tarfile.REGTYPE, data, **kw)


def D(name, **kw):
    return _info(name, tarfile.DIRTYPE, **kw)


def L(name, target, **kw):
    return _info(name, tarfile.SYMTYPE, linkname=target, **kw)


def H(name, target, **kw):
    return _info(name, tarfile.LNKTYPE, linkname=target, **kw)


def tar_bytes(*entries, compress=False, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def write_tar(path, *entries, **kw) -> str:
    with open(path, "wb") as f:
        f.write(tar_bytes(*entries, **kw))
    return str(path)


def tree_hash(top) -> str:
    """Hash of names, types, modes, link targets and contents under ``top``."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            h.update(f"{os.path.relpath(p, top)} {st.st_mode:o} {st.st_nlink}".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


@pytest.fixture
def box(tmp_path):
    """tmp/sentinel (must never change) and tmp/a/b/root (the extraction root)."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "shadow").write_text("secret\n")
    (sentinel / "passwd").write_text("root:x:0:0\n")
    root = tmp_path / "a" / "b" / "root"
    root.mkdir(parents=True)

    class Box:
        pass
    b = Box()
    b.tmp, b.sentinel, b.root = tmp_path, sentinel, root
    b.before = tree_hash(sentinel)
    b.n = 0

    def apply(*entries, dest=None, **kw):
        b.n += 1
        path = write_tar(tmp_path / f"layer{b.n}.tar", *entries)
        return apply_layer(path, str(dest or root), **kw)
    b.apply = apply
    b.unchanged = lambda: tree_hash(sentinel) == b.before and \
        sorted(os.listdir(tmp_path)) == sorted(["sentinel", "a"] + [f"layer{i}.tar" for i in range(1, b.n + 1)])
    return b


# --- the S09 cases -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../escape", "../../../sentinel/x", "a/../../escape", "./../escape"])
def test_01_dotdot_traversal_refused(box, name):
    with pytest.raises(UnsafeArchiveError, match="'\\.\\.' component"):
        box.apply(F(name))
    assert box.unchanged()


@pytest.mark.parametrize("name", ["/abs/file", "/etc/passwd", "//x"])
def test_02_absolute_path_refused(box, name):
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        box.apply(F(name))
    assert box.unchanged()


@pytest.mark.parametrize("target", ["/etc", "../../../sentinel", "."])
def test_03_write_through_symlink_in_same_layer_refused(box, target):
    target = str(box.sentinel) if target == "/etc" else target
    with pytest.raises(UnsafeArchiveError, match="'lnk' is a symlink"):
        box.apply(L("lnk", target), F("lnk/passwd", b"owned\n"))
    assert box.unchanged()


def test_04_symlink_planted_by_earlier_layer_refused_when_flattening(box):
    box.apply(L("lnk", "../../.."), whiteouts="delete")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        box.apply(F("lnk/sentinel/outside"), whiteouts="delete")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        box.apply(D("lnk/newdir"), whiteouts="delete")
    assert box.unchanged()


def test_04b_symlink_planted_by_earlier_layer_confined_in_overlay_mode(box):
    """Per-layer dirs: layer 2 cannot see layer 1's symlink, so its 'lnk' is a real dir."""
    l1, l2 = box.root / "l1", box.root / "l2"
    l1.mkdir(), l2.mkdir()
    box.apply(L("lnk", "../../.."), dest=l1)
    box.apply(F("lnk/outside", b"o"), dest=l2)
    assert os.readlink(l1 / "lnk") == "../../.."
    assert (l2 / "lnk").is_dir() and not (l2 / "lnk").is_symlink()
    assert (l2 / "lnk" / "outside").read_bytes() == b"o"
    assert box.unchanged()


@pytest.mark.parametrize("target", ["../../sentinel/shadow", "../../../../../../etc/shadow"])
def test_05_hardlink_dotdot_refused(box, target):
    with pytest.raises(UnsafeArchiveError, match="'\\.\\.' component"):
        box.apply(H("h", target))
    assert box.unchanged()


def test_06_hardlink_absolute_refused(box):
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        box.apply(H("h", str(box.sentinel / "shadow")))
    assert box.unchanged()


@pytest.mark.parametrize("target", ["../../../sentinel/shadow", "/etc/shadow", "inside"])
def test_07_hardlink_to_symlink_refused(box, target):
    """cpython gh-157190 / gh-151558: tarfile's link fallback followed the symlink."""
    with pytest.raises(UnsafeArchiveError, match="target is a symlink"):
        box.apply(F("inside"), L("l", target), H("h", "l"))
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        box.apply(L("d", "../../../sentinel"), H("h2", "d/shadow"))
    assert box.unchanged()


def test_07b_hardlink_to_missing_or_directory(box):
    with pytest.raises(ImageError, match="not in this layer"):
        box.apply(H("h", "nope"))
    with pytest.raises(UnsafeArchiveError, match="directory"):
        box.apply(D("d"), H("h", "d"))


def _devices():
    return (_info("dev/mem", tarfile.CHRTYPE, devmajor=1, devminor=1, mode=0o640),
            _info("sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660))


def test_08_device_nodes_rejected_by_default(box):
    for dev in _devices():
        with pytest.raises(UnsafeArchiveError, match="device .* device nodes are refused"):
            box.apply(F("ok"), dev)
    assert box.unchanged()


def test_08b_device_nodes_skipped_on_request(box):
    res = box.apply(F("ok"), *_devices(), devices="skip")
    assert res.skipped == ["dev/mem", "sda"]
    assert not os.path.lexists(box.root / "dev" / "mem") and not os.path.lexists(box.root / "sda")
    assert box.unchanged()


@root_only
def test_08c_device_nodes_allowed_on_request_and_fifo_always(box):
    box.apply(*_devices(), _info("fifo", tarfile.FIFOTYPE, mode=0o620), devices="allow")
    st = os.lstat(box.root / "dev" / "mem")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 1
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert stat.S_ISBLK(os.lstat(box.root / "sda").st_mode)
    st = os.lstat(box.root / "fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620


@root_only
def test_09_setuid_ownership_xattrs_kept(box):
    su = F("bin/su", b"\x7fELF", mode=0o4755, uid=0, gid=0)
    own = F("home/u/f", b"u", mode=0o2640, uid=1000, gid=1001)
    cap = F("bin/ping", b"p", mode=0o755)
    cap[0].pax_headers = {"SCHILY.xattr.security.capability":
                          b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                          .decode("utf-8", "surrogateescape"),
                          "SCHILY.xattr.user.note": "hello",
                          "SCHILY.xattr.trusted.overlay.opaque": "y",
                          "SCHILY.xattr.trusted.overlay.redirect": "/etc"}
    box.apply(D("bin", mode=0o755), su, D("home/u", mode=0o700, uid=1000, gid=1000), own, cap,
              D("tmp", mode=0o1777))
    st = os.lstat(box.root / "bin" / "su")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and st.st_uid == 0
    st = os.lstat(box.root / "home" / "u" / "f")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o2640, 1000, 1001)
    st = os.lstat(box.root / "home" / "u")
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, 1000)
    assert stat.S_IMODE(os.lstat(box.root / "tmp").st_mode) == 0o1777
    assert os.getxattr(box.root / "bin" / "ping", "user.note") == b"hello"
    assert os.getxattr(box.root / "bin" / "ping", "security.capability")[:4] == b"\x01\x00\x00\x02"
    names = os.listxattr(box.root / "bin" / "ping")
    assert not [n for n in names if n.startswith("trusted.overlay.")], names
    assert os.lstat(box.root / "bin" / "su").st_mtime == 1_600_000_000


@root_only
def test_10_opaque_dir_overlay_mode_sets_xattr(box):
    box.apply(D("a"), F("a/.wh..wh..opq", b""), F("a/new"))
    assert os.getxattr(box.root / "a", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(box.root / "a")) == ["new"]


def test_10b_opaque_dir_delete_mode_hides_lower_only(box):
    box.apply(D("a/b"), F("a/b/c"), F("a/keep-lower"), F("a/x", b"lower"), F("other"),
              whiteouts="delete")
    # opaque marker last: it still applies to the lower layer, not to this layer's entries
    box.apply(D("a"), D("a/b"), F("a/b/d"), F("a/x", b"upper"), F("a/.wh..wh..opq", b""),
              whiteouts="delete")
    assert sorted(os.listdir(box.root / "a")) == ["b", "x"]
    assert os.listdir(box.root / "a" / "b") == ["d"]
    assert (box.root / "a" / "x").read_bytes() == b"upper"
    assert (box.root / "other").exists()


def test_11_whiteout_of_symlink_deletes_the_link_not_its_target(box):
    box.apply(L("lnk", str(box.sentinel)), L("rel", "../../../sentinel"), whiteouts="delete")
    box.apply(F(".wh.lnk", b""), F(".wh.rel", b""), whiteouts="delete")
    assert not os.path.lexists(box.root / "lnk") and not os.path.lexists(box.root / "rel")
    assert box.unchanged()


def test_11b_whiteout_through_symlinked_parent_refused(box):
    box.apply(L("lnk", str(box.sentinel)), whiteouts="delete")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        box.apply(F("lnk/.wh.shadow", b""), whiteouts="delete")
    assert box.unchanged()


@root_only
def test_11c_whiteout_overlay_mode_is_char_0_0(box):
    box.apply(F(".wh.gone", b""), D("d"), F("d/.wh.sub", b""))
    for p in (box.root / "gone", box.root / "d" / "sub"):
        st = os.lstat(p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not os.path.lexists(box.root / ".wh.gone")


def test_11d_whiteout_does_not_hide_same_layer_entry(box):
    box.apply(F("keep"), F(".wh.keep", b""), whiteouts="delete")
    assert (box.root / "keep").exists()


@pytest.mark.parametrize("name", [".wh..", ".wh...", ".wh.../x", "d/.wh.x/y"])
def test_12_bad_whiteout_names_refused(box, name):
    with pytest.raises(UnsafeArchiveError):
        box.apply(F(name, b""))
    assert box.unchanged()


def test_12b_aufs_meta_whiteouts_ignored(box):
    box.apply(F(".wh..wh.plnk", b""), F("ok"))
    assert os.listdir(box.root) == ["ok"]


def test_13_entry_count_cap(box):
    with pytest.raises(UnsafeArchiveError, match="more than 100 entries"):
        box.apply(*[F(f"f{i}", b"") for i in range(101)], limits=Limits(max_entries=100))
    assert box.unchanged()


def test_13b_declared_size_cap_before_reading(box):
    """A header declaring 100 GiB (sparse bomb) is refused from the header alone."""
    ti = tarfile.TarInfo("huge")
    ti.size = 100 << 30
    raw = ti.tobuf(tarfile.GNU_FORMAT)           # no data follows: never read
    path = box.tmp / "layer1.tar"
    path.write_bytes(raw + b"\0" * 1024)
    box.n = 1
    with pytest.raises(UnsafeArchiveError, match="over the .*-byte cap"):
        apply_layer(str(path), str(box.root))
    assert box.unchanged()


def test_13b2_ten_gib_sparse_file_over_a_lower_cap(box):
    ti = tarfile.TarInfo("sparse")
    ti.size = 10 << 30
    path = box.tmp / "layer1.tar"
    path.write_bytes(ti.tobuf(tarfile.GNU_FORMAT))
    box.n = 1
    with pytest.raises(UnsafeArchiveError, match="cap"):
        apply_layer(str(path), str(box.root), limits=Limits(max_bytes=8 << 30))


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_and_pax_sparse_files(box, fmt):
    import subprocess
    src = box.tmp / "sparse-src"
    src.mkdir()
    with open(src / "s", "wb") as f:
        f.write(b"head")
        f.seek(64 << 20)
        f.write(b"tail")
    tarpath = box.tmp / "layer1.tar"
    subprocess.run(["tar", f"--format={fmt}", "--sparse", "-cf", str(tarpath), "-C", str(src), "s"],
                   check=True)
    shutil.rmtree(src)
    box.n = 1
    apply_layer(str(tarpath), str(box.root))
    st = os.lstat(box.root / "s")
    assert st.st_size == (64 << 20) + 4 and st.st_blocks * 512 <= (256 << 10)
    with open(box.root / "s", "rb") as f:
        assert f.read(4) == b"head"
        f.seek(64 << 20)
        assert f.read() == b"tail"


def test_zero_blocks_written_as_holes(box):
    box.apply(F("z", b"\0" * (8 << 20) + b"end"))
    st = os.lstat(box.root / "z")
    assert st.st_size == (8 << 20) + 3 and st.st_blocks * 512 < (1 << 20)
    with open(box.root / "z", "rb") as f:
        f.seek(8 << 20)
        assert f.read() == b"end"


def test_13d_path_depth_cap(box):
    with pytest.raises(UnsafeArchiveError, match="deep"):
        box.apply(F("a/" * 300 + "f"))
    assert box.unchanged()


def test_13c_decompression_bomb_capped_by_stream_bytes(box):
    data = tar_bytes(F("z", b"\0" * (4 << 20)), compress=True)
    assert len(data) < 64 << 10
    path = box.tmp / "layer1.tar"
    path.write_bytes(data)
    box.n = 1
    with pytest.raises(UnsafeArchiveError, match="bomb"):
        apply_layer(str(path), str(box.root), limits=Limits(max_bytes=1 << 20))


# --- ordinary behaviour ----------------------------------------------------------------

def test_diff_id_is_sha256_of_uncompressed_stream(box):
    raw = tar_bytes(D("etc"), F("etc/hosts", b"127.0.0.1 localhost\n"))
    gz = gzip.compress(raw)
    (box.tmp / "l.tgz").write_bytes(gz)
    res = apply_layer(str(box.tmp / "l.tgz"), str(box.root))
    assert res.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert res.entries == 2 and res.bytes == len(raw)
    assert (box.root / "etc" / "hosts").read_text() == "127.0.0.1 localhost\n"


def test_file_object_source(box):
    raw = tar_bytes(F("x", b"1"))
    res = apply_layer(io.BytesIO(raw), str(box.root))
    assert res.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd binary not installed")
def test_zstd_layer(box):
    import subprocess
    raw = tar_bytes(F("z", b"zstd!"))
    (box.tmp / "l.zst").write_bytes(subprocess.run(["zstd", "-q", "-c"], input=raw,
                                                   capture_output=True, check=True).stdout)
    res = apply_layer(str(box.tmp / "l.zst"), str(box.root))
    assert (box.root / "z").read_bytes() == b"zstd!"
    assert res.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_hardlinks_kept_and_duplicates_replace(box):
    box.apply(F("bin/a", b"one"), H("bin/b", "bin/a"), F("dup", b"first"), F("dup", b"second"),
              H("./bin/c", "./bin/a"))
    a, b, c = (os.lstat(box.root / "bin" / n) for n in "abc")
    assert a.st_ino == b.st_ino == c.st_ino and a.st_nlink == 3
    assert (box.root / "dup").read_bytes() == b"second"


def test_later_entries_replace_dirs_and_symlinks(box):
    box.apply(D("d"), F("d/f"), F("d", b"now a file"), L("s", str(box.sentinel)), D("s"),
              F("s/inside", b"i"))
    assert (box.root / "d").read_bytes() == b"now a file"
    assert (box.root / "s").is_dir() and not (box.root / "s").is_symlink()
    assert box.unchanged()


def test_symlinks_stored_verbatim(box):
    box.apply(L("abs", "/usr/bin/env"), L("up", "../../../../etc/passwd"))
    assert os.readlink(box.root / "abs") == "/usr/bin/env"
    assert os.readlink(box.root / "up") == "../../../../etc/passwd"


def test_corrupt_archive_is_image_error(box):
    raw = tar_bytes(F("x", b"y" * 5000))
    (box.tmp / "t.tar").write_bytes(raw[:1500])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        apply_layer(str(box.tmp / "t.tar"), str(box.root))


def test_nul_and_names_split():
    assert layers.split_name("./a//b/./c/") == ("a", "b", "c")
    assert layers.split_name("./") == ()
    with pytest.raises(UnsafeArchiveError, match="NUL"):
        layers.split_name("a\x00b")


def test_many_directories_beyond_fd_cache(box):
    entries = [F(f"d{i}/sub/f", b"") for i in range(600)] + [F("d0/sub/g", b"")]
    box.apply(*entries)
    assert sorted(os.listdir(box.root / "d0" / "sub")) == ["f", "g"]
    assert len(os.listdir(box.root)) == 600
