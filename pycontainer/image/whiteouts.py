"""Whiteouts in the form overlayfs reads them (overlayfs.rst, "whiteouts and opaque directories").

A layer's ``dir/.wh.NAME`` (image-spec ``layer.md``) must hide NAME of the
lower layers when overlayfs stacks them. overlayfs reads, in a lower layer:

* a character device 0:0 named NAME (mknod(2); the classic form);
* since Linux 6.7, an *xattr whiteout*: an empty regular file NAME with the
  xattr ``trusted.overlay.whiteout``, in a directory whose
  ``trusted.overlay.opaque`` is "x" ("may hold xattr whiteouts");

and a directory with ``trusted.overlay.opaque`` = "y" hides everything below
it (``.wh..wh..opq``). Where the image store is itself on overlayfs
(pycontainer inside a container, a CI runner whose / is overlay) a 0:0
device cannot be created; the xattr form can (written through the outer
overlay, the kernel escapes the names, and an overlay stacked from the
store reads them back), as containers/storage does. On an older kernel the
error says why and what to do.
"""

from __future__ import annotations

import errno
import os
import stat

from ..errors import ImageError

OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_XATTR = "trusted.overlay.whiteout"


def is_whiteout(st: os.stat_result, path: str | None = None) -> bool:
    """Whether the entry (``st``: its lstat; ``path``: where it is) is a whiteout: a
    character device 0:0, or (with ``path``) an empty regular file carrying the xattr
    ``trusted.overlay.whiteout`` (the form written where the store is itself on overlayfs)."""
    if stat.S_ISCHR(st.st_mode):
        return st.st_rdev == 0
    if path is None or not stat.S_ISREG(st.st_mode) or st.st_size:
        return False
    try:
        os.getxattr(path, WHITEOUT_XATTR, follow_symlinks=False)
        return True
    except OSError:
        return False


def is_opaque(path: str) -> bool:
    """Whether the directory ``path`` is opaque (``trusted.overlay.opaque`` = "y")."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def make(pfd: int, name: str, what: str, label: str) -> None:
    """The whiteout ``name`` in the directory ``pfd`` (device, else xattr form)."""
    try:
        os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP) or not xattr_whiteouts():
            raise error(pfd, what, exc, label) from None
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o000, dir_fd=pfd)
        try:
            os.setxattr(fd, WHITEOUT_XATTR, b"y")
        finally:
            os.close(fd)
        try:
            current = os.getxattr(pfd, OPAQUE_XATTR)
        except OSError:
            current = b""
        if current != b"y":                 # "y" (fully opaque) already hides it all
            os.setxattr(pfd, OPAQUE_XATTR, b"x")
    except OSError as exc:
        raise error(pfd, what, exc, label) from None


def make_opaque(dfd: int, what: str, label: str) -> None:
    try:
        os.setxattr(dfd, OPAQUE_XATTR, b"y")
    except OSError as exc:
        raise error(dfd, what, exc, label) from None


def xattr_whiteouts() -> bool:
    """Does this kernel's overlayfs read xattr whiteouts (Linux 6.7+)?"""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 7)


def error(fd: int, what: str, exc: OSError, label: str) -> ImageError:
    """A whiteout cannot be made here: say why and what to do, in one line."""
    from . import space
    dest = os.readlink(f"/proc/self/fd/{fd}")
    fstype = space.fs_type(dest) or "this filesystem"
    why = f"the image store is on {fstype}, which cannot hold overlayfs whiteouts" \
        if fstype in ("overlay", "fuse.fuse-overlayfs") else f"{fstype} refused it"
    return ImageError(f"{label}: whiteout {what!r}: {exc.strerror} ({why}); put the image store "
                      "on a filesystem that is not overlayfs (a volume or tmpfs: "
                      "$PYCONTAINER_IMAGE_ROOT)", errno=exc.errno)
