"""Built-in images: made offline from Debian packages by the recipes in ``images/``.

``busybox`` resolves with no network: the first time the store lacks
``docker.io/library/busybox:latest``, ``images/build-busybox.sh OUT`` builds a
rootfs (Debian's busybox-static) and an image config into OUT, and this
module turns them into a proper OCI image in the store: one uncompressed
layer (so its digest *is* its diff_id) written as a reproducible tar (sorted
names, owner 0:0, every mtime = OUT/source-date-epoch, the package's date),
the config with ``rootfs.diff_ids`` filled in, and an OCI manifest annotated
``org.pycontainer.builtin``. The same package always yields the same image
digest, so concurrent first runs converge on one image.

A recipe may name a base image in OUT/base: its rootfs is then one more layer
on top of the base's layers, which stay shared. ``localhost/python:3.11``
(images/build-python.sh: Debian's python3.11, its stdlib and shared libraries)
sits on busybox this way; ``localhost/`` marks it as built here, never pulled.

The recipes directory is ``$PYCONTAINER_IMAGES_DIR``, else ``pycontainer/images/``
where a wheel put them (setup.py copies ``images/*.sh`` there), else ``images/``
of the source checkout this package lives in (an editable install).

Read: image-spec ``manifest.md``, ``config.md``; reproducible-builds.org
"Archive metadata".
"""

from __future__ import annotations

import json
import os

from ..errors import ImageError
from . import reference

# full name -> recipe script in images/
RECIPES = {"docker.io/library/busybox:latest": "build-busybox.sh",
           "localhost/python:3.11": "build-python.sh"}
ANN_BUILTIN = "org.pycontainer.builtin"


def is_builtin(ref: str) -> bool:
    try:
        return reference.parse(ref).name in RECIPES
    except ImageError:
        return False


def recipes_dir() -> str:
    env = os.environ.get("PYCONTAINER_IMAGES_DIR")
    if env:
        return env
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(package, "images")):
        return os.path.join(package, "images")
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "images")


def ensure(store, ref: str = "busybox", *, hold: str | None = None, _locked: bool = False):
    """Build the built-in image ``ref`` into ``store`` unless present; returns the Image."""
    from contextlib import nullcontext
    name = reference.parse(ref).name
    if name not in RECIPES:
        raise ImageError(f"{ref!r} is not a built-in image (built-ins: "
                         f"{', '.join(reference.familiar(n) for n in RECIPES)})")
    with (nullcontext() if _locked else store.adding()):
        with store.lock("builtin-" + RECIPES[name] + ".lock"):
            if not store.exists(name):
                build(store, name)
        digest, _ = store.find(name)
        img = store.image(digest, name)
        if hold:
            store.hold(hold, img, locked=True)
        return img


def build(store, name: str) -> str:
    """Run the recipe for ``name`` and add its image to the store; returns the digest."""
    import shutil
    import subprocess
    import tempfile
    script = os.path.join(recipes_dir(), RECIPES[name])
    if not os.path.isfile(script):
        raise ImageError(f"built-in image {reference.familiar(name)!r}: recipe {script} not "
                         "found (set PYCONTAINER_IMAGES_DIR to the images/ directory)")
    work = tempfile.mkdtemp(prefix="builtin-", dir=store.path("ingest"))
    try:
        out = os.path.join(work, "out")
        proc = subprocess.run(["/bin/sh", script, out], capture_output=True, text=True)
        if proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            raise ImageError(f"built-in image {reference.familiar(name)!r}: {msg}")
        with open(os.path.join(out, "config.json")) as f:
            config = json.load(f)
        base = None
        if os.path.exists(os.path.join(out, "base")):
            with open(os.path.join(out, "base")) as f:
                base = ensure(store, f.read().strip(), _locked=True)
        mtime = None
        if os.path.exists(os.path.join(out, "source-date-epoch")):
            with open(os.path.join(out, "source-date-epoch")) as f:
                mtime = int(f.read().strip())
        return add_rootfs(store, os.path.join(out, "rootfs"), config, [name], base=base,
                          mtime=mtime, annotations={ANN_BUILTIN: f"images/{RECIPES[name]}"})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_rootfs(store, rootfs: str, config: dict, names: list[str], *, base=None,
               annotations: dict | None = None, mtime: int | None = None) -> str:
    """Tar ``rootfs`` reproducibly as a layer with ``config``; returns the digest.

    With ``base`` (an Image) the layer goes on top of the base image's layers,
    which are shared, not copied.
    """
    import time
    from .manifest import MT_OCI_CONFIG, MT_OCI_LAYER, MT_OCI_MANIFEST
    if mtime is None:
        mtime = int(os.environ.get("SOURCE_DATE_EPOCH") or _newest_mtime(rootfs))
    with store.ingest() as w:
        write_tar(rootfs, w, mtime)
        layer_digest, layer_size = w.commit(), w.count
    config = dict(config)
    below = list(base.config["rootfs"]["diff_ids"]) if base else []
    config["rootfs"] = {"type": "layers", "diff_ids": below + [layer_digest]}
    if base:
        config["history"] = list(base.config.get("history") or []) + list(config.get("history") or [])
    config.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime)))
    cfg = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    cfg_digest = store.add_blob_bytes(cfg)
    manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                "config": {"mediaType": MT_OCI_CONFIG, "digest": cfg_digest, "size": len(cfg)},
                "layers": (list(base.manifest["layers"]) if base else [])
                + [{"mediaType": MT_OCI_LAYER, "digest": layer_digest, "size": layer_size}]}
    if annotations:
        manifest["annotations"] = annotations
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return store.add_image(data, names).digest


def _newest_mtime(rootfs: str) -> int:
    """The newest mtime of a regular file: the packages' date, stable across builds."""
    import stat
    newest = 0
    for dirpath, _, filenames in os.walk(rootfs):
        for n in filenames:
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISREG(st.st_mode):
                newest = max(newest, int(st.st_mtime))
    return newest or int(os.lstat(rootfs).st_mtime)


def write_tar(rootfs: str, out, mtime: int) -> None:
    """Write ``rootfs`` as a tar to ``out`` (anything with .write): sorted, 0:0, fixed mtime."""
    import tarfile

    class _W:
        def write(self, b):
            out.write(bytes(b))
            return len(b)
    with tarfile.open(fileobj=_W(), mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for n in sorted(dirnames + filenames):
                p = os.path.join(dirpath, n)
                ti = tf.gettarinfo(p, arcname=os.path.relpath(p, rootfs))
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                ti.mtime = mtime
                if ti.isreg():
                    with open(p, "rb") as f:
                        tf.addfile(ti, f)
                else:
                    tf.addfile(ti)
