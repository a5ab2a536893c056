"""filecopy._police: tarfile's extraction filters (PEP 706) for Pythons without them
(Debian 12's python3 is 3.11.2), checked rule by rule, and a real extraction through it."""

import io
import os
import stat
import tarfile

import pytest

from pycontainer import filecopy
from pycontainer.errors import PyContainerError


def member(name, kind=tarfile.REGTYPE, mode=0o644, linkname="", uid=1234):
    m = tarfile.TarInfo(name)
    m.type, m.mode, m.linkname, m.uid, m.gid, m.uname, m.gname = kind, mode, linkname, uid, uid, "u", "g"
    return m


@pytest.mark.parametrize("archive", [False, True])
def test_names_lose_leading_slashes_and_dotdot_is_refused(archive):
    m = member("/etc/x")
    filecopy._police(m, archive)
    assert m.name == "etc/x"
    for bad in ("a/../../x", "..", "/"):
        with pytest.raises(PyContainerError):
            filecopy._police(member(bad), archive)


def test_high_bits_and_group_other_write_go_in_both_modes():
    for archive in (False, True):
        m = member("f", mode=0o6777)
        filecopy._police(m, archive)
        assert m.mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | 0o022) == 0


def test_data_refuses_devices_fifos_and_links_out_tar_keeps_them():
    bad = [member("d", tarfile.CHRTYPE), member("b", tarfile.BLKTYPE), member("p", tarfile.FIFOTYPE),
           member("l", tarfile.SYMTYPE, linkname="/etc"), member("a/l", tarfile.SYMTYPE, linkname="../../x"),
           member("h", tarfile.LNKTYPE, linkname="../x")]
    for m in bad:
        with pytest.raises(PyContainerError):
            filecopy._police(m, False)
    for m in [member("d", tarfile.CHRTYPE), member("l", tarfile.SYMTYPE, linkname="/etc")]:
        filecopy._police(m, True)
    ok = member("a/l", tarfile.SYMTYPE, linkname="../b")
    filecopy._police(ok, False)


def test_data_files_are_ours_and_owner_writable_archive_keeps_owners():
    m = member("f", mode=0o444)
    filecopy._police(m, False)
    assert (m.mode, m.uid, m.gid) == (0o644, os.geteuid(), os.getegid())
    m = member("g", mode=0o744)
    filecopy._police(m, False)
    assert m.mode == 0o644 | 0o100
    m = member("f", mode=0o444)
    filecopy._police(m, True)
    assert (m.mode, m.uid) == (0o444, 1234)


def test_extract_all_applies_the_rules_and_renames_the_top(tmp_path, monkeypatch):
    monkeypatch.setattr(filecopy, "_FILTERS", False)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("top/a.txt", b"A"), ("top/sub/b.txt", b"B")):
            m = member(name, mode=0o4755)
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r|") as tar:
        filecopy._extract_all(tar, str(tmp_path), False, rename=("top", "new"))
    assert (tmp_path / "new" / "sub" / "b.txt").read_bytes() == b"B"
    st = os.stat(tmp_path / "new" / "a.txt")
    assert stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == os.geteuid()
