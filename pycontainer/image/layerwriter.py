"""An overlayfs upper directory -> one OCI image layer (a tar.gz), for ``build`` and ``commit``.

overlayfs records a container's changes in its upper dir (kernel
``Documentation/filesystems/overlayfs.rst``): new and modified files as
themselves, a deleted lower file as a *whiteout* (character device 0:0 of
the same name), a directory that replaced a lower one as a directory with
the xattr ``trusted.overlay.opaque=y``. The image-spec (``layer.md``,
"Whiteouts") writes the same facts as tar entries: ``dir/.wh.NAME`` and
``dir/.wh..wh..opq``. ``write_layer`` walks the upper dir in sorted order
and writes:

* files, directories, symlinks (target verbatim), FIFOs, with their mode
  (setuid/setgid/sticky included), numeric owner (no user names) and mtime
  as they are (no normalisation unless ``mtime`` is given);
* hard links within the layer as tar hard links to the first path seen;
* xattrs as PAX ``SCHILY.xattr.*`` records, except ``trusted.overlay.*``
  (overlayfs' own bookkeeping) and ``security.selinux``;
* whiteouts and opaque markers as above; other device nodes are refused.

The tar stream is hashed (the layer's ``diff_id``) and gzip-compressed
into the store's ingest (``Store.ingest``), so a failure leaves no
half-written blob.

Read: image-spec ``layer.md``; overlayfs.rst; tar(5) "pax Interchange Format".
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib

from ..errors import ImageError
from .whiteouts import is_opaque, is_whiteout

_DROP = ("trusted.overlay.", "security.selinux")


class Sink:
    """tarfile's output: hash the tar (diff_id), gzip it, hand it to the ingest writer."""

    def __init__(self, out, level: int):
        self.out = out
        self.sha = hashlib.sha256()
        self.z = zlib.compressobj(level, zlib.DEFLATED, 31) if level >= 0 else None
        self.size = 0

    def write(self, b) -> int:
        b = bytes(b)
        self.sha.update(b)
        self.size += len(b)
        self.out.write(self.z.compress(b) if self.z else b)
        return len(b)

    def close(self) -> None:
        if self.z:
            self.out.write(self.z.flush())


def write_layer(upper: str, out, *, level: int = 6, mtime: int | None = None,
                skip=None) -> str:
    """Write ``upper`` as a layer to ``out`` (``.write(bytes)``); returns its diff_id.

    ``level``: gzip level, or -1 for an uncompressed tar. ``skip(relpath, st)``
    may drop entries (e.g. mount points a run left behind).
    """
    import tarfile
    sink = Sink(out, level)
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(upper):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, upper)
            if rel_dir != "." and is_opaque(dirpath):
                ti = tarfile.TarInfo(os.path.join(rel_dir, ".wh..wh..opq"))
                ti.mtime = int(os.lstat(dirpath).st_mtime) if mtime is None else mtime
                tf.addfile(ti)
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name))
                st = os.lstat(path)
                if stat.S_ISSOCK(st.st_mode):
                    continue                             # tar has no sockets (docker skips them)
                if skip and skip(rel, st):
                    if stat.S_ISDIR(st.st_mode):
                        dirnames.remove(name)
                    continue
                tf.addfile(*_entry(path, rel, st, links, mtime))
    sink.close()
    return "sha256:" + sink.sha.hexdigest()


def _entry(path: str, rel: str, st: os.stat_result, links: dict, mtime):
    import tarfile
    mode = st.st_mode
    if is_whiteout(st, path):
        d, b = os.path.split(rel)
        ti = tarfile.TarInfo(os.path.join(d, ".wh." + b))
        ti.mtime = int(st.st_mtime) if mtime is None else mtime
        return ti, None
    ti = tarfile.TarInfo(rel)
    ti.mode = stat.S_IMODE(mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime) if mtime is None else mtime
    pax = {}
    for k, v in _xattrs(path).items():
        pax["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
    if pax:
        ti.pax_headers = pax
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
        return ti, None
    if stat.S_ISLNK(mode):
        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
        return ti, None
    if stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
        return ti, None
    if not stat.S_ISREG(mode):
        raise ImageError(f"layer: {rel} is a device node or socket; a layer cannot hold it")
    if st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        if key in links:
            ti.type, ti.linkname = tarfile.LNKTYPE, links[key]
            return ti, None
        links[key] = rel
    ti.size = st.st_size
    f = open(path, "rb")                           # noqa: SIM115 - closed by the caller's GC
    return ti, _Closing(f)


class _Closing:
    """A file tarfile reads once; closed when fully read (no fd pile-up on big layers)."""

    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        b = self.f.read(n)
        if not b:
            self.f.close()
        return b

    def readinto(self, buf):
        return self.f.readinto(buf)

    def __del__(self):
        self.f.close()


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n.startswith(_DROP):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            continue
    return out


def add_layer(store, upper: str, *, level: int = 6, skip=None) -> tuple[dict, str]:
    """Write ``upper`` into ``store`` as a blob; returns (descriptor, diff_id)."""
    from .manifest import MT_OCI_LAYER, MT_OCI_LAYER_GZIP
    with store.ingest() as w:
        diff_id = write_layer(upper, w, level=level, skip=skip)
        digest = w.commit()
        size = w.count
    mt = MT_OCI_LAYER_GZIP if level >= 0 else MT_OCI_LAYER
    return {"mediaType": mt, "digest": digest, "size": size}, diff_id


def add_image(store, base_manifest: dict | None, config: dict, layers: list[tuple[dict, str]],
              names: list[str] = (), annotations: dict | None = None):
    """Config + base layers + new (descriptor, diff_id) layers -> an image in ``store``."""
    import json
    from .manifest import MT_OCI_CONFIG, MT_OCI_MANIFEST
    config = dict(config)
    rootfs = dict(config.get("rootfs") or {"type": "layers", "diff_ids": []})
    rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [d for _, d in layers]
    config["rootfs"] = rootfs
    cfg = json.dumps(config, separators=(",", ":")).encode()
    with store.adding():
        cfg_digest = store.add_blob_bytes(cfg)
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": {"mediaType": MT_OCI_CONFIG, "digest": cfg_digest, "size": len(cfg)},
                    "layers": list((base_manifest or {}).get("layers") or []) + [d for d, _ in layers]}
        if annotations:
            manifest["annotations"] = dict(annotations)
        data = json.dumps(manifest, separators=(",", ":")).encode()
        return store.add_image(data, list(names))
