"""Apply one image layer (a tar, maybe compressed) to a directory, safely.

A layer is a tar archive of filesystem *changes* (image-spec ``layer.md``):
files, directories, symlinks, hardlinks, device nodes and two kinds of
*whiteouts*. ``dir/.wh.NAME`` says "NAME from lower layers is deleted";
``dir/.wh..wh..opq`` says "dir is *opaque*: nothing from lower layers shows
through it". Whiteouts apply only to lower layers, never to entries of the
same layer, and an opaque marker applies regardless of its position in the
archive.

Two ways to apply them (``whiteouts=``):

``"overlay"`` (the store's mode)
    Every layer is unpacked into its *own empty* directory, later stacked by
    overlayfs. A whiteout becomes what overlayfs reads as one: a character
    device 0:0 named NAME; an opaque dir gets the xattr
    ``trusted.overlay.opaque=y`` (kernel ``Documentation/filesystems/
    overlayfs.rst``, "whiteouts and opaque directories"). Needs root
    (mknod and the ``trusted.`` xattr namespace). Where the store cannot
    hold a 0:0 device (it is itself on overlayfs), an *xattr whiteout*
    (an empty file with ``trusted.overlay.whiteout``, its directory's
    ``trusted.overlay.opaque`` = "x"; Linux 6.7+) instead, or a one-line
    error that says what to do (``whiteouts.py``).
``"delete"``
    Layers are applied on top of each other in one directory (a flattened
    rootfs, e.g. for export): whiteouts delete in place.

A layer is untrusted input processed as root on the host, so nothing here
relies on ``tarfile.extract*`` or its filters (they had bypasses in 2025-26:
CVE-2025-4517, gh-151558, gh-157190; our Python is 3.11). Instead:

* names are split into components; absolute names, ``..`` components and
  NUL bytes are refused (``UnsafeArchiveError``);
* every parent directory is opened component by component with
  ``O_NOFOLLOW|O_DIRECTORY`` relative to a directory fd already known to be
  inside the root, so a symlink planted by an earlier entry (or an earlier
  layer, in ``delete`` mode) is never followed: writing through it is refused;
* files are created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` after unlinking what
  was there (a later entry replaces an earlier one, as tar does);
* symlinks are stored verbatim and never followed here: they are only
  resolved by the kernel inside the container, where ``/`` is the rootfs;
* hardlink targets are resolved the same way and must be a regular file (or
  FIFO/device under the device policy) already in this directory; links to
  symlinks, to directories or out of the root are refused;
* modes (setuid/setgid/sticky included), ownership (when root), mtimes and
  xattrs are kept; xattrs ``trusted.overlay.*`` (which would steer overlayfs)
  and ``security.selinux`` (a label from another host) are dropped;
* total entries and uncompressed bytes are capped (decompression bombs,
  10 GiB sparse files), per layer and per image, and a free-space reserve
  is kept on the destination's filesystem (``space.py``: configurable);
  a full disk is an error that names the layer; so is path depth (256
  components);
* runs of zeros are written as holes, so a sparse file stays sparse.

Device-node policy (``devices=``): ``"reject"`` (default) refuses a layer
with a character or block device, because the runtime creates ``/dev``
itself (OCI default devices on a tmpfs) and a device node elsewhere in an
image is only a way to reach host hardware if a capability slips;
``"skip"`` drops them and reports their names; ``"allow"`` creates them
(root only; the overlay rootfs is still mounted ``nodev``). FIFOs are
always allowed. AUFS metadata whiteouts (``.wh..wh.plnk`` ...) are ignored,
as containerd does.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass, field

from ..errors import ImageError, UnsafeArchiveError
from . import whiteouts as whiteouts_mod
from . import decompress, space
from .space import Limits  # noqa: F401  (the caps; also layers.Limits for callers)

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

DEVICE_POLICIES = ("reject", "skip", "allow")
WHITEOUT_MODES = ("overlay", "delete")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DROP_XATTRS = ("trusted.overlay.", "security.selinux")
_FD_CACHE = 256
MAX_DEPTH = 256          # path components; keeps every walk here far from the recursion limit


@dataclass
class ApplyResult:
    diff_id: str                        # "sha256:<hex>" of the uncompressed tar
    entries: int = 0
    bytes: int = 0                      # uncompressed tar bytes read
    skipped: list[str] = field(default_factory=list)   # device nodes dropped


def apply_layer(src, dest: str, *, whiteouts: str = "overlay", devices: str = "reject",
                limits: Limits | None = None, label: str = "") -> ApplyResult:
    """Apply the layer ``src`` (a path or a binary file object; plain, gzip,
    zstd, bzip2 or xz) to the existing directory ``dest``.

    Returns the layer's diff_id (computed while reading) and counts. Raises
    ``UnsafeArchiveError`` for an entry that could escape or is refused by
    policy, ``ImageError`` for a corrupt archive; ``dest`` may then hold a
    partial layer, which the caller discards (the store unpacks into a
    temporary directory and renames it only on success).
    """
    import tarfile

    if whiteouts not in WHITEOUT_MODES:
        raise ValueError(f"whiteouts must be one of {WHITEOUT_MODES}")
    if devices not in DEVICE_POLICIES:
        raise ValueError(f"devices must be one of {DEVICE_POLICIES}")
    limits = limits or Limits.from_env()
    label = label or (src if isinstance(src, str) else "layer")
    with decompress.opened(src, label) as raw:
        reader = space.CappedReader(raw, limits, label, dest)
        applier = _Applier(dest, whiteouts, devices, limits, label)
        try:
            try:
                tf = tarfile.open(fileobj=reader, mode="r|", errorlevel=2)
                for member in tf:
                    applier.apply(member, tf)
                applier.finish()
            except (tarfile.TarError, EOFError) as exc:
                raise ImageError(f"{label}: corrupt or truncated tar archive ({exc})") from exc
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise _no_space(label, dest, exc) from None
                raise
            reader.drain()
        finally:
            applier.close()
    limits.image_used += reader.count
    return ApplyResult(diff_id="sha256:" + reader.sha.hexdigest(), entries=applier.entries,
                       bytes=reader.count, skipped=applier.skipped)


# --- names ---------------------------------------------------------------------------

def split_name(name: str, label: str = "layer", what: str = "entry") -> tuple[str, ...]:
    """Split an archive member name into safe components, or refuse it."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{label}: {what} {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"{label}: {what} {name!r} is an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(f"{label}: {what} {name!r} has a '..' component")
    if len(parts) > MAX_DEPTH:
        raise UnsafeArchiveError(f"{label}: {what} {name[:60]!r}... is {len(parts)} directories "
                                 f"deep (limit {MAX_DEPTH})")
    return parts


# --- the applier ---------------------------------------------------------------------

class _Applier:
    """Creates entries relative to directory fds proven to lie inside ``dest``."""

    def __init__(self, dest: str, whiteouts: str, devices: str, limits: Limits, label: str):
        self.whiteouts, self.devices, self.limits, self.label = whiteouts, devices, limits, label
        try:
            self.root_fd = os.open(dest, _DIR_FLAGS)
        except OSError as exc:
            raise ImageError(f"{label}: cannot open destination {dest!r}: {exc.strerror}",
                             errno=exc.errno) from exc
        self._fds: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self.is_root = os.geteuid() == 0
        self.entries = 0
        self.skipped: list[str] = []
        self.created: set[tuple[str, ...]] = set()   # paths this layer made
        self.opaque: list[tuple[str, ...]] = []      # delete mode: applied at finish
        self.dir_times: list[tuple[tuple[str, ...], int]] = []

    # -- directory fds -------------------------------------------------------------

    def dir_fd(self, parts: tuple[str, ...], create: bool = True) -> int:
        """An fd for directory ``parts``, opened without following any symlink.

        Missing directories are created (mode 0755, as tar does for implicit
        parents) when ``create``; a symlink or non-directory on the way is
        refused. The fd stays owned by the cache: use it before the next call.
        """
        if not parts:
            return self.root_fd
        fd = self._fds.get(parts)
        if fd is not None:
            self._fds.move_to_end(parts)
            return fd
        parent = self.dir_fd(parts[:-1], create)
        name = parts[-1]
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=parent)
            self.created.add(parts)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            raise UnsafeArchiveError(
                f"{self.label}: path component {'/'.join(parts)!r} is {what}; refusing to "
                "write through it") from None
        self._fds[parts] = fd
        if len(self._fds) > _FD_CACHE:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        return fd

    def forget(self, prefix: tuple[str, ...]) -> None:
        """Drop cached fds at or under ``prefix`` (after it was removed or replaced)."""
        n = len(prefix)
        for key in [k for k in self._fds if k[:n] == prefix]:
            os.close(self._fds.pop(key))

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    # -- entries -------------------------------------------------------------------

    def apply(self, m, tf) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise UnsafeArchiveError(f"{self.label}: more than {self.limits.max_entries} "
                                     "entries; refused")
        parts = split_name(m.name, self.label)
        if not parts:
            return                                     # "./": the root itself
        for p in parts[:-1]:
            if p.startswith(WHITEOUT_PREFIX):
                raise UnsafeArchiveError(f"{self.label}: entry {m.name!r} is inside a "
                                         "whiteout; refused")
        base = parts[-1]
        try:
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(m.name, parts[:-1], base)
            else:
                self._entry(m, tf, parts)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _no_space(self.label, os.readlink(f"/proc/self/fd/{self.root_fd}"), exc) from None
            raise ImageError(f"{self.label}: entry {m.name!r}: {exc.strerror or exc}",
                             errno=exc.errno) from exc

    def _entry(self, m, tf, parts) -> None:
        import tarfile
        pfd = self.dir_fd(parts[:-1])
        name = parts[-1]
        if m.isdir():
            self._replace(pfd, parts, keep_dir=True)
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
            except FileExistsError:
                pass
            self.created.add(parts)
            fd = self.dir_fd(parts)
            self._meta_fd(fd, m, times=False)
            self.dir_times.append((parts, _ns(m.mtime)))
            return
        if m.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            kind = "character" if m.type == tarfile.CHRTYPE else "block"
            if self.devices == "reject":
                raise UnsafeArchiveError(
                    f"{self.label}: entry {m.name!r} is a {kind} device "
                    f"{m.devmajor}:{m.devminor}; device nodes are refused (the runtime creates "
                    "/dev itself; load with devices='skip' to drop them)")
            if self.devices == "skip":
                self.skipped.append(m.name)
                return
        if m.isreg():                               # incl. CONTTYPE and GNU/PAX sparse files
            if m.size > self.limits.max_bytes:
                raise UnsafeArchiveError(f"{self.label}: entry {m.name!r} declares "
                                         f"{m.size} bytes, over the {self.limits.max_bytes}-byte cap "
                                         "($PYCONTAINER_MAX_LAYER_SIZE)")
            self._replace(pfd, parts)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=pfd)
            try:
                src = tf.extractfile(m)
                left = m.size
                while left > 0:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        raise ImageError(f"{self.label}: entry {m.name!r} is truncated")
                    left -= len(chunk)
                    _write_sparse(fd, chunk)
                os.ftruncate(fd, m.size)
                self._meta_fd(fd, m)
            finally:
                os.close(fd)
        elif m.type == tarfile.SYMTYPE:
            self._replace(pfd, parts)
            os.symlink(m.linkname, name, dir_fd=pfd)
            if self.is_root:
                os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, ns=(_ns(m.mtime),) * 2, dir_fd=pfd, follow_symlinks=False)
        elif m.type == tarfile.LNKTYPE:
            self._hardlink(m, parts, pfd)
            return
        elif m.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            self._replace(pfd, parts)
            kind = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
                    tarfile.FIFOTYPE: stat.S_IFIFO}[m.type]
            os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
            self._meta_special(pfd, name, m)
        else:
            self.skipped.append(m.name)                 # volume headers and the like
            return
        self.created.add(parts)

    def _hardlink(self, m, parts, pfd) -> None:
        tparts = split_name(m.linkname, self.label, "hardlink target of " + repr(m.name))
        if not tparts:
            raise UnsafeArchiveError(f"{self.label}: hardlink {m.name!r} points at the root")
        if tparts == parts:
            return
        try:
            tfd = self.dir_fd(tparts[:-1], create=False)
            st = os.stat(tparts[-1], dir_fd=tfd, follow_symlinks=False)
        except FileNotFoundError:
            raise ImageError(f"{self.label}: hardlink {m.name!r} -> {m.linkname!r}: target is "
                             "not in this layer") from None
        mode = st.st_mode
        if stat.S_ISLNK(mode) or stat.S_ISDIR(mode):
            what = "a symlink" if stat.S_ISLNK(mode) else "a directory"
            raise UnsafeArchiveError(f"{self.label}: hardlink {m.name!r} -> {m.linkname!r}: "
                                     f"target is {what}; refused")
        if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and self.devices != "allow":
            raise UnsafeArchiveError(f"{self.label}: hardlink {m.name!r} -> {m.linkname!r}: "
                                     "target is a device node; refused")
        self._replace(pfd, parts)
        # the target dir fd may have been evicted by _replace's lookups: reopen it
        tfd = self.dir_fd(tparts[:-1], create=False)
        os.link(tparts[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=self.dir_fd(parts[:-1]),
                follow_symlinks=False)
        self.created.add(parts)

    def _replace(self, pfd: int, parts, keep_dir: bool = False) -> None:
        """Remove whatever is at ``parts`` (a later entry replaces an earlier one)."""
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            self._rmtree(pfd, parts)
        else:
            os.unlink(name, dir_fd=pfd)

    def _rmtree(self, pfd: int, parts) -> None:
        import shutil
        self.forget(parts)
        shutil.rmtree(parts[-1], dir_fd=pfd)     # fd-based walk: never follows symlinks

    # -- whiteouts -----------------------------------------------------------------

    def _whiteout(self, raw: str, parent, base: str) -> None:
        if base == WHITEOUT_OPAQUE:
            if self.whiteouts == "overlay":
                whiteouts_mod.make_opaque(self.dir_fd(parent), "/".join(parent + (WHITEOUT_OPAQUE,)),
                                          self.label)
            else:
                self.opaque.append(parent)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return                                      # AUFS metadata: ignored
        target = base[len(WHITEOUT_PREFIX):]
        if target in ("", ".", ".."):
            raise UnsafeArchiveError(f"{self.label}: whiteout {raw!r} names {target!r}; refused")
        tparts = parent + (target,)
        if tparts in self.created:
            return                                      # whiteouts hide lower layers only
        if self.whiteouts == "overlay":
            pfd = self.dir_fd(parent)
            self._replace(pfd, tparts)
            whiteouts_mod.make(self.dir_fd(parent), target, "/".join(tparts), self.label)
            return
        try:
            pfd = self.dir_fd(parent, create=False)
        except FileNotFoundError:
            return                                      # nothing below to hide
        self._replace(pfd, tparts)

    def finish(self) -> None:
        """Apply deferred work: opaque dirs (delete mode), then directory mtimes."""
        for parent in self.opaque:
            try:
                self._clear_lower(parent)
            except FileNotFoundError:
                pass
        for parts, ns in reversed(self.dir_times):
            try:
                os.utime(self.dir_fd(parts, create=False), ns=(ns, ns))
            except (FileNotFoundError, UnsafeArchiveError):
                pass

    def _clear_lower(self, parts) -> None:
        """Delete everything under ``parts`` that this layer did not create."""
        fd = self.dir_fd(parts, create=False)
        for name in os.listdir(fd):
            child = parts + (name,)
            if child not in self.created:
                self._replace(self.dir_fd(parts, create=False), child)
            elif stat.S_ISDIR(os.stat(name, dir_fd=self.dir_fd(parts, create=False),
                                      follow_symlinks=False).st_mode):
                self._clear_lower(child)

    # -- metadata ------------------------------------------------------------------

    def _meta_fd(self, fd: int, m, times: bool = True) -> None:
        if self.is_root:
            os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, m.mode & 0o7777)                 # after chown, which clears setuid
        self._xattrs(fd, m)
        if times:
            os.utime(fd, ns=(_ns(m.mtime),) * 2)

    def _meta_special(self, pfd: int, name: str, m) -> None:
        """Owner/mode/xattrs of a FIFO or device node, through an O_PATH fd."""
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            path = f"/proc/self/fd/{fd}"
            if self.is_root:
                os.chown(path, m.uid, m.gid)
            os.chmod(path, m.mode & 0o7777)
            self._xattrs(path, m)
            os.utime(path, ns=(_ns(m.mtime),) * 2)
        finally:
            os.close(fd)

    def _xattrs(self, target, m) -> None:
        for key, value in _xattrs_of(m):
            if key.startswith(_DROP_XATTRS):
                continue
            try:
                os.setxattr(target, key, value)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                    raise


_ZERO_PAGE = bytes(4096)
_HOLE = 1 << 16


def _write_sparse(fd: int, chunk: bytes) -> None:
    """Write ``chunk`` at the file offset, leaving 64 KiB runs of zeros as holes."""
    if _ZERO_PAGE in chunk:
        for i in range(0, len(chunk), _HOLE):
            piece = chunk[i:i + _HOLE]
            if len(piece) == _HOLE and piece.count(0) == _HOLE:
                os.lseek(fd, _HOLE, os.SEEK_CUR)
            else:
                _write_all(fd, piece)
    else:
        _write_all(fd, chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _xattrs_of(m):
    """(name, bytes) pairs from PAX headers: SCHILY.xattr.* and LIBARCHIVE.xattr.*"""
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            yield key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            import base64
            import urllib.parse
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
            yield name, base64.b64decode(value + "=" * (-len(value) % 4))


def _ns(mtime) -> int:
    return int(mtime * 1_000_000_000)


def _no_space(label: str, dest: str, exc: OSError) -> ImageError:
    return ImageError(f"{label}: {exc.strerror} while unpacking into {dest} "
                      f"({space.fs_type(dest) or 'filesystem'} full); free some space",
                      errno=exc.errno)
