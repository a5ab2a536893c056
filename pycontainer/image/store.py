"""The image store: an OCI image layout on disk, plus each layer unpacked once.

Layout under the root (default ``/var/lib/pycontainer/images``, or
``$PYCONTAINER_IMAGE_ROOT``)::

    oci-layout                 {"imageLayoutVersion": "1.0.0"}     (image-spec image-layout.md)
    index.json                 one descriptor per (name, image manifest); the name is the
                               annotation io.containerd.image.name (full, e.g.
                               docker.io/library/busybox:latest) and the tag is
                               org.opencontainers.image.ref.name, as containerd writes them
    blobs/sha256/<hex>         manifests, configs and layer blobs, content-addressed
    ingest/                    blobs being written: renamed into blobs/ only once their
                               digest and size are verified, so no half-written blob is
                               ever reachable by digest
    layers/<hex of diff_id>/   a layer unpacked in overlay form (layers.py); shared by every
                               image and container that uses it; unpacked into
                               layers/.tmp-* and renamed when its diff_id checks out
    holds/<container-id>.json  "this container uses this image": rmi refuses, gc keeps
    locks/                     flock(2) files (below)

Locking (flock(2), released by the kernel if a process dies): ``gc.lock`` is
taken *shared* by everything that adds content (pull, load, unpack, hold) and
*exclusive* by removal and garbage collection, so gc never deletes a blob a
pull has written but not yet referenced; ``index.lock`` serialises
index.json rewrites (always after gc.lock: no lock-order inversion);
``layer-<hex>.lock`` and ``blob-<hex>.lock`` make concurrent pulls of one layer
unpack/download it once. index.json is replaced atomically (write, fsync,
rename), so readers need no lock.

The root is mode 0700: unpacked layers hold the images' setuid binaries, which
must not be reachable by unprivileged host users.

Beside this file: manifest.py (media types, manifest parsing), blobs.py
(verified blob writes, atomic replaces, flock), prune.py (rmi and gc);
archive.py, registry.py and builtin.py add images through the public methods
here and never import this module.

Read: image-spec ``image-layout.md``, ``image-index.md``, ``manifest.md``,
``config.md``; Docker's ``docker save`` format (``manifest.json`` with
Config/RepoTags/Layers).
"""

from __future__ import annotations

import json
import os

from ..errors import ImageError, ImageNotFound
from . import reference
from .blobs import Ingest, flock, write_atomic
from . import manifest as mf
from .manifest import ANN_NAME, ANN_REF, MAX_JSON, MT_OCI_INDEX, MT_OCI_MANIFEST, sha256_hex

DEFAULT_ROOT = "/var/lib/pycontainer/images"

class Image:
    """A resolved image: what the porcelain needs to build a bundle. (A plain class: importing
    dataclasses cost ~4 ms of every ``run IMAGE``.)"""

    FIELDS = ("name", "digest", "id", "manifest", "config", "layers", "names")

    def __init__(self, name: str, digest: str, id: str, manifest: dict, config: dict,  # noqa: A002
                 layers: list[str], names: list[str] | None = None):
        self.name = name            # the reference it was resolved by (full form) or its digest
        self.digest = digest        # manifest digest (what a registry calls the image)
        self.id = id                # config digest (what docker calls the image ID)
        self.manifest = manifest
        self.config = config        # the image config: config["config"] holds Env, Cmd, ...
        self.layers = layers        # unpacked layer dirs, bottom layer first (overlay lowers)
        self.names = [] if names is None else names

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.FIELDS)

    def __repr__(self) -> str:
        return "Image(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS) + ")"

    @property
    def run_config(self) -> dict:
        """Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, ... (may be empty)."""
        return self.config.get("config") or {}


class Store:
    """An image store rooted at ``root``; every method is safe to call concurrently."""

    def __init__(self, root: str | None = None, *, devices: str = "reject"):
        self.root = os.path.abspath(root or os.environ.get("PYCONTAINER_IMAGE_ROOT")
                                    or DEFAULT_ROOT)
        self.devices = devices
        self._ready = False

    # -- paths and setup -------------------------------------------------------------

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def blob_path(self, digest: str) -> str:
        return self.path("blobs", "sha256", sha256_hex(digest))

    def layer_dir(self, diff_id: str) -> str:
        return self.path("layers", sha256_hex(diff_id))

    def init(self) -> None:
        if self._ready:
            return
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            for d in ("blobs/sha256", "ingest", "layers", "holds", "locks"):
                os.makedirs(self.path(d), mode=0o700, exist_ok=True)
            for d in (self.root, self.path("layers")):
                if os.stat(d).st_mode & 0o077:
                    os.chmod(d, 0o700)     # layers hold setuid binaries: no access for others
            if not os.path.exists(self.path("oci-layout")):
                write_atomic(self.path("oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')
            if not os.path.exists(self.path("index.json")):
                with flock(self.path("locks", "index.lock")):
                    if not os.path.exists(self.path("index.json")):
                        self.write_index({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                                           "manifests": []})
        except OSError as exc:
            raise ImageError(f"image store {self.root}: {exc.strerror} (run as root or set "
                             "PYCONTAINER_IMAGE_ROOT)", errno=exc.errno) from exc
        self._ready = True

    def lock(self, name: str, exclusive: bool = True):
        self.init()
        return flock(self.path("locks", name), exclusive)

    def adding(self):
        """Shared gc lock: hold it while adding content that is not yet referenced."""
        return self.lock("gc.lock", exclusive=False)

    def blob_lock(self, digest: str):
        return self.lock(f"blob-{sha256_hex(digest)}.lock")

    # -- blobs -----------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self.blob_path(digest))

    def ingest(self, expected: str | None = None, size: int | None = None) -> Ingest:
        self.init()
        return Ingest(self, expected, size)

    def add_blob_bytes(self, data: bytes, expected: str | None = None) -> str:
        with self.ingest(expected, len(data)) as w:
            w.write(data)
            return w.commit()

    def read_json_blob(self, digest: str) -> dict:
        """Read a manifest/config blob, re-verifying its digest (they are small)."""
        try:            # CPython's own SHA-256, hashlib's fallback: hashlib loads OpenSSL (~2 ms a run)
            from _sha256 import sha256
        except ImportError:                 # another Python (3.12 calls it _sha2)
            from hashlib import sha256
        try:
            with open(self.blob_path(digest), "rb") as f:
                data = f.read(MAX_JSON + 1)
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing from {self.root} (store damaged? "
                             "remove and pull the image again)") from None
        if len(data) > MAX_JSON:
            raise ImageError(f"blob {digest} is over {MAX_JSON} bytes; not a manifest/config")
        if "sha256:" + sha256(data).hexdigest() != digest:
            raise ImageError(f"blob {digest} is corrupt on disk (digest mismatch)")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ImageError(f"blob {digest} is not valid JSON: {exc}") from None

    # -- index.json ------------------------------------------------------------------

    def read_index(self) -> dict:
        self.init()
        try:
            with open(self.path("index.json"), "rb") as f:
                return json.load(f)
        except (OSError, ValueError) as exc:
            raise ImageError(f"image store index {self.path('index.json')} unreadable: {exc}") \
                from None

    def write_index(self, index: dict) -> None:
        write_atomic(self.path("index.json"), json.dumps(index, indent=1).encode())

    @staticmethod
    def entry_name(e: dict) -> str | None:
        return (e.get("annotations") or {}).get(ANN_NAME)

    # -- adding images ---------------------------------------------------------------

    def add_image(self, manifest: bytes, names: list[str] = (), *, media_type: str | None = None,
                  progress=None) -> Image:
        """Record an image whose config and layer blobs are already in the store.

        Writes the manifest blob, unpacks every layer (once per diff_id), then
        points each of ``names`` at it (moving the name off any other image).
        Callers hold ``adding()``.
        """
        import hashlib
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        m = mf.parse(manifest, digest, media_type)
        media_type = m.get("mediaType") or media_type or MT_OCI_MANIFEST
        if not self.has_blob(digest):
            self.add_blob_bytes(manifest, digest)
        config = self.read_json_blob(m["config"]["digest"])
        diff_ids = mf.diff_ids(config, m, digest)
        from .space import Limits
        limits = Limits.from_env()          # one budget for the whole image (space.py)
        for desc, diff_id in zip(m["layers"], diff_ids):
            self.unpack(desc, diff_id, progress=progress, limits=limits)
        full = [reference.parse(n).name for n in names]
        with self.lock("index.lock"):
            index = self.read_index()
            keep = [e for e in index["manifests"]
                    if self.entry_name(e) not in full
                    and not (e["digest"] == digest and self.entry_name(e) is None and full)]
            # an image that just lost its last name stays, nameless ("dangling", docker's
            # <none>), until `image prune`: a container may still run it
            for e in index["manifests"]:
                if e not in keep and e["digest"] != digest and \
                        not any(k["digest"] == e["digest"] for k in keep):
                    keep.append({k: v for k, v in e.items() if k != "annotations"})
            have = {(e["digest"], self.entry_name(e)) for e in keep}
            desc = {"mediaType": media_type, "digest": digest, "size": len(manifest),
                    "platform": {"os": config.get("os", "linux"),
                                 "architecture": config.get("architecture", "")}}
            if not full and not any(e["digest"] == digest for e in keep):
                keep.append(desc)
            for n in full:
                if (digest, n) not in have:
                    ref = reference.parse(n)
                    keep.append({**desc, "annotations": {ANN_NAME: n, ANN_REF: ref.tag or ""}})
            index["manifests"] = keep
            self.write_index(index)
        return self.image(digest, full[0] if full else digest)

    def unpack(self, desc: dict, diff_id: str, progress=None, limits=None) -> str:
        """Unpack layer blob ``desc`` into layers/<diff_id>, once, verifying the diff_id."""
        final = self.layer_dir(diff_id)
        if os.path.isdir(final):
            return final                # every run of an image already here: no imports below
        import shutil
        import tempfile
        from . import layers
        with self.lock(f"layer-{sha256_hex(diff_id)}.lock"):
            if os.path.isdir(final):
                return final
            blob = self.blob_path(desc["digest"])
            if not os.path.isfile(blob):
                raise ImageError(f"layer blob {desc['digest']} is missing from {self.root}")
            tmp = tempfile.mkdtemp(prefix=".tmp-", dir=self.path("layers"))
            try:
                os.chmod(tmp, 0o755)
                res = layers.apply_layer(blob, tmp, devices=self.devices, limits=limits,
                                         label=f"layer {desc['digest'][:19]}")
                if res.diff_id != diff_id:
                    raise ImageError(f"layer {desc['digest']}: uncompressed digest {res.diff_id} "
                                     f"does not match the config's diff_id {diff_id}")
                if res.skipped and progress:
                    progress.note(f"layer {diff_id[:19]}: skipped {len(res.skipped)} device "
                                  f"node(s): {', '.join(res.skipped[:5])}")
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final

    # -- lookup ----------------------------------------------------------------------

    def find(self, ref: str) -> tuple[str, str]:
        """(manifest digest, full name or digest) for a name, digest or ID prefix."""
        index = self.read_index()
        entries = index.get("manifests", [])
        s = ref[len("sha256:"):] if ref.startswith("sha256:") else ref
        if 12 <= len(s) <= 64 and all(c in "0123456789abcdef" for c in s):
            hits: dict = {}     # manifest digest -> its config digest (the ID); cached: build steps'
            cached = set()
            for e in entries:
                d = e["digest"]
                try:
                    m = self.read_json_blob(d)
                    cfg = m["config"]["digest"]
                except (ImageError, KeyError, TypeError):
                    m, cfg = {}, None
                if d[7:].startswith(s) or (cfg and cfg[7:].startswith(s)):
                    hits.setdefault(d, cfg)
                    if (m.get("annotations") or {}).get(mf.ANN_INTERMEDIATE) == "true":
                        cached.add(d)
            if len(set(hits.values())) > 1 or (len(hits) > 1 and None in hits.values()):
                raise ImageError(f"image ID prefix {ref!r} is ambiguous; give more digits")
            if hits:       # one image (ID), which a build step's manifest may share: the named
                named = [e["digest"] for e in entries if e["digest"] in hits and self.entry_name(e)]
                d = (named or sorted(hits, key=lambda h: h in cached))[0]   # one, else not a step's
                return d, d
        r = reference.parse(ref)
        if r.digest:
            for e in entries:
                if e["digest"] == r.digest:
                    return r.digest, r.name
        else:
            for e in entries:
                if self.entry_name(e) == r.name:
                    return e["digest"], r.name
        raise ImageNotFound(f"No such image: {ref if r.digest else reference.familiar(r.name)}")  # docker's

    def image(self, digest: str, name: str) -> Image:
        m = self.read_json_blob(digest)
        config = self.read_json_blob(m["config"]["digest"])
        diff_ids = mf.diff_ids(config, m, digest)
        dirs = [self.unpack(desc, d) for desc, d in zip(m["layers"], diff_ids)]
        names = [self.entry_name(e) for e in self.read_index()["manifests"]
                 if e["digest"] == digest and self.entry_name(e)]
        return Image(name=name, digest=digest, id=m["config"]["digest"], manifest=m,
                     config=config, layers=dirs, names=names)

    def resolve(self, ref: str, *, hold: str | None = None, builtin: bool = True, durable=True) -> Image:
        """The image ``ref`` names, its layers unpacked (bottom first).

        ``busybox`` (and ``busybox:latest``) is built offline from
        images/build-busybox.sh if the store lacks it. With ``hold=<container
        id>`` the image is also marked in use by that container, under the same
        lock, so no concurrent ``rmi`` can remove its layers in between.
        """
        from contextlib import ExitStack

        from .. import trace
        with ExitStack() as locked:
            with trace.step("flock", "IMAGE", file=self.path("locks", "gc.lock"), op="LOCK_SH",
                            why="no gc while the image is found and held"):
                locked.enter_context(self.adding())
            try:
                with trace.step("find in index.json", "IMAGE", ref=ref, file=self.path("index.json")):
                    digest, name = self.find(ref)
            except ImageNotFound:
                from . import builtin as _builtin
                if not builtin or not _builtin.is_builtin(ref):
                    raise
                return _builtin.ensure(self, ref, hold=hold, _locked=True)
            with trace.step("read manifest, config, layer dirs", "IMAGE", name=name, manifest=digest):
                img = self.image(digest, name)
            if hold:
                with trace.step("hold image", "IMAGE", container=hold, image=img.id):
                    self.hold(hold, img, locked=True, durable=durable)
            return img

    def exists(self, ref: str) -> bool:
        try:
            self.find(ref)
            return True
        except ImageNotFound:
            return False

    # -- holds (images in use by containers) ------------------------------------------

    def hold(self, container_id: str, img: Image, *, locked: bool = False, durable: bool = True) -> None:
        """Mark ``img`` in use by ``container_id`` (rmi refuses; gc keeps its layers).
        ``locked``: the caller holds ``adding()``. ``durable=False`` (a --rm container's,
        which no crash leaves behind: reclaim) skips the fsync, ~1 ms on ext4."""
        from contextlib import nullcontext
        with nullcontext() if locked else self.adding():
            check_holder(container_id)
            rec = {"image": img.digest, "name": img.name,
                   "layers": [os.path.basename(d) for d in img.layers]}
            write_atomic(self.path("holds", container_id + ".json"), json.dumps(rec).encode(), durable)

    def release(self, container_id: str) -> None:
        """Forget the hold of ``container_id`` (idempotent; call on container delete)."""
        check_holder(container_id)
        try:
            os.unlink(self.path("holds", container_id + ".json"))
        except FileNotFoundError:
            pass

    def holds(self) -> dict[str, dict]:
        self.init()
        out = {}
        for n in os.listdir(self.path("holds")):
            if n.endswith(".json"):
                try:
                    with open(self.path("holds", n)) as f:
                        out[n[:-5]] = json.load(f)
                except (OSError, ValueError):
                    continue
        return out

    def prune_holds(self, live_ids) -> list[str]:
        """Release holds of containers that no longer exist (for ``pycontainer gc``)."""
        live = set(live_ids)
        gone = [c for c in self.holds() if c not in live]
        for c in gone:
            self.release(c)
        return gone

    # -- tag, remove, gc -------------------------------------------------------------

    def tag(self, src: str, new: str) -> str:
        """Point ``new`` at the image ``src`` names; returns the full new name."""
        with self.adding():
            digest, _ = self.find(src)
            m = self.read_json_blob(digest)
            with open(self.blob_path(digest), "rb") as f:
                img = self.add_image(f.read(), [new], media_type=m.get("mediaType"))
        return img.name

    def remove(self, ref: str, *, force: bool = False, prune: bool = True) -> list[str]:
        """``rmi``: untag ``ref``; the last name (or a digest) removes the image and (``prune``)
        its untagged parents (prune.py)."""
        from . import prune as p
        return p.remove(self, ref, force=force, prune=prune)

    def gc(self, *, dangling: bool = False, unused: bool = False, only=None) -> list[str]:
        """Delete what nothing references; ``dangling``: nameless unused images too, ``unused``:
        every image no container uses, ``only`` among these digests (prune.py)."""
        from . import prune
        return prune.gc(self, dangling=dangling, unused=unused, only=only)

    # -- listing ---------------------------------------------------------------------

    def list(self) -> list[dict]:
        """One row per image: names, digest, id, created, size (sum of blob sizes)."""
        rows: dict[str, dict] = {}
        for e in self.read_index()["manifests"]:
            d = e["digest"]
            row = rows.get(d)
            if row is None:
                try:
                    m = self.read_json_blob(d)
                    cfg = self.read_json_blob(m["config"]["digest"])
                except (ImageError, KeyError, TypeError):
                    continue
                size = m["config"].get("size", 0) + sum(x.get("size", 0) for x in m["layers"])
                row = rows[d] = {"names": [], "digest": d, "id": m["config"]["digest"],
                                 "created": cfg.get("created", ""), "size": size,
                                 "platform": reference.platform_str(cfg),
                                 "intermediate": (m.get("annotations") or {}).get(
                                     mf.ANN_INTERMEDIATE) == "true"}
            if self.entry_name(e):
                row["names"].append(self.entry_name(e))
        return list(rows.values())

    def inspect(self, ref: str) -> dict:
        """Docker-style ``image inspect`` record (without unpacking anything)."""
        digest, name = self.find(ref)
        m = self.read_json_blob(digest)
        cfg = self.read_json_blob(m["config"]["digest"])
        names = [self.entry_name(e) for e in self.read_index()["manifests"]
                 if e["digest"] == digest and self.entry_name(e)]
        diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
        return {
            "Id": m["config"]["digest"],
            "Digest": digest,
            "RepoTags": [reference.familiar(n) for n in names],
            "RepoDigests": sorted({reference.familiar_repository(n) + "@" + digest for n in names}),   # docker's
            "Parent": "",
            "MediaType": m.get("mediaType", MT_OCI_MANIFEST),
            "Created": cfg.get("created", ""),
            "Author": cfg.get("author", ""), "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Config": {"User": "", "Env": None, "Cmd": None, "Entrypoint": None, "WorkingDir": "",   # docker's
                       "Volumes": None, "OnBuild": None, "Labels": None, **(cfg.get("config") or {})},
            "RootFS": {"Type": "layers", "Layers": diff_ids},          # docker's names for rootfs
            "Size": m["config"].get("size", 0) + sum(x.get("size", 0) for x in m["layers"]),
            "Layers": [{"digest": x["digest"], "mediaType": x.get("mediaType"),
                        "size": x.get("size"), "diff_id": di,
                        "dir": self.layer_dir(di) if os.path.isdir(self.layer_dir(di)) else None}
                       for x, di in zip(m["layers"], diff_ids)],
            "History": cfg.get("history", []),
            "UsedBy": sorted(c for c, h in self.holds().items() if h.get("image") == digest),
        }

    # -- load / save / pull --------------------------------------------------------------

    def load(self, src, *, name: str | None = None, progress=None) -> list[str]:
        """Import a ``docker save`` tarball or an OCI archive (path, '-' or file object)."""
        from . import archive, prune
        with prune.undo_on_error(self):
            return archive.load(self, src, name=name, progress=progress)

    def save(self, refs: list[str], out) -> None:
        """Write ``refs`` as one tar that is both an OCI layout and a docker-save archive."""
        from . import archive
        archive.save(self, refs, out)

    def pull(self, ref: str, **kw) -> Image:
        """Pull from a registry (see registry.pull for the keyword arguments)."""
        from . import prune, registry
        with prune.undo_on_error(self):
            return registry.pull(self, ref, **kw)


def check_holder(container_id: str) -> None:
    import re
    if not re.fullmatch(r"[A-Za-z0-9_+.-]{1,256}", container_id) or container_id in (".", ".."):
        raise ImageError(f"invalid container ID {container_id!r} for an image hold")
