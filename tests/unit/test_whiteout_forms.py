"""Both whiteout forms overlayfs reads (image/whiteouts.py) are seen by every reader of
stacked layers: the merged lookup (image/merged.py) and the layer writer (a ``.wh.`` entry).

The xattr form is what the store holds where it is itself on overlayfs; here it is made
on a tmpfs (trusted.* xattrs need root), which is what matters to the readers."""

import os
import stat
import tarfile

import pytest

from pycontainer.image import merged, whiteouts

pytestmark = pytest.mark.root


@pytest.fixture
def layers(tmp_path):
    import subprocess
    d = tmp_path / "t"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(d)], check=True)
    try:
        low, up = d / "low", d / "up"
        for x in (low, up):
            x.mkdir()
        (low / "a").write_text("lower a")
        (low / "b").write_text("lower b")
        wo = up / "a"                                   # xattr whiteout of a
        wo.touch()
        os.setxattr(wo, whiteouts.WHITEOUT_XATTR, b"y")
        os.setxattr(up, whiteouts.OPAQUE_XATTR, b"x")   # "may hold xattr whiteouts", not opaque
        os.mknod(up / "b", stat.S_IFCHR, os.makedev(0, 0))   # classic whiteout of b
        (up / "c").touch()                              # an empty file: not a whiteout
        yield [str(low), str(up)], d
    finally:
        subprocess.run(["umount", str(d)], check=True)


def test_both_forms_hide_the_lower_file_and_an_empty_file_does_not(layers):
    ls, _ = layers
    for name in ("a", "b"):
        st = os.lstat(os.path.join(ls[1], name))
        assert whiteouts.is_whiteout(st, os.path.join(ls[1], name))
        assert merged.find(ls, [name]) is None
    assert not whiteouts.is_whiteout(os.lstat(os.path.join(ls[1], "c")), os.path.join(ls[1], "c"))
    assert merged.find(ls, ["c"]) is not None
    assert not whiteouts.is_opaque(ls[1])               # "x" is not "y"


def test_the_layer_writer_turns_both_forms_into_wh_entries(layers):
    import io
    from pycontainer.image import layerwriter
    ls, _ = layers
    buf = io.BytesIO()
    layerwriter.write_layer(ls[1], buf, level=-1, mtime=0)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        assert sorted(tf.getnames()) == [".wh.a", ".wh.b", "c"]
