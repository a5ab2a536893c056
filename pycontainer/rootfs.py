"""The container's root filesystem, set up inside its own mount namespace.

Run by the init (pid 1 of the container) after ``unshare(CLONE_NEWNS)``, in
this order (each step is a function below):

1. ``set_propagation`` – make every mount in the new namespace a *slave* (or
   private) so nothing the container mounts propagates back to the host
   (mount_namespaces(7), "Shared subtrees").
2. ``bind_rootfs`` – bind-mount the rootfs onto itself: pivot_root(2) needs
   the new root to be a mount point. (An image's overlay is mounted here
   instead, see pycontainer.image.)
3. ``mount_all`` – the config's ``mounts``, in order, each destination
   resolved inside the rootfs (pycontainer.mounts).
4. ``setup_dev`` – default devices, /dev symlinks, /dev/ptmx (pycontainer.devices).
5. ``pivot_root`` – swap the root: ``pivot_root(".", ".")`` stacks the old
   root under the new one, and ``umount2(".", MNT_DETACH)`` drops it, so no
   path in the container leads back to the host (pivot_root(2), NOTES).
6. ``mask_paths`` / ``readonly_paths`` – hide /proc/kcore & co. behind
   /dev/null or an empty read-only tmpfs; bind-remount /proc/sys & co.
   read-only. Each target is checked first: masking with a /dev/null the
   image swapped for something else would mask nothing (CVE-2025-31133).
7. ``finalize_root`` – remount / read-only if ``root.readonly``.
"""

from __future__ import annotations

import errno
import posix
import stat

from . import devices, mounts
from . import syscalls as sc
from . import trace
from .cgroups.mounts import unescape
from .errors import MountError


def set_propagation(linux: dict) -> None:
    prop = mounts.PROPAGATION.get(linux.get("rootfsPropagation", ""), sc.MS_SLAVE | sc.MS_REC)
    # Before the rootfs exists, '/' must not share events with the host.
    first = sc.MS_SLAVE | sc.MS_REC if prop & sc.MS_SHARED else prop
    with trace.step("mount", "linux.rootfsPropagation", target="/",
                    flags=sc.flag_names(first, sc.MS_NAMES)):
        sc.mount(None, "/", None, first)


def bind_rootfs(rootfs: str) -> None:
    with trace.step("mount", "root.path", type="bind", source=rootfs, target=rootfs,
                    flags="MS_BIND|MS_REC"):
        try:
            sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
        except OSError as exc:
            hint = " (in a user namespace, the mapped root must be able to reach it)" \
                if exc.errno == errno.EACCES else ""
            raise MountError(f"bind-mount rootfs {rootfs!r}: {posix.strerror(exc.errno)}{hint}",
                             stage="rootfs", errno=exc.errno) from None


def mount_all(root_fd: int, spec_mounts: list[dict], cgroup_mode: str, cgroupns: bool = True,
              field: str = "mounts") -> None:
    """Mount each entry; the trace names it ``mounts[i]`` (or ``field`` for mounts config.json
    does not list, such as the network's /etc files)."""
    for i, m in enumerate(spec_mounts):
        mounts.mount_entry(root_fd, m, cgroup_mode=cgroup_mode, cgroupns=cgroupns,
                           field=f"mounts[{i}]" if field == "mounts" else field)


def needs_dev_setup(spec_mounts: list[dict]) -> bool:
    """runc's rule: create devices unless /dev is bind-mounted from somewhere."""
    for m in spec_mounts:
        if m["destination"].rstrip("/") == "/dev":
            return "bind" not in m.get("options", []) and m.get("type") != "bind" \
                and "rbind" not in m.get("options", [])
    return False


def setup_dev(root_fd: int, linux: dict, spec_mounts: list[dict], in_userns: bool) -> None:
    if not needs_dev_setup(spec_mounts):
        return
    devices.create_devices(root_fd, linux.get("devices", []), bind=in_userns)
    has_pts = any(m["destination"].rstrip("/") == "/dev/pts" for m in spec_mounts)
    devices.create_symlinks(root_fd, with_ptmx=has_pts)


def pivot_root(rootfs: str) -> None:
    with trace.step("pivot_root", "root.path", new_root=rootfs, put_old="(stacked, then detached)"):
        posix.chdir(rootfs)
        sc.pivot_root(".", ".")
        # The old root is now mounted on top of '.'. Make it a slave so the
        # unmount below does not propagate to the host, then detach it.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        posix.chdir("/")


def _is_dev_null(fd: int) -> bool:
    st = posix.fstat(fd)
    return stat.S_ISCHR(st.st_mode) and posix.major(st.st_rdev) == 1 and posix.minor(st.st_rdev) == 3


def _for_each_target(paths: list[str], verb: str, stage: str, fn) -> None:
    """Call ``fn(root_fd, path, O_PATH fd)`` for each path that exists in the new root.

    Paths that are missing (or end in a symlink: O_NOFOLLOW on the last
    component, RESOLVE_IN_ROOT for the rest) are skipped, as runc does; any
    other failure, ``fn``'s included, becomes a MountError naming the path.
    """
    root = posix.open("/", posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        for p in paths:
            try:
                fd = mounts.open_in_root(root, p, posix.O_PATH | posix.O_NOFOLLOW)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue
                raise MountError(f"{verb} {p}: {exc.strerror}", stage=stage, errno=exc.errno) from None
            try:
                fn(root, p, fd)
            except OSError as exc:
                raise MountError(f"{verb} {p}: {exc.strerror}", stage=stage, errno=exc.errno) from None
            finally:
                posix.close(fd)
    finally:
        posix.close(root)


def mask_paths(paths: list[str]) -> None:
    """Hide each path: /dev/null over files, an empty read-only tmpfs over dirs."""
    if not paths:
        return
    try:
        null = posix.open("/dev/null", posix.O_PATH | posix.O_CLOEXEC | posix.O_NOFOLLOW)
    except OSError as exc:     # a missing /dev/null must not mean "mask nothing" (CVE-2025-31133)
        raise MountError(f"mask paths: /dev/null in the container: {exc.strerror}; refusing to "
                         "start with the masked paths unmasked", stage="masked-paths",
                         errno=exc.errno) from None

    def mask(_root, p, fd):
        is_dir = stat.S_ISDIR(posix.fstat(fd).st_mode)
        with trace.step("mount", "linux.maskedPaths", target=p,
                        type="tmpfs ro" if is_dir else "bind /dev/null"):
            if is_dir:
                sc.mount("tmpfs", mounts.fd_path(fd), "tmpfs", sc.MS_RDONLY, "size=0,mode=755")
            else:
                sc.mount(mounts.fd_path(null), mounts.fd_path(fd), None, sc.MS_BIND)
    try:
        if not _is_dev_null(null):
            raise MountError("mask paths: /dev/null in the container is not the 1:3 character "
                             "device; refusing to mask with it", stage="masked-paths")
        _for_each_target(paths, "mask", "masked-paths", mask)
    finally:
        posix.close(null)


def readonly_paths(paths: list[str]) -> None:
    """Bind each path onto itself, then remount that bind read-only."""
    def make_readonly(root, p, fd):
        target = mounts.fd_path(fd)
        with trace.step("mount", "linux.readonlyPaths", target=p, flags="MS_BIND|MS_REC, then MS_RDONLY"):
            sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
            with mounts.reopened(root, p) as mounted:
                mounts.remount(mounted, sc.MS_BIND | sc.MS_RDONLY | sc.MS_REC)
    _for_each_target(paths, "readonly", "readonly-paths", make_readonly)


def finalize_root(readonly: bool, linux: dict) -> None:
    if readonly:
        with trace.step("mount", "root.readonly", target="/", flags="MS_REMOUNT|MS_BIND|MS_RDONLY"):
            mounts.remount("/", sc.MS_BIND | sc.MS_RDONLY)
    prop = linux.get("rootfsPropagation")
    if prop in ("shared", "rshared", "unbindable", "runbindable", "private", "rprivate"):
        sc.mount(None, "/", None, mounts.PROPAGATION[prop])


# --- without a private mount namespace (runc: chroot instead of pivot_root) -----------------
#
# A config with no new 'mount' namespace (none listed, or one joined by path) shares its
# mount table with others: runc then mounts into it and chroot(2)s, and leaves its mounts
# behind after delete. pycontainer does the same, except that it never changes the
# propagation of a mount it did not make (runc makes '/' rslave), makes its own rootfs bind
# private so nothing under it propagates to the peers, does not pivot_root (that would move
# the root of every process of a joined namespace), and records the IDs of the mounts it
# made so that `delete` unmounts exactly those.

def mount_ids() -> dict[int, str]:
    """{mount ID: mount point} of /proc/self/mountinfo (proc(5)), paths unescaped."""
    out = {}
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ", 5)
            out[int(fields[0])] = unescape(fields[4].decode("utf-8", "surrogateescape"))
    return out


def make_private(path: str) -> None:
    """Our own bind at ``path``: nothing mounted below it propagates to peer namespaces."""
    with trace.step("mount", "root.path", target=path, flags="MS_PRIVATE"):
        sc.mount(None, path, None, sc.MS_PRIVATE)


def chroot(rootfs: str) -> None:
    """chroot(2) into the rootfs (runc's way without a new mount namespace)."""
    with trace.step("chroot", "root.path", new_root=rootfs):
        posix.chdir(rootfs)
        posix.chroot(".")
        posix.chdir("/")


def unmount_ids(ids, under: str = "/") -> list[str]:
    """Unmount (MNT_DETACH, deepest first) each mount whose ID is in ``ids`` and whose mount
    point is ``under`` or below it; mounts of anyone else are never touched."""
    ids = set(ids)
    under = under.rstrip("/") or "/"
    points = [p for i, p in mount_ids().items() if i in ids and
              (under == "/" or p == under or p.startswith(under + "/"))]
    done = []
    for p in sorted(points, key=lambda p: (p.count("/"), len(p)), reverse=True):
        try:
            sc.umount2(p, sc.MNT_DETACH | sc.UMOUNT_NOFOLLOW)
            done.append(p)
        except OSError:
            continue
    return done


def unmount_recorded(made: dict, rootfs: str) -> list[str]:
    """`delete`: unmount what create recorded in ``made`` ({"ids": [...], "ns": path|None}).

    In the runtime's own mount namespace directly; in a joined one from a child that
    enters it first (setns(2)); a namespace that no longer exists took its mounts along.
    """
    ids = made.get("ids") or []
    if not ids:
        return []
    if not made.get("ns"):
        return unmount_ids(ids, rootfs)
    try:
        fd = posix.open(made["ns"], posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return []
    try:
        if posix.readlink(f"/proc/self/fd/{fd}") != posix.readlink("/proc/self/ns/mnt"):
            pid = posix.fork()
            if pid == 0:
                code = 1
                try:
                    sc.setns(fd, sc.CLONE_NEWNS)
                    unmount_ids(ids, rootfs)
                    code = 0
                finally:
                    posix._exit(code)
            posix.waitpid(pid, 0)
            return []
        return unmount_ids(ids, rootfs)
    finally:
        posix.close(fd)
