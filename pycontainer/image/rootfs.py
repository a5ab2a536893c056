"""Two calls for the porcelain: an image name in, an overlay plan + image config out; and back.

``prepare(container_id, "busybox")`` resolves the image (building ``busybox``
offline, pulling other images if asked and missing), marks it in use by the
container (so ``rmi`` refuses it and gc keeps its layers), and makes the
container's upper/work dirs under ``/var/lib/pycontainer/containers/<id>``.
``cleanup(container_id)`` undoes all of it and is safe to call twice or on a
half-prepared container. Mounting is not done here: the plan goes to the
init, which mounts it inside the container's mount namespace (overlay.py).

Read: overlay.py (the plan), store.py (holds), runconfig.py (image config ->
OCI process).
"""

from __future__ import annotations

import os

DEFAULT_CONTAINERS = "/var/lib/pycontainer/containers"
ANN_DIR = "org.pycontainer.dir"        # the OCI annotation naming a container's dir


def container_dir(container_id: str, containers_dir: str | None = None) -> str:
    from .store import _check_holder
    _check_holder(container_id)                      # a safe single path component
    return os.path.join(containers_dir or os.environ.get("PYCONTAINER_CONTAINERS_DIR")
                        or DEFAULT_CONTAINERS, container_id)


def prepare(container_id: str, ref: str, *, store=None, containers_dir: str | None = None,
            readonly: bool = False, pull: str = "missing", progress=None, insecure=None):
    """(Image, OverlayPlan) for a new container ``container_id`` running image ``ref``.

    ``pull``: "missing" (docker's default: pull if the store lacks it),
    "never", or "always".
    """
    from ..errors import ImageError
    from . import overlay
    from .store import ImageNotFound, Store
    cdir = container_dir(container_id, containers_dir)      # validates the id first
    if os.path.lexists(cdir):
        raise ImageError(f"container {container_id!r}: {cdir} already exists (a container with "
                         "this ID exists, or one was not cleaned up)")
    store = store or Store()
    if pull == "always":
        store.pull(ref, progress=progress, insecure=insecure)
    try:
        img = store.resolve(ref, hold=container_id)
    except ImageNotFound:
        if pull != "missing":
            raise
        store.pull(ref, progress=progress, insecure=insecure)
        img = store.resolve(ref, hold=container_id)
    try:
        plan = overlay.prepare(cdir, img.layers, readonly=readonly)
    except BaseException:
        store.release(container_id)
        raise
    return img, plan


def cleanup(container_id: str, *, store=None, containers_dir: str | None = None) -> None:
    """Remove the container's upper/work dirs and its hold on the image (idempotent)."""
    from . import overlay
    from .store import Store
    overlay.remove(container_dir(container_id, containers_dir))
    (store or Store()).release(container_id)


def remove_after_delete(record: dict) -> None:
    """After ``delete``: remove the container's dir and release its image (tolerant).

    Only a dir this module made (``<containers>/<id>`` named by the
    annotation) is removed: never what we did not make.
    """
    cdir = (record.get("annotations") or {}).get(ANN_DIR)
    if not cdir:
        return
    cdir = os.path.normpath(cdir)
    parent, cid = os.path.split(cdir)
    if cid != record.get("id") or parent != os.path.dirname(container_dir(cid)):
        return
    from .. import detach
    mpid = detach.monitor_pid(cdir)
    if mpid and mpid != os.getpid():
        # The init is dead; its monitor is writing exit.json: let it finish,
        # or it would write into a directory being removed.
        if not detach.wait_monitor(cdir, 5):
            try:
                os.kill(mpid, 9)
            except ProcessLookupError:
                pass
    _remove(cid, cdir)


def gc(live_ids, root: str | None = None) -> tuple[list[str], list[str]]:
    """Release image holds and remove container dirs of containers that no longer exist.

    A container dir records its state root (``root`` file); one whose
    container lives under another root is left alone.
    """
    live = set(live_ids)
    parent = os.path.dirname(container_dir("x"))
    names = os.listdir(parent) if os.path.isdir(parent) else []
    if root is not None:
        for name in names:
            try:
                with open(os.path.join(parent, name, "root")) as f:
                    owner = f.read().strip()
            except OSError:
                continue
            if owner and owner != root and os.path.isdir(os.path.join(owner, name)):
                live.add(name)
            elif owner and os.path.isdir(owner) and _kept(os.path.join(parent, name)):
                live.add(name)       # docker's Created container (its program could not start)
    holds: list[str] = []
    try:
        from .store import Store
        holds = Store().prune_holds(live)
    except Exception:  # noqa: BLE001 - no store yet
        pass
    dirs = [n for n in names if n not in live]
    for name in dirs:
        _remove(name, os.path.join(parent, name))
    return holds, dirs


def _kept(cdir: str) -> bool:
    """A container dir kept on purpose without runtime state (``lifecycle.not_started``)."""
    import json
    try:
        with open(os.path.join(cdir, "exit.json")) as f:
            return json.load(f).get("started") is False
    except (OSError, ValueError, AttributeError):
        return False


def _remove(container_id: str, cdir: str) -> None:
    import shutil
    try:
        cleanup(container_id)
    except Exception:  # noqa: BLE001 - tolerant: remove what we can
        pass
    shutil.rmtree(cdir, ignore_errors=True)
