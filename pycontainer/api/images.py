"""The docker SDK's ``Image`` and ``client.images``: the image store (image/store.py) seen
through docker-py 7's names: get, list, pull, push, build, load, remove, prune.

Nothing here forks: every call runs in the caller's process, on the store the
``Client`` names (``image_root``).
"""

from __future__ import annotations

from ..errors import PyContainerError


class Image:
    def __init__(self, attrs: dict, collection: "ImageCollection | None" = None):
        self.attrs = attrs
        self.collection = collection
        self.id = attrs.get("Id", "")
        self.tags = attrs.get("RepoTags", [])

    def __repr__(self):
        return f"<Image: {', '.join(repr(t) for t in self.tags)}>"

    short_id = property(lambda self: self.id[:17] if self.id.startswith("sha256:") else self.id[:10])
    labels = property(lambda self: (self.attrs.get("Config") or {}).get("Labels") or {})

    def reload(self) -> None:
        self.attrs = self.collection._store().inspect(self.id)
        self.tags = self.attrs.get("RepoTags", [])

    def save(self, chunk_size: int = 2 << 20, named=False):
        """docker-py's: the image as ``docker save`` writes it (an OCI layout too), as chunks;
        a thread writes it into a pipe, so that a large image is never held in memory."""
        import os
        import threading
        ref = (self.tags[0] if named is True else named) if named and self.tags else self.id
        r, w = os.pipe()
        failed: list = []

        def write():
            try:
                with open(w, "wb") as f:
                    self.collection._store().save([ref], f)
            except BaseException as exc:  # noqa: BLE001 - raised in the reader, below
                failed.append(exc)
        t = threading.Thread(target=write, daemon=True)
        t.start()
        with open(r, "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk
        t.join()
        if failed and not isinstance(failed[0], BrokenPipeError):
            raise failed[0]

    def remove(self, force: bool = False, noprune: bool = False) -> None:
        """docker-py's Image.remove: as ``client.images.remove(image.id, ...)``."""
        self.collection.remove(self.id, force=force, noprune=noprune)

    def tag(self, repository: str, tag: str | None = None, **_) -> bool:
        """docker-py's Image.tag: another name for this image."""
        self.collection._store().tag(self.id, f"{repository}:{tag}" if tag else repository)
        self.reload()
        return True

    def history(self) -> list[dict]:
        """docker SDK ``Image.history()``: the steps newest first, as the Engine API gives them
        (Id, Created in Unix seconds, CreatedBy, Tags, Size, Comment)."""
        import calendar
        import time
        from ..image.history import rows

        def unix(ts: str) -> int:
            try:
                return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
            except ValueError:
                return 0
        return [{"Id": r["ID"], "Created": unix(r["CreatedAt"]), "CreatedBy": r["CreatedBy"],
                 "Tags": self.tags if i == 0 else None, "Size": r["Size"], "Comment": r["Comment"]}
                for i, r in enumerate(rows(self.attrs))]


class ImageCollection:
    def __init__(self, client):          # the api.engine.Client whose image_root is used
        self.client = client

    def _store(self):
        from ..image.store import Store
        return Store(self.client.image_root)

    def get(self, name: str) -> Image:
        return Image(self._store().inspect(name), self)

    def list(self, name: str | None = None, all: bool = False,  # noqa: A002 - docker SDK's name
             filters: dict | None = None) -> list[Image]:
        """docker SDK ``images.list``: the build cache's unnamed step images only with ``all``
        (as ``images -a``); ``name``: a repository (``busybox``) or a reference; ``filters``:
        ``dangling`` (bool), ``label`` ("k" or "k=v", or a list that must all match) and
        ``reference`` (globs, any may match): image/listing.py."""
        from ..image import listing
        s = self._store()
        out = []
        for row in listing.select(s, s.list(), name=name, all_=all, filters=filters):
            try:
                out.append(Image(s.inspect(row["names"][0] if row["names"] else row["digest"]), self))
            except PyContainerError:
                continue
        return out

    def pull(self, repository: str, tag: str | None = None, insecure=None,
             auth_config: dict | None = None, **kw) -> Image:
        """docker SDK ``images.pull``; ``auth_config={"username", "password"}`` logs in (else
        the auth files of image/credentials.py are read when the registry asks)."""
        from ..image.reference import platform_of
        ref = f"{repository}:{tag}" if tag else repository
        if isinstance(kw.get("platform"), str):          # docker-py's "linux/amd64"
            kw["platform"] = platform_of(kw["platform"])
        img = self._store().pull(ref, insecure=insecure, auth=_auth(auth_config), **kw)
        return self.get(img.name)

    def push(self, repository: str, tag: str | None = None, insecure=None,
             auth_config: dict | None = None, stream: bool = False, decode: bool = False, **kw):
        """docker SDK ``images.push``: the progress as JSON lines, the last one ``{"aux":
        {"Tag", "Digest", "Size"}}``; with ``stream`` an iterator of them (bytes, or dicts
        with ``decode``), given once the push is done."""
        import json
        from ..image import push as push_mod
        from ..image import reference
        ref = f"{repository}:{tag}" if tag else repository
        lines: list[str] = []
        digest = push_mod.push(self._store(), ref, None, insecure=insecure, auth=_auth(auth_config),
                               log=lambda m: lines.append(json.dumps({"status": m})), **kw)
        r = reference.parse(ref)
        lines.append(json.dumps({"aux": {"Tag": r.tag or "", "Digest": digest,
                                         "Size": self._store().inspect(ref)["Size"]}}))
        if stream:
            return iter([json.loads(ln) for ln in lines] if decode else
                        [(ln + "\r\n").encode() for ln in lines])
        return "\n".join(lines) + "\n"

    def prune(self, filters: dict | None = None) -> dict:
        """docker-py's prune: the images without a name that no container uses; with
        ``filters={"dangling": False}`` every image no container uses."""
        dangling = str((filters or {}).get("dangling", True)).lower() not in ("0", "false")
        from ..containerdir import du
        store = self._store()
        before = du(store.root)
        from ..image.prune import listing
        lines = listing(store.gc(dangling=True, unused=not dangling))
        return {"ImagesDeleted": [dict([ln.split(": ", 1)]) for ln in lines],    # docker's items
                "SpaceReclaimed": max(0, before - du(store.root))}

    def remove(self, image: str, force: bool = False, noprune: bool = False) -> None:
        """docker-py's: untag; the last name removes the image and (unless ``noprune``) its
        untagged parents."""
        self._store().remove(image, force=force, prune=not noprune)

    def prune_builds(self, filters=None, keep_storage=None, all=False) -> dict:  # noqa: A002
        """docker-py's prune_builds (``builder prune``): the build cache's records and cache
        mounts, and the unnamed images it kept. -> {"CachesDeleted": [...], "SpaceReclaimed"}."""
        if filters or keep_storage:
            raise PyContainerError("prune_builds: filters and keep_storage are not supported "
                                   "(the whole cache is pruned)")
        from ..build.cache import Cache
        from ..containerdir import du
        store = self._store()
        before = du(store.root)
        cache = Cache(store)
        cache.prune()
        cache.prune_mounts()
        gone = [ln.split(": ", 1)[-1] for ln in store.gc(dangling=True)]
        return {"CachesDeleted": gone, "SpaceReclaimed": max(0, before - du(store.root))}

    def build(self, **kw):
        """docker SDK ``images.build``: (Image, log chunks); see pycontainer/build/api.py."""
        from ..build import api as build_api
        return build_api.build(self.client, **kw)

    def load(self, data) -> list[Image]:
        """A ``docker save`` / OCI archive: bytes, a file object or a path."""
        import io
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        names = self._store().load(src)
        return [self.get(n) for n in names]


def _auth(auth_config: dict | None):
    """docker SDK ``auth_config`` -> (user, password), or None."""
    if not auth_config:
        return None
    try:
        return auth_config["username"], auth_config["password"]
    except (KeyError, TypeError):
        raise PyContainerError("auth_config: give {'username': ..., 'password': ...}") from None
