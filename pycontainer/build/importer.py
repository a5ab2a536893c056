"""``import``: a root filesystem tarball as a one-layer image (docker import).

The tarball (plain, gzip, bzip2, xz or zstd: ``image/decompress.py`` tells them apart by
their first bytes) becomes the image's only layer. Its uncompressed bytes are read once:
hashed (the layer's ``diff_id``, image-spec config.md), gzip-compressed into the store's
ingest (a failure leaves no half-written blob), and walked by ``tarfile`` in stream mode,
so that what is not a whole tar archive is refused before any image exists. The config
has only what ``-c`` sets (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME,
WORKDIR, STOPSIGNAL: docker import's list), this machine's platform or ``--platform``'s,
and one history entry, "Imported from FILE" (or ``-m``'s message).

A URL is refused: download it first (this runtime reaches only registries, by name).

Read: docker's "docker import" reference; image-spec layer.md and config.md.
"""

from __future__ import annotations

import time
import zlib

from . import BuildError

CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR",
           "STOPSIGNAL")


class _Tee:
    """The tar stream as tarfile reads it, passed to layerwriter's Sink (hashed: the diff_id,
    gzip-compressed into the ingest), the sink a layer made from a directory also writes to."""

    def __init__(self, src, out):
        from ..image.layerwriter import Sink
        self.src, self.sink = src, Sink(out, 6)

    def read(self, n: int = -1) -> bytes:
        b = self.src.read(n)
        if b:
            self.sink.write(b)
        return b

    def drain(self) -> None:
        """The bytes after the end-of-archive blocks belong to the layer's digest too."""
        while self.read(1 << 16):
            pass
        self.sink.close()


def import_tarball(store, src, name: str | None, *, changes=(), message: str | None = None,
                   platform: dict | None = None, label: str = "-"):
    """``src``: a path or a binary file object (stdin). -> the new store Image."""
    from ..image import reference
    from .commit import check_changes
    if isinstance(src, str) and "://" in src:
        raise BuildError(f"import {src}: URLs are not supported: download the file, then "
                         "import it (or pipe it in with '-')")
    if name:
        reference.parse(name)
    check_changes(changes, "import", CHANGES)
    if not isinstance(src, str):
        return _import(store, src, name, changes, message, platform, label)
    try:
        f = open(src, "rb")
    except OSError as exc:
        raise BuildError(f"import {label}: {exc.strerror}") from None
    with f:
        return _import(store, f, name, changes, message, platform, label)


def _import(store, src, name, changes, message, platform, label):
    import tarfile
    from ..image import decompress, layerwriter, reference
    from ..image.manifest import MT_OCI_LAYER_GZIP
    from .commit import apply_changes
    with store.ingest() as w, decompress.opened(src, f"import {label}") as raw:
        tee = _Tee(raw, w)
        try:
            with tarfile.open(fileobj=tee, mode="r|") as tf:
                entries = sum(1 for _ in tf)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise BuildError(f"import {label}: not a tar archive ({exc})") from None
        if not entries:
            raise BuildError(f"import {label}: the archive is empty")
        tee.drain()
        digest = w.commit()
        size = w.count
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cfg = {"created": now, **(platform or reference.host_platform()), "config": {},
           "history": [{"created": now, "created_by": "pycontainer import " + label,
                        "comment": message or f"Imported from {label}"}]}
    apply_changes(cfg, changes)
    layer = ({"mediaType": MT_OCI_LAYER_GZIP, "digest": digest, "size": size},
             "sha256:" + tee.sink.sha.hexdigest())
    img = layerwriter.add_image(store, None, cfg, [layer], [name] if name else [])
    from ..events import record
    record("image", "import", img.id, name=name)
    return img
