"""A container's changes to its image (docker diff), read from its overlay upper dir.

overlayfs (kernel ``Documentation/filesystems/overlayfs.rst``) writes every
change of the merged tree into the upper directory: a new or modified file
is copied up there, a deleted one becomes a whiteout (a character device
0:0), a directory replaced as a whole is marked opaque. So the changes are
the upper dir's entries, each looked up in the image's layers (``merged.find``,
the same lookup rules): a whiteout is ``D``, an entry the image has is ``C``
(a directory is ``C`` when anything below it changed), any other ``A``, as
docker prints them. Nothing is mounted and nothing in the container runs:
only ``lstat`` of the upper dir and the layers (symlinks are never followed).

Read: overlayfs.rst ("whiteouts and opaque directories", "Non-directories").
"""

from __future__ import annotations

import os

from .merged import find
from .whiteouts import is_whiteout


def changes(upper: str, layers: list[str]) -> list[tuple[str, str]]:
    """[(kind, path)] sorted by path: kind ``A`` (added), ``C`` (changed) or ``D`` (deleted);
    ``layers``: the image's layer dirs, bottom first."""
    out = []
    for top, dirs, files in os.walk(upper):
        rel = os.path.relpath(top, upper)
        parts = [] if rel == "." else rel.split("/")
        for name in dirs + files:
            path = os.path.join(top, name)
            kind = "D" if is_whiteout(os.lstat(path), path) else \
                "C" if find(layers, parts + [name]) else "A"
            out.append((kind, "/" + "/".join(parts + [name])))
    return sorted(out, key=lambda c: c[1])
