"""The image store on overlayfs, decompression bombs, a full disk (issue 11 item 7).

* A store on an overlay mount (pycontainer inside a container, a CI runner
  whose / is overlay) cannot hold a 0:0 char device: whiteouts become
  overlayfs xattr whiteouts (Linux 6.7+), which an overlay of the layers
  honours; without kernel support, a one-line error that says why and what
  to do, and the store is left as it was.
* Caps on a layer's and an image's uncompressed size and a free-space
  reserve (pycontainer/image/space.py, configurable by environment):
  crossing one stops the load with an error naming the layer, and the
  store is left exactly as it was (same blobs, layers, index).
* A load onto a small tmpfs that fills: the same.
"""

import gzip
import io
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "unit"))

from pycontainer.errors import ImageError  # noqa: E402
from pycontainer.image.store import Store  # noqa: E402
from test_store import BASE, image_parts, layer_tar, oci_archive, sha  # noqa: E402

pytestmark = pytest.mark.root


def _snapshot(store) -> dict:
    out = {}
    for top, dirs, files in os.walk(store.root):
        if "/locks" in top or top.endswith("/locks"):
            continue
        for n in files + dirs:
            p = os.path.join(top, n)
            out[os.path.relpath(p, store.root)] = os.path.getsize(p) if os.path.isfile(p) else None
    return out


def _load(store, data: bytes, env=None):
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        return store.load(io.BytesIO(data))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def mounted(tmp_path):
    made = []

    def mount(kind: str, **opts) -> str:
        target = tmp_path / f"mnt-{len(made)}"
        target.mkdir()
        if kind == "overlay":
            for d in ("lower", "upper", "work"):
                (tmp_path / f"{d}-{len(made)}").mkdir()
            data = (f"lowerdir={tmp_path}/lower-{len(made)},upperdir={tmp_path}/upper-{len(made)},"
                    f"workdir={tmp_path}/work-{len(made)}")
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", data, str(target)], check=True)
        else:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={opts['size']}", "tmpfs", str(target)],
                           check=True)
        made.append(str(target))
        return str(target)
    yield mount
    for t in reversed(made):
        subprocess.run(["umount", "-l", t], check=False)


def _whiteout_layer() -> bytes:
    return layer_tar({"etc/.wh.os-release": b"", "app/x": b"x"})


def test_store_on_overlayfs_uses_xattr_whiteouts_that_overlayfs_honours(mounted, tmp_path):
    """On this kernel (>= 6.7) the whiteout becomes an xattr whiteout: an overlay stacked
    from the store's layers hides the deleted file and shows the rest."""
    root = mounted("overlay")
    store = Store(os.path.join(root, "images"))
    man, blobs = image_parts([BASE, _whiteout_layer()])
    store.load(io.BytesIO(oci_archive([(man, blobs, "x.io/wh:1")])))
    img = store.resolve("x.io/wh:1")
    lowers = ":".join(reversed(img.layers))               # top layer first
    merged = tmp_path / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers}", str(merged)],
                   check=True)
    try:
        assert not os.path.exists(merged / "etc" / "os-release")
        assert (merged / "app" / "x").read_bytes() == b"x" and (merged / "bin" / "sh").exists()
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def test_store_on_overlayfs_without_xattr_whiteouts_is_one_clear_line(mounted, monkeypatch):
    """An older kernel (no xattr whiteouts): one line that says why and what to do, and
    the store is left as it was."""
    from pycontainer.image import whiteouts
    monkeypatch.setattr(whiteouts, "xattr_whiteouts", lambda: False)
    root = mounted("overlay")
    store = Store(os.path.join(root, "images"))
    man0, blobs0 = image_parts([BASE])
    store.load(io.BytesIO(oci_archive([(man0, blobs0, "x.io/base:1")])))      # no whiteout: fine
    before = _snapshot(store)
    man, blobs = image_parts([BASE, _whiteout_layer()])
    with pytest.raises(ImageError) as ei:
        store.load(io.BytesIO(oci_archive([(man, blobs, "x.io/wh:1")])))
    msg = str(ei.value)
    assert "\n" not in msg and "overlay" in msg and "PYCONTAINER_IMAGE_ROOT" in msg, msg
    assert "layer sha256:" in msg
    assert _snapshot(store) == before


def test_gzip_bomb_is_stopped_at_the_layer_cap_and_store_unchanged(tmp_path):
    store = Store(str(tmp_path / "store"))
    man0, blobs0 = image_parts([BASE])
    store.load(io.BytesIO(oci_archive([(man0, blobs0, "x.io/base:1")])))
    before = _snapshot(store)
    # ~64 MiB of zeros in one file: ~64 KiB of gzip (a small bomb; the cap is 16M)
    raw = io.BytesIO()
    import tarfile
    with tarfile.open(fileobj=raw, mode="w") as tf:
        ti = tarfile.TarInfo("zeros")
        ti.size = 64 << 20
        tf.addfile(ti, io.BytesIO(b"\0" * ti.size))
    bomb = raw.getvalue()
    man, blobs = image_parts([BASE, bomb])
    assert max(len(b) for b in blobs.values()) < 1 << 20
    data = oci_archive([(man, blobs, "x.io/bomb:1")])
    with pytest.raises(ImageError) as ei:
        _load(store, data, {"PYCONTAINER_MAX_LAYER_SIZE": "16M"})
    assert "PYCONTAINER_MAX_LAYER_SIZE" in str(ei.value) and "layer sha256:" in str(ei.value)
    assert _snapshot(store) == before
    # the image cap: two layers of 12 MiB each under a 16 MiB image cap
    big = [layer_tar({f"f{i}": os.urandom(1) * (12 << 20)}) for i in range(2)]
    man, blobs = image_parts(big)
    with pytest.raises(ImageError) as ei:
        _load(store, oci_archive([(man, blobs, "x.io/two:1")]), {"PYCONTAINER_MAX_IMAGE_SIZE": "16M"})
    assert "PYCONTAINER_MAX_IMAGE_SIZE" in str(ei.value) and "layer sha256:" in str(ei.value)
    assert _snapshot(store) == before
    # and without the caps it loads
    _load(store, oci_archive([(man, blobs, "x.io/two:1")]))


def test_reserve_and_a_full_tmpfs_leave_the_store_as_it_was(mounted):
    root = mounted("tmpfs", size="48m")
    store = Store(os.path.join(root, "images"))
    man0, blobs0 = image_parts([BASE])
    _load(store, oci_archive([(man0, blobs0, "x.io/base:1")]), {"PYCONTAINER_STORE_RESERVE": "0"})
    before = _snapshot(store)
    layer = layer_tar({"big": os.urandom(1 << 20) * 30})        # 30 MiB, compresses well
    man, blobs = image_parts([layer])
    data = oci_archive([(man, blobs, "x.io/big:1")])
    # the reserve: 32 MiB must stay free on a 48 MiB filesystem
    with pytest.raises(ImageError) as ei:
        _load(store, data, {"PYCONTAINER_STORE_RESERVE": "32M"})
    assert "PYCONTAINER_STORE_RESERVE" in str(ei.value) and "layer sha256:" in str(ei.value)
    assert _snapshot(store) == before
    # no reserve: the disk fills (ENOSPC), one line naming the layer, store as it was
    layer = layer_tar({"big": os.urandom(1 << 20) * 60})
    man, blobs = image_parts([layer])
    with pytest.raises(ImageError) as ei:
        _load(store, oci_archive([(man, blobs, "x.io/big:2")]), {"PYCONTAINER_STORE_RESERVE": "0"})
    assert "\n" not in str(ei.value) and ("space" in str(ei.value).lower()), str(ei.value)
    assert _snapshot(store) == before
    gzip.compress(b"")
    assert sha(b"")
