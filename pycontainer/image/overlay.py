"""A container's root filesystem: overlayfs over the image's unpacked layers.

overlayfs (kernel ``Documentation/filesystems/overlayfs.rst``) merges
directory trees: ``lowerdir=A:B:C`` are read-only layers, *leftmost on top*;
``upperdir`` receives every change (a modified lower file is first copied up);
``workdir`` is a scratch dir on the same filesystem as upperdir, used to make
copy-up and whiteout creation atomic. A character device 0:0 in a layer
hides the same name below it (a *whiteout*), a directory with the xattr
``trusted.overlay.opaque=y`` hides everything below it; layers.py writes
both from the image's ``.wh.`` entries. The image's layers are shared by every
container (they are only read); upper and work are per container.

Mount options, chosen here:

* ``index=off`` – the inode index ties a lower to one overlay; lowers are shared.
* ``redirect_dir=off,metacopy=off`` – never follow ``trusted.overlay.redirect`` /
  ``metacopy`` xattrs found in a lower layer (layers are untrusted input;
  layers.py also drops those xattrs). Renaming a lower directory then gives
  EXDEV and tools fall back to copying, as on older kernels.
* ``MS_NODEV`` – device nodes in the image cannot be opened (the runtime's
  /dev is a separate tmpfs).

**Long layer lists.** mount(2) copies its option string into one page (4096
bytes), and 200 layers of ``/var/lib/pycontainer/images/layers/<64 hex>`` need
about 20 KB. When the absolute options do not fit, ``prepare`` makes a
per-container directory of short symlinks (``0`` ... ``N-1``, one per layer)
and ``mount`` chdirs into it and passes relative names (``lowerdir=199:...:0``),
as Docker's overlay2 driver does with its ``l/`` links: about 4 bytes a
layer, well within the page for overlayfs' maximum of 500 layers. (The new
mount API, ``fsconfig(FSCONFIG_SET_STRING, "lowerdir+", ...)`` on kernel >= 6.8,
takes one layer per call and has no such limit; the chdir route works on
every kernel with overlayfs.)

The runtime calls ``plan.mount(rootfs)`` in the init, *inside the container's
mount namespace*, after making ``/`` non-shared and before ``pivot_root``; the
mount goes away with the namespace, so a crash leaves no host mount. The
plan travels as JSON in the spec annotation ``org.pycontainer.overlay``.
"""

from __future__ import annotations

import json
import os

from .. import syscalls as sc
from .. import trace
from ..errors import ImageError, MountError

ANNOTATION = "org.pycontainer.overlay"
MAX_LAYERS = 500                 # OVL_MAX_STACK in fs/overlayfs/params.h
OPTIONS = "index=off,redirect_dir=off,metacopy=off"


class OverlayPlan:
    """What the init needs to mount an image rootfs: JSON-able, no open fds.

    A plain class, not a dataclass: ``import dataclasses`` (with ``inspect``, ``ast``)
    cost ~4 ms of every ``run IMAGE``."""

    FIELDS = ("lower", "upper", "work", "links", "flags", "extra", "tmpfs", "tmpfs_size")

    def __init__(self, lower: list[str], upper: str | None, work: str | None, links: str | None = None,
                 flags: int = sc.MS_NODEV, extra: str = OPTIONS, tmpfs: str | None = None,
                 tmpfs_size: int = 0):
        self.lower = lower                # image layer dirs, *bottom first* (image order)
        self.upper = upper                # None: a read-only overlay of the lowers only
        self.work = work
        self.links = links                # dir of short symlinks 0..N-1 -> lower[i]
        self.flags = flags
        self.extra = extra
        self.tmpfs = tmpfs                # size-limited writable layer: upper/work on a tmpfs here
        self.tmpfs_size = tmpfs_size

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in
                ((k, getattr(self, k)) for k in self.FIELDS)}

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return "OverlayPlan(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS) + ")"

    # -- options ----------------------------------------------------------------------

    def options(self, relative: bool = False) -> str:
        """The mount(2) data string; ``relative``: lowers named by their short links."""
        if relative:
            lowers = [str(i) for i in reversed(range(len(self.lower)))]
        else:
            lowers = list(reversed(self.lower))
        opts = [f"lowerdir={':'.join(lowers)}"]
        if self.upper:
            opts += [f"upperdir={self.upper}", f"workdir={self.work}"]
        if self.extra:
            opts.append(self.extra)
        return ",".join(opts)

    def needs_links(self) -> bool:
        # len(lower) == 1 with no upper would be rejected by overlayfs ("at least 2 lowers")
        return len(self.options().encode()) >= _page_size()

    # -- mount --------------------------------------------------------------------------

    def mount(self, target: str) -> None:
        """Mount the overlay on ``target`` (call inside the container's mount namespace)."""
        target = os.path.abspath(target)
        relative = self.needs_links()
        data = self.options(relative)
        if len(data.encode()) >= _page_size():
            raise MountError(f"mount overlay on {target!r}: options are {len(data)} bytes even "
                             "with short layer links (over one page)", stage="rootfs")
        if relative and not self.links:
            raise MountError(f"mount overlay on {target!r}: {len(self.lower)} layers need the "
                             "short-link dir; build the plan with overlay.prepare()",
                             stage="rootfs")
        if self.tmpfs:
            self.mount_tmpfs()
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if relative else -1
        try:
            if relative:
                os.chdir(self.links)
            with trace.step("mount", "root.path", type="overlay", source="overlay", target=target,
                            flags=sc.flag_names(self.flags, sc.MS_NAMES), data=data,
                            layers=len(self.lower), short_links=relative,
                            note=f"the image's layers, from {ANNOTATION}"):
                sc.mount("overlay", target, "overlay", self.flags, data)
        except OSError as exc:
            raise MountError(f"mount overlay on {target!r} ({len(self.lower)} layers): "
                             f"{exc.strerror}", stage="rootfs", errno=exc.errno) from exc
        finally:
            if cwd >= 0:
                os.fchdir(cwd)
                os.close(cwd)

    def mount_private(self, target: str) -> str:
        """A stopped container's files for ``cp`` and get/put_archive: unshare(2) a mount
        namespace for this process, make every mount in it private (nothing propagates to
        the host), mount the overlay on ``target``. The mount goes when the process does,
        even if it is killed: nothing to clean up (mount_namespaces(7))."""
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        os.makedirs(target, 0o755, exist_ok=True)
        self.mount(target)
        return target

    def mount_tmpfs(self) -> None:
        """A disk quota (docker's ``--storage-opt size=``): upper and work on a tmpfs of that size,
        mounted in the same (the container's) mount namespace, so it dies with it and a
        write past the size fails with ENOSPC. tmpfs pages are charged to the writer's memory
        cgroup, so the layer also counts against the container's memory limit."""
        try:
            sc.mount("tmpfs", self.tmpfs, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV,
                     f"size={self.tmpfs_size},mode=0700")
            os.mkdir(self.upper, 0o755)
            os.mkdir(self.work, 0o700)
        except OSError as exc:
            raise MountError(f"mount the size-limited writable layer on {self.tmpfs!r}: "
                             f"{exc.strerror}", stage="rootfs", errno=exc.errno) from exc

    def limit_size(self, container_dir: str, size: int) -> None:
        """Put the writable layer on a tmpfs of ``size`` bytes (see ``mount_tmpfs``)."""
        if not self.upper:
            raise ImageError("a size limit needs a writable layer (not --read-only)")
        self.tmpfs = os.path.join(os.path.abspath(container_dir), "quota")
        os.mkdir(self.tmpfs, 0o700)
        self.upper, self.work = os.path.join(self.tmpfs, "upper"), os.path.join(self.tmpfs, "work")
        self.tmpfs_size = int(size)

    __call__ = mount                       # the launcher's ``overlay(rootfs)`` hook

    # -- serialisation ----------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "OverlayPlan":
        try:
            d = json.loads(text)
            return cls(lower=list(d["lower"]), upper=d.get("upper"), work=d.get("work"),
                       links=d.get("links"), flags=int(d.get("flags", sc.MS_NODEV)),
                       extra=d.get("extra", OPTIONS), tmpfs=d.get("tmpfs"),
                       tmpfs_size=int(d.get("tmpfs_size", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise MountError(f"annotation {ANNOTATION}: not an overlay plan ({exc})",
                             stage="rootfs") from None

    @classmethod
    def from_spec(cls, spec: dict) -> "OverlayPlan | None":
        text = (spec.get("annotations") or {}).get(ANNOTATION)
        return cls.from_json(text) if text else None


def prepare(container_dir: str, layers: list[str], *, readonly: bool = False) -> OverlayPlan:
    """Make ``container_dir``/{upper,work} (and short layer links if needed); return the plan.

    ``layers`` are the image's layer dirs, bottom first (``Image.layers``).
    Runs on the host, before the container exists; ``remove`` undoes it.
    """
    if not layers:
        raise ImageError("overlay: an image needs at least one layer")
    layers = topmost_once([os.path.abspath(p) for p in layers])
    if len(layers) > MAX_LAYERS:
        raise ImageError(f"overlay: image has {len(layers)} layers; overlayfs stacks at most "
                         f"{MAX_LAYERS}")
    container_dir = os.path.abspath(container_dir)
    for p in list(layers) + [container_dir]:
        if any(c in p for c in ",:\\\n"):
            raise ImageError(f"overlay: path {p!r} contains ',', ':' or '\\', which mount "
                             "options cannot carry")
    upper = work = None
    try:
        os.makedirs(container_dir, mode=0o700, exist_ok=True)
        if not readonly:
            upper, work = os.path.join(container_dir, "upper"), os.path.join(container_dir, "work")
            os.mkdir(upper, 0o755)
            os.mkdir(work, 0o700)
        plan = OverlayPlan(lower=layers, upper=upper, work=work)
        if readonly and len(layers) == 1:
            # overlayfs wants an upper or two lowers (distinct): stack an empty dir on top
            empty = os.path.join(container_dir, "empty")
            os.mkdir(empty, 0o755)
            plan.lower.append(empty)
        if plan.needs_links():
            plan.links = os.path.join(container_dir, "l")
            os.mkdir(plan.links, 0o700)
            for i, p in enumerate(plan.lower):
                os.symlink(p, os.path.join(plan.links, str(i)))
    except FileExistsError as exc:
        raise ImageError(f"overlay: {exc.filename} already exists (container dir in use?)") \
            from None
    except OSError as exc:
        raise ImageError(f"overlay: preparing {container_dir}: {exc.strerror}",
                         errno=exc.errno) from exc
    return plan


def topmost_once(layers: list[str]) -> list[str]:
    """Each layer dir once, where it is highest (bottom first, as ``layers``).

    overlayfs refuses a dir twice in lowerdir (ELOOP, "overlapping lowerdir path"), and
    an image holds one twice when two of its steps made identical layers: two RUNs that
    changed nothing, or a COPY whose pattern matched nothing, are the same empty layer.
    The lower copy adds nothing the upper one does not add again above it (any whiteout
    or opaque dir between them is covered too), so the merged tree stays the same."""
    seen: set = set()
    out = []
    for p in reversed(layers):
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out[::-1]


def remove(container_dir: str) -> None:
    """Delete upper, work, the link dir, then ``container_dir`` itself if that left it empty.

    Tolerant and idempotent: call it when the container is deleted (the
    overlay mount died with the container's mount namespace).
    """
    import shutil
    for name in ("upper", "work", "l", "empty", "quota"):
        shutil.rmtree(os.path.join(container_dir, name), ignore_errors=True)
    try:
        os.rmdir(container_dir)
    except OSError:
        pass


_PAGE = 0


def _page_size() -> int:
    global _PAGE
    if not _PAGE:
        _PAGE = os.sysconf("SC_PAGESIZE")
    return _PAGE
