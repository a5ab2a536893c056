"""``push``: an image from the store to an OCI distribution registry.

The distribution spec's push flow (``spec.md``, "Push"), per blob (layers,
then the config):

1. ``HEAD /v2/<repo>/blobs/<digest>``: 200 means the registry has it; skip.
2. Cross-repository mount, where we know another repository of the same
   registry holds it (``POST .../blobs/uploads/?mount=<digest>&from=<repo>``):
   201 means mounted; 202 means "no, upload it" (the session is used).
3. Otherwise ``POST .../blobs/uploads/`` opens a session (202 + Location);
   a blob up to ``chunk_size`` goes in one ``PUT <location>?digest=``
   (monolithic); a larger one in ``PATCH`` chunks with ``Content-Range``,
   each answer giving the next Location, closed by ``PUT ?digest=``.

Then ``PUT /v2/<repo>/manifests/<tag>`` with the manifest's media type;
the registry's ``Docker-Content-Digest`` must equal ours. A 401 with a
``Bearer`` challenge fetches a token for ``repository:<repo>:pull,push``
(and the mount source's ``:pull``) and retries once. Plain HTTP only for
loopback registries unless ``insecure``.

Read: OCI distribution-spec ``spec.md`` ("Pushing blobs", "Pushing
manifests", "Mounting a blob from another repository"); Docker token
authentication spec.
"""

from __future__ import annotations

import json
import os

from ..errors import ImageError
from . import reference

CHUNK = 16 << 20


def _fail(ref, what: str, status: int, body: bytes) -> ImageError:
    """One line from a registry's error answer (the spec's ``errors`` list)."""
    try:
        errs = json.loads(body).get("errors") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs)
    except (ValueError, AttributeError):
        detail = body[:200].decode("utf-8", "replace")
    return ImageError(f"push {ref.short}: {what}: HTTP {status}" + (f" ({detail})" if detail else ""))


def push(store, src: str, dest: str | None = None, *, insecure: bool | None = None,
         timeout: float = 60.0, chunk_size: int = CHUNK, mount_from: str | None = None,
         auth=None, authfile: str | None = None, log=None) -> str:
    """Push image ``src`` of ``store`` as ``dest`` (default: ``src``); returns the manifest digest."""
    info = store.inspect(src)
    if dest is None and (src.startswith("sha256:") or not info["RepoTags"]):
        raise ImageError(f"push {src}: give a destination (registry/repository[:tag])")
    ref = reference.parse(dest or src)
    if ref.registry == "localhost":
        raise ImageError(f"push {ref.short}: 'localhost/' names images built here; give a "
                         "destination registry (host:port/repository[:tag])")
    if insecure is None:
        insecure = ref.api_host.split(":")[0] in ("127.0.0.1", "localhost", "[::1]")
    from .registry import Client
    s = Client(ref, insecure=insecure, timeout=timeout, auth=auth, actions="pull,push",
               authfile=authfile)
    log = log or (lambda m: None)
    if mount_from:
        s.add_scope(f"repository:{mount_from}:pull")
    repo = ref.repository
    digest = info["Digest"]
    manifest_bytes = _read(store.blob_path(digest))
    m = json.loads(manifest_bytes)
    seen = _Seen(store, ref.api_host)
    for desc in list(m["layers"]) + [m["config"]]:
        src = mount_from or seen.repo_with(desc["digest"], repo)
        if src:
            s.add_scope(f"repository:{src}:pull")
        _blob(s, store, repo, desc, chunk_size, src, log)
    mt = m.get("mediaType") or info["MediaType"]
    status, headers, body = s.request("PUT", f"/v2/{repo}/manifests/{ref.tag or digest}",
                                      manifest_bytes, {"Content-Type": mt})
    if status not in (200, 201):
        raise _fail(ref, "PUT manifest", status, body)
    got = headers.get("Docker-Content-Digest")
    if got and got != digest:
        raise ImageError(f"push {ref.short}: the registry stored the manifest as {got}, "
                         f"not {digest}")
    log(f"{ref.short}: digest: {digest} size: {len(manifest_bytes)}")
    seen.add([d["digest"] for d in list(m["layers"]) + [m["config"]]], repo)
    return digest


class _Seen:
    """Which repository of a registry we pushed each blob to: a mount source next time.

    Kept in ``<image root>/push-seen.json`` ({registry: {digest: repository}});
    a stale entry only costs one refused mount (the registry answers 202 and
    the upload goes on in the same session)."""

    def __init__(self, store, host: str):
        self.path, self.host = store.path("push-seen.json"), host
        try:
            with open(self.path) as f:
                self.data = json.load(f)
        except (OSError, ValueError):
            self.data = {}

    def repo_with(self, digest: str, not_repo: str) -> str | None:
        r = self.data.get(self.host, {}).get(digest)
        return r if r and r != not_repo else None

    def add(self, digests, repo: str) -> None:
        reg = self.data.setdefault(self.host, {})
        for d in digests:
            reg[d] = repo
        from .. import atomicfile
        try:
            atomicfile.write_json(self.path, self.data)
        except OSError:
            pass                                   # only an optimisation


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _blob(s, store, repo: str, desc: dict, chunk: int, mount_from, log) -> None:
    import urllib.parse
    d, size = desc["digest"], desc["size"]
    status, _, _ = s.request("HEAD", f"/v2/{repo}/blobs/{d}")
    if status == 200:
        log(f"{d[7:19]}: already exists")
        return
    path = store.blob_path(d)
    if not os.path.isfile(path):
        raise ImageError(f"push: blob {d} is not in the store {store.root}")
    q = f"?mount={d}&from={urllib.parse.quote(mount_from)}" if mount_from else ""
    status, headers, body = s.request("POST", f"/v2/{repo}/blobs/uploads/{q}", b"",
                                      {"Content-Length": "0"})
    if status == 201:
        log(f"{d[7:19]}: mounted from {mount_from}")
        return
    if status != 202 or not headers.get("Location"):
        raise _fail(s.ref, f"start upload of {d[:19]}", status, body)
    loc = urllib.parse.urljoin(s.base + "/", headers["Location"])
    with open(path, "rb") as f:
        if size <= chunk:
            data = f.read()
            status, _, body = s.request("PUT", _with_digest(loc, d), data,
                                        {"Content-Type": "application/octet-stream",
                                         "Content-Length": str(len(data))})
        else:
            off = 0
            while off < size:
                data = f.read(chunk)
                status, headers, body = s.request(
                    "PATCH", loc, data, {"Content-Type": "application/octet-stream",
                                         "Content-Length": str(len(data)),
                                         "Content-Range": f"{off}-{off + len(data) - 1}"})
                if status != 202:
                    raise _fail(s.ref, f"upload chunk of {d[:19]} at {off}", status, body)
                loc = urllib.parse.urljoin(s.base + "/", headers.get("Location") or loc)
                off += len(data)
            status, _, body = s.request("PUT", _with_digest(loc, d), b"",
                                        {"Content-Length": "0"})
    if status != 201:
        raise _fail(s.ref, f"finish upload of {d[:19]}", status, body)
    log(f"{d[7:19]}: pushed {size} bytes")


def _with_digest(loc: str, digest: str) -> str:
    return loc + ("&" if "?" in loc else "?") + "digest=" + digest
