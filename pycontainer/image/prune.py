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


def remove(store, ref: str, *, force: bool = False, prune: bool = True) -> list[str]:
    """``rmi``: untag ``ref``; the last name (or a digest) removes the image, and (``prune``,
    docker's default; ``rmi --no-prune``: not) its untagged parents (``_parents``).

    Refuses an image a container holds unless ``force``; then collects
    blobs and unpacked layers nothing references any more. Returns what
    was untagged/deleted, docker-style ("Untagged: NAME", "Deleted: IMAGE ID",
    then "Deleted: LAYER" for each unpacked layer that went, as docker lists
    its layers), and "Deleted blob: DIGEST" for each blob (docker keeps none:
    its CLI-shaped callers leave them out).
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
            parents = _parents(store, digest, index["manifests"]) if prune and not remaining else []
            index["manifests"] = [e for e in index["manifests"] if not any(e is p for p in parents)]
            store.write_index(index)
            gone = [digest] + [p["digest"] for p in parents] if not remaining else []
            out += _deleted(store, gone, index["manifests"])
        _record(out)
        out += collect(store, own=_references(store, gone))
    return out


def _references(store, digests) -> set[str]:
    """The blob and layer dir names (hex) that these manifests reference."""
    out = set()
    for d in digests:
        out.add(sha256_hex(d))
        try:
            m = store.read_json_blob(d)
            out.add(sha256_hex(m["config"]["digest"]))
            out.update(sha256_hex(x["digest"]) for x in m["layers"])
            out.update(sha256_hex(x) for x in store.read_json_blob(m["config"]["digest"])["rootfs"]["diff_ids"])
        except (ImageError, KeyError, TypeError):
            continue
    return out


def _parents(store, digest: str, entries: list[dict]) -> list[dict]:
    """docker's untagged parents of the image ``digest`` (its classic builder's intermediate
    images, which ``rmi`` takes along): here the build steps' images (unnamed, marked
    ``ANN_INTERMEDIATE``, no container using them) whose history is the start of its history,
    unless another image in ``entries`` grew from them too (a cache hit of another build)."""
    from .manifest import ANN_INTERMEDIATE

    def history(d):
        try:
            m = store.read_json_blob(d)
            return m, store.read_json_blob(m["config"]["digest"]).get("history") or []
        except (ImageError, KeyError, TypeError):
            return {}, None
    _, mine = history(digest)
    if not mine:
        return []
    held = {h.get("image") for h in store.holds().values()}
    steps, others = [], []
    for e in entries:
        m, h = history(e["digest"])
        step = (m.get("annotations") or {}).get(ANN_INTERMEDIATE) == "true" and \
            not store.entry_name(e) and e["digest"] not in held
        if step and h is not None and mine[:len(h)] == h:
            steps.append((e, h))
        else:
            others.append(h or [])
    return [e for e, h in steps if not any(len(o) >= len(h) and o[:len(h)] == h for o in others)]


def _deleted(store, gone: list[str], left: list[dict]) -> list[str]:
    """"Deleted: ID" once per image ID of the manifests ``gone``, but not for an ID that a
    manifest ``left`` in the index still has (a build's last step shares its image's)."""
    kept = {image_id(store, e["digest"]) for e in left}
    return ["Deleted: " + i for i in dict.fromkeys(image_id(store, d) for d in gone) if i not in kept]


def image_id(store, digest: str) -> str:
    """docker's image ID (what ``images`` shows): the config's digest; else the manifest's."""
    try:
        return store.read_json_blob(digest)["config"]["digest"]
    except (ImageError, KeyError, TypeError):
        return digest


def _record(lines: list[str]) -> None:
    """docker's image events: ``untag`` per name, ``delete`` per image ID."""
    from ..events import record
    for line in lines:
        what, _, ref = line.partition(": ")
        record("image", "untag" if what == "Untagged" else "delete", ref, name=ref)


def gc(store, *, dangling: bool = False, unused: bool = False, only=None) -> list[str]:
    """Delete blobs, unpacked layers and ingest leftovers that nothing references (lines as
    ``remove``'s).

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
                out += ["Untagged: " + reference.familiar(store.entry_name(e))
                        for e in drop if store.entry_name(e)]
                out += _deleted(store, [e["digest"] for e in drop], index["manifests"])
            _record(out)
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


def collect(store, own: set[str] | None = None) -> list[str]:
    """Sweep: delete every blob, layer dir and ingest file nothing marks as used; what went
    ("Deleted blob: DIGEST", "Deleted: LAYER"). ``own``: what the images just removed
    referenced; anything else that goes (a crashed pull's) is said to be "referenced by no
    image", so that it is not taken for theirs."""
    import shutil
    blobs, layer_dirs = marked(store)

    def line(kind, n):
        foreign = own is not None and n not in own
        return f"{kind} (referenced by no image): sha256:{n}" if foreign else f"{kind}: sha256:{n}"
    out = []
    for n in os.listdir(store.path("blobs", "sha256")):
        if n not in blobs:
            os.unlink(store.path("blobs", "sha256", n))
            out.append(line("Deleted blob", n))
    for n in os.listdir(store.path("layers")):
        if n not in layer_dirs:
            shutil.rmtree(store.path("layers", n), ignore_errors=True)
            if not n.startswith(".tmp-"):
                out.append(line("Deleted layer", n).replace("Deleted layer: ", "Deleted: "))
    for n in os.listdir(store.path("ingest")):
        try:
            os.unlink(store.path("ingest", n))
        except OSError:
            pass
    return out


def listing(lines: list[str], prune: bool = False) -> list[str]:
    """``remove``'s and ``gc``'s lines as docker's CLI prints them: without the blobs;
    ``prune``: as its prunes do, "untagged: ..." and "deleted: ..." (docker/cli's words)."""
    out = [ln for ln in lines if not ln.startswith("Deleted blob:")]
    if prune:
        out = [ln[0].lower() + ln[1:] for ln in out]
    return out
