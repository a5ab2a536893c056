"""The build cache: a step's key -> the image (in the store) that the step produced.

A key chains like BuildKit's: ``sha256(parent key, the instruction after
substitution, and for COPY/ADD the checksum of what is copied)``; for RUN
the environment the command sees (build args included) is part of the
instruction. The image a key names is an ordinary, unnamed image in the
store (docker's classic builder kept its intermediate images the same
way), so ``pycontainer image prune`` reclaims its layers; a key whose image
is gone is a miss. Records live in ``<image root>/build-cache/<key>``.

Read: BuildKit ``solver/cachekey.go`` (the idea, not the code).
"""

from __future__ import annotations

import hashlib
import json
import os


def key(parent: str, *parts) -> str:
    h = hashlib.sha256(parent.encode())
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return h.hexdigest()


class Cache:
    def __init__(self, store, disabled: bool = False):
        self.store = store
        self.disabled = disabled
        self.dir = store.path("build-cache")

    def get(self, k: str):
        """The cached Image for key ``k``, or None."""
        if self.disabled:
            return None
        try:
            with open(os.path.join(self.dir, k)) as f:
                digest = json.load(f)["image"]
        except (OSError, ValueError, KeyError):
            return None
        from ..errors import ImageError
        try:
            return self.store.resolve(digest, builtin=False)
        except ImageError:
            return None

    def put(self, k: str, digest: str) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        from .. import atomicfile
        atomicfile.write_json(os.path.join(self.dir, k), {"image": digest})

    def prune_mounts(self) -> int:
        """Empty RUN --mount=type=cache's directories (runmounts.py), as docker's builder prune."""
        import shutil
        d = self.store.path("build-mounts")
        n = len([x for x in os.listdir(d) if not x.endswith((".lock", ".new"))]) if os.path.isdir(d) else 0
        shutil.rmtree(d, ignore_errors=True)
        return n

    def prune(self) -> int:
        """Forget every record (``builder prune``); the images go with ``image prune``."""
        n = 0
        if os.path.isdir(self.dir):
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
                n += 1
        return n
