"""Image archives: ``docker save`` tarballs and OCI archives, in and out.

Two formats are read (both are plain tars, maybe gzip-compressed):

* **OCI archive** (skopeo ``oci-archive:``, podman ``save --format oci-archive``,
  docker >= 25): an image layout (``oci-layout``, ``index.json``,
  ``blobs/sha256/<hex>``). ``index.json`` lists manifests, or image indexes
  from which this machine's platform is picked. Names come from the
  annotations ``io.containerd.image.name`` (full) or
  ``org.opencontainers.image.ref.name`` (a tag, or a full name).
* **docker save** (legacy): ``manifest.json`` =
  ``[{"Config": "<hex>.json", "RepoTags": [...], "Layers": ["<id>/layer.tar", ...]}]``;
  layers are (usually uncompressed) tars whose sha256 is the diff_id. An OCI
  manifest is written for them.

Archive member names are untrusted: they are only dictionary keys here, never
paths on disk. Every member is streamed once into the store's ingest area
(hashed on the way) and only blobs whose digest checks out are renamed into
``blobs/``; the rest is deleted.

``save`` writes one tar that is both: an OCI layout plus a docker-style
``manifest.json`` whose paths point into ``blobs/`` (what docker 25 writes),
so docker, podman, skopeo and pycontainer can all load it.

Read: image-spec ``image-layout.md``; moby ``image/tarexport`` (load.go, save.go).
"""

from __future__ import annotations

import io
import json
import os
import posixpath

from ..errors import ImageError
from . import reference
from .manifest import (ANN_NAME, ANN_REF, INDEX_TYPES, MAX_JSON, MT_OCI_CONFIG, MT_OCI_INDEX,
                       MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, MT_OCI_MANIFEST, pick_platform,
                       sha256_hex)

_META = {"manifest.json", "index.json", "oci-layout", "repositories"}


def load(store: "Store", src, *, name: str | None = None, progress=None) -> list[str]:
    """Import every image in the archive ``src``; returns the names (or digests) loaded."""
    import tarfile
    opened = None
    if isinstance(src, (str, os.PathLike)):
        if str(src) == "-":
            import sys
            src = sys.stdin.buffer
        else:
            try:
                opened = src = open(src, "rb")
            except OSError as exc:
                raise ImageError(f"load: cannot open {str(src)!r}: {exc.strerror}") from None
    files: dict[str, tuple[str | None, str, int]] = {}   # member -> (tmp, digest, size)
    meta: dict[str, bytes] = {}
    links: dict[str, str] = {}
    try:
        with store.adding():
            try:
                with tarfile.open(fileobj=src, mode="r|*") as tf:
                    for m in tf:
                        key = posixpath.normpath(m.name.lstrip("/")).lstrip("./") or "."
                        if m.issym() or m.islnk():
                            tgt = m.linkname if m.islnk() else \
                                posixpath.join(posixpath.dirname(key), m.linkname)
                            links[key] = posixpath.normpath(tgt.lstrip("/"))
                        elif m.isreg():
                            if key in _META:
                                if m.size > MAX_JSON:
                                    raise ImageError(f"load: {key} is over {MAX_JSON} bytes")
                                meta[key] = tf.extractfile(m).read()
                            else:
                                files[key] = _ingest_member(store, tf, m)
            except (tarfile.TarError, EOFError, zlib_error()) as exc:
                raise ImageError(f"load: not a tar archive, or truncated ({exc})") from None
            for k, v in links.items():
                for _ in range(8):
                    if v in links:
                        v = links[v]
                if v in files:
                    files[k] = files[v]
            if "index.json" in meta:
                return _loaded(_load_oci(store, meta, files, name, progress))
            if "manifest.json" in meta:
                return _loaded(_load_docker(store, meta, files, progress))
            raise ImageError("load: archive has neither index.json (OCI) nor manifest.json "
                             "(docker save)")
    finally:
        for tmp, _, _ in files.values():
            if tmp:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        if opened:
            opened.close()


def _loaded(names: list[str]) -> list[str]:
    from ..events import record
    for n in names:
        record("image", "load", n, name=n)
    return names


def zlib_error():
    import zlib
    return zlib.error


def _ingest_member(store: "Store", tf, m):
    w = store.ingest()
    try:
        f = tf.extractfile(m)
        while chunk := f.read(1 << 20):
            w.write(chunk)
        w.f.flush()
        digest = "sha256:" + w.sha.hexdigest()
        tmp, w.tmp = w.tmp, None                      # keep the file: we commit it later
        return tmp, digest, w.count
    finally:
        w.__exit__(None, None, None)


def _commit(store: "Store", files, key: str, expected: str | None = None) -> str:
    """Move the archived file ``key`` into blobs/ (checking ``expected``)."""
    if key not in files:
        raise ImageError(f"load: archive lacks {key!r}")
    tmp, digest, size = files[key]
    if expected and digest != expected:
        raise ImageError(f"load: {key} has digest {digest}, expected {expected} (corrupt archive)")
    if not store.has_blob(digest):
        if tmp is None:
            raise ImageError(f"load: {key} listed twice")
        os.replace(tmp, store.blob_path(digest))
        files[key] = (None, digest, size)
    return digest


def _blob_key(digest: str) -> str:
    return f"blobs/sha256/{sha256_hex(digest)}"


def _load_oci(store, meta, files, name, progress) -> list[str]:
    index = _json(meta["index.json"], "index.json")
    tags = _docker_tags(meta)
    loaded = []
    for desc, ann in _oci_manifests(store, index, files):
        d = desc["digest"]
        _commit(store, files, _blob_key(d), d)
        m = store.read_json_blob(d)
        _commit(store, files, _blob_key(m["config"]["digest"]), m["config"]["digest"])
        for l in m.get("layers", []):
            _commit(store, files, _blob_key(l["digest"]), l["digest"])
        names = []
        full = ann.get(ANN_NAME)
        ref = ann.get(ANN_REF)
        if full:
            names.append(full)
        elif ref and ("/" in ref or not _is_tag(ref)):
            names.append(ref)
        elif ref and name:
            names.append(f"{name}:{ref}")
        names += tags.get(m["config"]["digest"], [])
        if not names and name:
            names.append(name)
        names = list(dict.fromkeys(_valid(n) for n in names if _valid(n)))
        with open(store.blob_path(d), "rb") as f:
            img = store.add_image(f.read(), names, media_type=desc.get("mediaType"),
                                  progress=progress)
        loaded += [reference.familiar(n) for n in img.names] or [img.digest]
    return loaded


def _oci_manifests(store, index, files):
    """(descriptor, annotations) of each image manifest, picking our platform in indexes."""
    for desc in index.get("manifests", []):
        ann = desc.get("annotations") or {}
        mt = desc.get("mediaType")
        if mt in INDEX_TYPES:
            key = _blob_key(desc["digest"])
            _commit(store, files, key, desc["digest"])
            with open(store.blob_path(desc["digest"]), "rb") as f:
                sub = _json(f.read(), key)
            chosen = pick_platform(sub, f"archive index {desc['digest']}")
            yield chosen, ann
        else:
            yield desc, ann


def _docker_tags(meta) -> dict[str, list[str]]:
    """config digest -> RepoTags, from a docker manifest.json if present."""
    out: dict[str, list[str]] = {}
    if "manifest.json" not in meta:
        return out
    for item in _json(meta["manifest.json"], "manifest.json"):
        cfg = item.get("Config", "")
        hexpart = posixpath.basename(cfg).split(".")[0]
        out.setdefault("sha256:" + hexpart, []).extend(item.get("RepoTags") or [])
    return out


def _load_docker(store, meta, files, progress) -> list[str]:
    items = _json(meta["manifest.json"], "manifest.json")
    if not isinstance(items, list):
        raise ImageError("load: manifest.json is not a list")
    loaded = []
    for item in items:
        cfg_key = posixpath.normpath(item.get("Config", ""))
        cfg_digest = _commit(store, files, cfg_key)
        cfg = store.read_json_blob(cfg_digest)
        layer_descs = []
        for lk in item.get("Layers", []):
            lk = posixpath.normpath(lk)
            if lk not in files:
                raise ImageError(f"load: manifest.json names {lk!r}, not in the archive")
            d = _commit(store, files, lk)
            layer_descs.append({"mediaType": _layer_type(store.blob_path(d)), "digest": d,
                                "size": files[lk][2]})
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                    "config": {"mediaType": MT_OCI_CONFIG, "digest": cfg_digest,
                               "size": files[cfg_key][2]},
                    "layers": layer_descs}
        data = json.dumps(manifest, separators=(",", ":")).encode()
        names = [n for n in (_valid(t) for t in item.get("RepoTags") or []) if n]
        img = store.add_image(data, names, progress=progress)
        if len(cfg.get("rootfs", {}).get("diff_ids", [])) != len(layer_descs):
            raise ImageError("load: layer count does not match the config's diff_ids")
        loaded += [reference.familiar(n) for n in img.names] or [img.digest]
    return loaded


def _layer_type(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return MT_OCI_LAYER_GZIP
    if head == b"\x28\xb5\x2f\xfd":
        return MT_OCI_LAYER_ZSTD
    return MT_OCI_LAYER


def _is_tag(s: str) -> bool:
    return ":" not in s and "/" not in s


def _valid(n: str) -> str | None:
    try:
        return reference.parse(n).name
    except ImageError:
        return None


def _json(data: bytes, what: str):
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ImageError(f"load: {what} is not valid JSON: {exc}") from None


# --- save -----------------------------------------------------------------------------

def save(store: "Store", refs: list[str], out) -> None:
    """Write the images ``refs`` to ``out`` (a path, '-' or a binary file object)."""
    import tarfile
    import time
    if not refs:
        raise ImageError("save: name at least one image")
    index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": []}
    docker = []
    blobs: list[str] = []
    for ref in refs:
        info = store.inspect(ref)
        d = info["Digest"]
        m = store.read_json_blob(d)
        wanted = [reference.parse(ref).name] if not _is_digestish(ref) else \
            [reference.parse(t).name for t in info["RepoTags"]]
        for n in wanted or [None]:
            desc = {"mediaType": m.get("mediaType", MT_OCI_MANIFEST), "digest": d,
                    "size": os.path.getsize(store.blob_path(d))}
            if n:
                desc["annotations"] = {ANN_NAME: n, ANN_REF: reference.parse(n).tag or ""}
            index["manifests"].append(desc)
        docker.append({"Config": _blob_key(m["config"]["digest"]),
                       "RepoTags": [reference.familiar(n) for n in wanted],
                       "Layers": [_blob_key(x["digest"]) for x in m["layers"]]})
        for b in [d, m["config"]["digest"]] + [x["digest"] for x in m["layers"]]:
            if b not in blobs:
                blobs.append(b)
    close = None
    if isinstance(out, (str, os.PathLike)):
        if str(out) == "-":
            import sys
            out = sys.stdout.buffer
        else:
            close = out = open(out, "wb")
    now = int(time.time())

    def add_bytes(tf, name, data):
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode = len(data), now, 0o644
        tf.addfile(ti, io.BytesIO(data))
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            for b in blobs:
                ti = tf.gettarinfo(store.blob_path(b), arcname=_blob_key(b))
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                ti.mode = 0o644
                with open(store.blob_path(b), "rb") as f:
                    tf.addfile(ti, f)
            add_bytes(tf, "index.json", json.dumps(index).encode())
            add_bytes(tf, "manifest.json", json.dumps(docker).encode())
    except OSError as exc:
        raise ImageError(f"save: {exc.strerror or exc}", errno=exc.errno) from exc
    finally:
        if close:
            close.close()


def _is_digestish(ref: str) -> bool:
    s = ref[7:] if ref.startswith("sha256:") else ref
    return 12 <= len(s) <= 64 and all(c in "0123456789abcdef" for c in s)
