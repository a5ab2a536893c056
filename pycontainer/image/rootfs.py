"""Two calls for the porcelain: an image name in, an overlay plan + image config out; and back.

``prepare(container_id, "busybox")`` resolves the image (building ``busybox``
offline, pulling other images if asked and missing), marks it in use by the
container (so ``rmi`` refuses it and gc keeps its layers), and makes the
container's upper/work dirs under ``/var/lib/pycontainer/containers/<id>``.
``cleanup(container_id)`` undoes all of it and is safe to call twice or on a
half-prepared container. Mounting is not done here: the plan goes to the
init, which mounts it inside the container's mount namespace (overlay.py).

Read: overlay.py (the plan), store.py (holds), runconfig.py (image config ->
OCI process); the rest of the container's directory is ../containerdir.py's.
"""

from __future__ import annotations

import os

DEFAULT_CONTAINERS = "/var/lib/pycontainer/containers"


def container_dir(container_id: str, containers_dir: str | None = None) -> str:
    from .store import check_holder
    check_holder(container_id)                      # a safe single path component
    return os.path.join(containers_dir or os.environ.get("PYCONTAINER_CONTAINERS_DIR")
                        or DEFAULT_CONTAINERS, container_id)


def prepare(container_id: str, ref: str, *, store=None, containers_dir: str | None = None,
            readonly: bool = False, pull: str = "missing", progress=None, insecure=None,
            durable_hold: bool = True):
    """(Image, OverlayPlan) for a new container ``container_id`` running image ``ref``.

    ``pull``: "missing" (docker's default: pull if the store lacks it),
    "never", or "always". ``durable_hold``: see ``Store.hold``.
    """
    from ..errors import ImageError
    from . import overlay
    from .store import ImageNotFound, Store
    cdir = container_dir(container_id, containers_dir)      # validates the id first
    os.makedirs(os.path.dirname(cdir), exist_ok=True)
    try:
        os.mkdir(cdir, 0o700)                   # exclusive: two creates of one ID cannot both win
    except FileExistsError:
        raise ImageError(f"container {container_id!r}: {cdir} already exists (a container with "
                         "this ID exists, or one was not cleaned up)") from None
    held = False
    try:
        mark_creator(cdir)                      # before the hold: gc keeps both while we work
        store = store or Store()
        if pull == "always":
            store.pull(ref, progress=progress, insecure=insecure)
        try:
            img = store.resolve(ref, hold=container_id, durable=durable_hold)
        except ImageNotFound:
            if pull != "missing":
                raise
            if progress is not None:
                progress.note(f"Unable to find image '{ref}' locally")      # docker's words
            store.pull(ref, progress=progress, insecure=insecure)
            img = store.resolve(ref, hold=container_id, durable=durable_hold)
        held = True
        from .. import trace
        with trace.step("mkdir upper, work (overlay plan)", "root.path", dir=cdir,
                        lowerdir=img.layers, readonly=readonly):
            plan = overlay.prepare(cdir, img.layers, readonly=readonly)
    except BaseException:
        if held:
            store.release(container_id)
        import shutil
        shutil.rmtree(cdir, ignore_errors=True)
        raise
    return img, plan


CREATOR = "creator"


def mark_creator(cdir: str) -> None:
    """Record which process is making the container (pid and start time, /proc/PID/stat):
    until its runtime state exists, a container dir is only this process's work, and a
    concurrent ``gc``/prune must not take it (or its image hold) for a leftover."""
    from ..state import proc_start_time
    with open(os.path.join(cdir, CREATOR), "w") as f:
        f.write(f"{os.getpid()} {proc_start_time(os.getpid())}\n")


def creator_alive(cdir: str) -> bool:
    """Whether the process that made ``cdir`` still runs (see ``mark_creator``)."""
    from ..state import proc_start_time
    try:
        with open(os.path.join(cdir, CREATOR)) as f:
            pid, start = f.read().split()
        return int(pid) > 0 and str(proc_start_time(int(pid))) == start
    except (OSError, ValueError):
        return False


def cleanup(container_id: str, *, store=None, containers_dir: str | None = None) -> None:
    """Remove the container's upper/work dirs and its hold on the image (idempotent)."""
    from . import overlay
    from .store import Store
    cdir = container_dir(container_id, containers_dir)
    try:
        os.unlink(os.path.join(cdir, CREATOR))
    except OSError:
        pass
    overlay.remove(cdir)
    (store or Store()).release(container_id)
