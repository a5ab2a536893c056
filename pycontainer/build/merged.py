"""An image's merged tree, read from its layer dirs as overlayfs would show it, without a mount.

The store keeps each layer unpacked in overlay form (``image/layers.py``): a
character device 0:0 is a whiteout, a directory with the xattr
``trusted.overlay.opaque=y`` hides everything below it. ``Tree`` answers
lstat/listdir/readlink/open for a path by looking at the layers top-down
and stopping where a whiteout, an opaque directory or a non-directory hides
the layers below, the rules of kernel ``Documentation/filesystems/overlayfs.rst``.
Every host path it touches is built from components it has ``lstat``-ed as
real directories, so a symlink in an image is never followed on the host;
``resolve`` follows them *inside* the image (``/`` is the image's root), as
the kernel would inside the container.

Read: overlayfs.rst ("whiteouts and opaque directories"), path_resolution(7).
"""

from __future__ import annotations

import os
import stat

from ..image.merged import find
from ..image.whiteouts import is_opaque, is_whiteout
from . import BuildError

MAX_LINKS = 40                       # path_resolution(7): ELOOP after 40 symlinks


def split(path: str) -> list[str]:
    """Path -> components; ``..`` is resolved lexically and never climbs above ``/``."""
    out: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if out:
                out.pop()
            continue
        out.append(p)
    return out


class Tree:
    """The merged view of ``layers`` (bottom first, like ``Image.layers``)."""

    def __init__(self, layers: list[str]):
        self.layers = list(layers)

    def find(self, parts: list[str]) -> tuple[str, os.stat_result] | None:
        """(host path, lstat) of ``parts`` in the top layer that has it, or None."""
        return find(self.layers, parts)

    def lstat(self, parts: list[str]) -> os.stat_result | None:
        hit = self.find(parts)
        return hit[1] if hit else None

    def host_path(self, parts: list[str]) -> str:
        hit = self.find(parts)
        if not hit:
            raise FileNotFoundError("/" + "/".join(parts))
        return hit[0]

    def listdir(self, parts: list[str]) -> list[str]:
        names: dict[str, bool] = {}
        for layer in reversed(self.layers):
            path = os.path.join(layer, *parts)
            ok = True
            p = layer
            for name in parts:                            # every component a real dir
                p = os.path.join(p, name)
                try:
                    if not stat.S_ISDIR(os.lstat(p).st_mode):
                        ok = False
                        break
                except OSError:
                    ok = False
                    break
            if not ok:
                if os.path.lexists(p):
                    break                                 # a file here hides lower dirs
                continue
            for n in os.listdir(path):
                if n not in names:
                    names[n] = not is_whiteout(os.lstat(os.path.join(path, n)), os.path.join(path, n))
            if is_opaque(path):
                break
        return sorted(n for n, real in names.items() if real)

    def resolve(self, path: str, follow_last: bool = True) -> list[str]:
        """Components of ``path`` with every symlink resolved inside the image."""
        todo = split(path)
        done: list[str] = []
        hops = 0
        while todo:
            name = todo.pop(0)
            cand = done + [name]
            st = self.lstat(cand)
            if st is not None and stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                hops += 1
                if hops > MAX_LINKS:
                    raise BuildError(f"too many levels of symbolic links resolving {path!r}")
                target = os.readlink(self.host_path(cand))
                base = [] if target.startswith("/") else done
                todo = split("/".join(base + [target])) + todo
                done = []
                continue
            done = cand
        return done
