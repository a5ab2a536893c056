"""Removing images: ``rmi`` (untag; the last name removes the image) and garbage collection.

Both hold the store's ``gc.lock`` exclusively, so nothing that adds content
(pull, load, unpack, hold: they hold it shared) runs meanwhile; then
``collect`` deletes every blob, unpacked layer and ingest leftover that no
index entry or container hold references (a mark-and-sweep over index.json,
the manifests, the configs' diff_ids and holds/).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from ..errors import ImageError
from . import reference
from .manifest import sha256_hex


def remove(store, ref: str, *, force: bool = False) -> list[str]:
    """``rmi``: untag ``ref``; the last name (or a digest) removes the image.

    Refuses an image a container holds unless ``force``; then collects
    blobs and unpacked layers nothing references any more. Returns what
    was untagged/deleted, docker-style ("Untagged: ...", "Deleted: ...").
    """
    out: list[str] = []
    with store.lock("gc.lock"):
        with store.lock("index.lock"):
            digest, name = store.find(ref)
            index = store.read_index()
            entries = index["manifests"]
            mine = [e for e in entries if e["digest"] == digest]
            by_name = name != digest
            remaining = [e for e in mine if by_name and store.entry_name(e) != name]
            if not remaining:
                users = [c for c, h in store.holds().items() if h.get("image") == digest]
                if users and not force:
                    raise ImageError(f"image {ref!r} is in use by container(s) "
                                     f"{', '.join(sorted(users))}; stop and remove them "
                                     "or use --force")
            drop = mine if not remaining else [e for e in mine if store.entry_name(e) == name]
            for e in drop:
                if store.entry_name(e):
                    out.append("Untagged: " + reference.familiar(store.entry_name(e)))
            index["manifests"] = [e for e in entries if not any(e is d for d in drop)]
            store.write_index(index)
            if not remaining:
                out.append("Deleted: " + digest)
        out += collect(store)
    from ..events import record
    for line in out:
        what, _, ref = line.partition(": ")
        if what in ("Untagged", "Deleted"):
            record("image", "untag" if what == "Untagged" else "delete", ref, name=ref)
    return out


def gc(store, *, dangling: bool = False, unused: bool = False, only=None) -> list[str]:
    """Delete blobs, unpacked layers and ingest leftovers that nothing references.

    With ``dangling`` (``image prune``), first forget images that have no
    name and no container using them; with ``unused`` (``image prune -a``),
    every image no container uses, named or not; ``only`` (manifest digests:
    ``--filter``'s) narrows those to these.
    """
    out = []
    with store.lock("gc.lock"):
        if dangling or unused:
            with store.lock("index.lock"):
                index = store.read_index()
                held = {h.get("image") for h in store.holds().values()}
                named = set() if unused else \
                    {e["digest"] for e in index["manifests"] if store.entry_name(e)}
                drop = [e for e in index["manifests"]
                        if e["digest"] not in named and e["digest"] not in held
                        and (only is None or e["digest"] in only)]
                if drop:
                    index["manifests"] = [e for e in index["manifests"] if e not in drop]
                    store.write_index(index)
                out += [f"Deleted: {d}" for d in dict.fromkeys(e["digest"] for e in drop)]
        return out + collect(store)


def marked(store) -> tuple[set, set]:
    """Mark: (blob hexes, layer dir names) that the index and the holds reference."""
    blobs, layer_dirs = set(), set()
    for e in store.read_index()["manifests"]:
        d = e["digest"]
        blobs.add(sha256_hex(d))
        try:
            m = store.read_json_blob(d)
            blobs.add(sha256_hex(m["config"]["digest"]))
            blobs.update(sha256_hex(x["digest"]) for x in m["layers"])
            cfg = store.read_json_blob(m["config"]["digest"])
            layer_dirs.update(sha256_hex(x) for x in cfg["rootfs"]["diff_ids"])
        except (ImageError, KeyError, TypeError):
            continue                          # keep what we can; never crash gc
    for h in store.holds().values():
        layer_dirs.update(h.get("layers", []))
    return blobs, layer_dirs


@contextmanager
def undo_on_error(store):
    """A pull or load that fails (a cap of space.py, a full disk, a bad layer) leaves the
    store as it was: the blobs and unpacked layers it added, that no image references,
    are removed (under the exclusive gc lock, so a concurrent pull's are safe: it holds
    the shared one until its image is in the index)."""
    def names(*parts):
        try:
            return set(os.listdir(store.path(*parts)))
        except FileNotFoundError:
            return set()
    blobs, layer_dirs = names("blobs", "sha256"), names("layers")
    try:
        yield
    except BaseException:
        import shutil
        with store.lock("gc.lock"):
            ref_blobs, ref_layers = marked(store)
            for n in names("blobs", "sha256") - blobs - ref_blobs:
                try:
                    os.unlink(store.path("blobs", "sha256", n))
                except OSError:
                    pass
            for n in names("layers") - layer_dirs - ref_layers:
                shutil.rmtree(store.path("layers", n), ignore_errors=True)
        raise


def collect(store) -> list[str]:
    """Sweep: delete every blob, layer dir and ingest file nothing marks as used; what went."""
    import shutil
    blobs, layer_dirs = marked(store)
    out = []
    for n in os.listdir(store.path("blobs", "sha256")):
        if n not in blobs:
            os.unlink(store.path("blobs", "sha256", n))
            out.append(f"Deleted blob: sha256:{n}")
    for n in os.listdir(store.path("layers")):
        if n not in layer_dirs:
            shutil.rmtree(store.path("layers", n), ignore_errors=True)
            if not n.startswith(".tmp-"):
                out.append(f"Deleted layer: sha256:{n}")
    for n in os.listdir(store.path("ingest")):
        try:
            os.unlink(store.path("ingest", n))
        except OSError:
            pass
    return out
