"""Where a path is in an image's merged tree, from its layer dirs, as overlayfs would show it.

The store keeps each layer unpacked in overlay form (``layers.py``,
``whiteouts.py``): a character device 0:0 is a whiteout, a directory with
the xattr ``trusted.overlay.opaque=y`` hides everything below it. ``find``
looks at the layers top-down and stops where a whiteout, an opaque
directory or a non-directory hides the layers below, the lookup rules of
the kernel's overlayfs. It only ``lstat``-s: a symlink in an image is never followed on
the host. ``build/merged.py`` builds its ``Tree`` (listdir, in-image
symlink resolution) on it; ``runconfig.py`` asks it what a workdir is.

Read: kernel ``Documentation/filesystems/overlayfs.rst`` ("whiteouts and
opaque directories").
"""

from __future__ import annotations

import os
import stat

from .whiteouts import is_opaque, is_whiteout


def find(layers: list[str], parts: list[str]) -> tuple[str, os.stat_result] | None:
    """(host path, lstat) of ``parts`` in the top layer that has it, or None.

    ``layers``: bottom first, like ``Image.layers``; ``parts``: the path's
    components (no ``..``). A whiteout, or a file or symlink in place of a
    directory on the way, means absent.
    """
    for layer in reversed(list(layers)):
        path = layer
        hidden = False
        for i, name in enumerate(parts):
            path = os.path.join(path, name)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                break                                # look further down...
            if is_whiteout(st, path):
                return None
            if i == len(parts) - 1:
                return path, st
            if not stat.S_ISDIR(st.st_mode):
                return None                          # a file or symlink hides the rest
            if is_opaque(path):
                hidden = True
        else:
            if not parts:
                return layer, os.lstat(layer)
        if hidden:
            return None                              # ...unless an opaque dir stops us
    return None
