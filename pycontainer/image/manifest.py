"""OCI and Docker image media types, and the parsing of manifests every image module shares.

An image is a manifest (config descriptor + layer descriptors, each with a
sha256 digest) or an index (one manifest per platform) that points at one.
store.py, archive.py, registry.py and builtin.py import the names from here,
so none of them imports another for a constant.

Read: image-spec ``media-types.md``, ``manifest.md``, ``image-index.md``,
``config.md`` (rootfs.diff_ids); Docker's Image Manifest V2, Schema 2.
"""

from __future__ import annotations

import json

from ..errors import ImageError
from . import reference

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)

ANN_NAME = "io.containerd.image.name"
ANN_REF = "org.opencontainers.image.ref.name"
# on the manifest of a build step's image (the build cache's): `images` hides it unless -a
ANN_INTERMEDIATE = "org.pycontainer.build.intermediate"

MAX_JSON = 4 << 20          # manifests and configs larger than this are refused


def sha256_hex(digest: str) -> str:
    if not reference.is_digest(digest):
        raise ImageError(f"unsupported or malformed digest {digest!r} (want sha256:<64 hex>)")
    return digest[len("sha256:"):]


def parse(data: bytes, digest: str, media_type: str | None) -> dict:
    """A schema-2 image manifest (OCI or Docker) from ``data``, checked; ImageError otherwise."""
    if len(data) > MAX_JSON:
        raise ImageError(f"manifest {digest} is over {MAX_JSON} bytes")
    try:
        m = json.loads(data)
    except ValueError as exc:
        raise ImageError(f"manifest {digest} is not valid JSON: {exc}") from None
    mt = m.get("mediaType") or media_type
    if mt in INDEX_TYPES or "manifests" in m:
        raise ImageError(f"manifest {digest} is an index; pick a platform manifest first")
    if (mt and mt not in MANIFEST_TYPES) or m.get("schemaVersion") != 2 \
            or not isinstance(m.get("config"), dict) or not isinstance(m.get("layers"), list):
        raise ImageError(f"manifest {digest}: unsupported manifest (media type {mt!r}, "
                         f"schemaVersion {m.get('schemaVersion')!r}); need OCI or Docker schema2")
    for d in [m["config"]] + m["layers"]:
        if not isinstance(d, dict) or not reference.is_digest(str(d.get("digest", ""))):
            raise ImageError(f"manifest {digest}: descriptor with a missing or non-sha256 digest")
    return m


def diff_ids(config: dict, m: dict, digest: str) -> list[str]:
    """The config's rootfs.diff_ids, one per layer of manifest ``m``."""
    try:
        diff_ids = list(config["rootfs"]["diff_ids"])
    except (KeyError, TypeError):
        raise ImageError(f"image {digest}: config has no rootfs.diff_ids") from None
    if len(diff_ids) != len(m["layers"]):
        raise ImageError(f"image {digest}: {len(m['layers'])} layers but {len(diff_ids)} diff_ids")
    for d in diff_ids:
        sha256_hex(d)
    return diff_ids


def pick_platform(index: dict, what: str, want: dict | None = None) -> dict:
    """The descriptor for ``want`` (default: this machine) in an OCI index / Docker list."""
    want = want or reference.host_platform()
    cands = [d for d in index.get("manifests", []) if isinstance(d, dict)
             and (d.get("platform") or {}).get("os") == want["os"]
             and (d.get("platform") or {}).get("architecture") == want["architecture"]]
    if want.get("variant"):
        exact = [d for d in cands if d["platform"].get("variant") == want["variant"]]
        cands = exact or [d for d in cands if not d["platform"].get("variant")] or cands
    if not cands:
        have = sorted({reference.platform_str(d.get("platform") or {})
                       for d in index.get("manifests", []) if isinstance(d, dict)})
        raise ImageError(f"{what}: no image for platform {reference.platform_str(want)} "
                         f"(available: {', '.join(have) or 'none'})")
    return cands[0]
