"""``commit``: a container's overlay upper dir as a new layer on its image (docker commit).

The container's changes are exactly its overlayfs upper dir
(``<containers>/<id>/upper``); ``image/layerwriter.py`` writes them as one
layer, the same writer a build uses. The new image's config is the
container's image config with the ``-c`` instructions applied (CMD,
ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL,
HEALTHCHECK, ONBUILD, as docker allows), a history entry (``-m``), and
``author`` (``-a``). A running container is frozen (cgroup freezer, as
``pause``) while its upper dir is read, unless ``--no-pause``.

Read: ``docker commit`` reference; overlayfs.rst ("upper and lower").
"""

from __future__ import annotations

import copy
import os
import time

from . import BuildError

CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR",
           "STOPSIGNAL", "HEALTHCHECK", "SHELL")


class _Cfg:
    def __init__(self, config):
        self.config = config
        self.shell = ["/bin/sh", "-c"]
        self.cmd_set = False


def check_changes(changes, verb: str, allowed=CHANGES) -> list:
    """Parse ``-c`` instructions (Containerfile lines); a keyword not ``allowed`` is an error."""
    from . import containerfile as cf
    ins = cf.parse("\n".join(changes), "--change") if changes else []
    for i in ins:
        if i.keyword not in allowed:
            raise BuildError(f"{verb}: --change {i.keyword}: not allowed (allowed: "
                             f"{', '.join(allowed)})")
    return ins


def apply_changes(cfg: dict, changes) -> None:
    """Apply ``-c`` instructions to an image config (``cfg["config"]``: Env, Cmd, ...)."""
    from . import metadata
    st = _Cfg(cfg)
    st.config.setdefault("config", {})
    env = {}
    for item in st.config["config"].get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    for i in check_changes(changes, "--change"):
        metadata.apply(st, i, env)


def commit(root: str, container: str, name: str | None, *, changes=(), message=None,
           author=None, pause=True, image_root=None):
    """Commit ``container``; returns the new store Image (named ``name`` if given)."""
    from ..container import Runtime
    from ..image import layerwriter, reference
    from ..containerdir import ANN_DIR
    from ..image.store import Store
    from ..errors import ContainerNotFound, PyContainerError
    from ..inspect import owned_dir, resolve_id
    rt = Runtime(root)
    try:
        cid = resolve_id(root, container)          # an ID, a prefix, a kept or generated name
    except PyContainerError as exc:
        raise BuildError(f"commit: {exc}") from None
    try:
        record = rt.state(cid)
        cdir = (record.get("annotations") or {}).get(ANN_DIR) or ""
    except ContainerNotFound:                     # stopped: only its directory is left
        record, cdir = {}, owned_dir(root, cid) or ""
    upper = os.path.join(cdir, "upper") if cdir else ""
    store = Store(image_root)
    hold = store.holds().get(cid)
    if not hold or not os.path.isdir(upper):
        raise BuildError(f"commit {cid}: not a container made from an image (no image "
                         "overlay to commit)")
    if name:
        reference.parse(name)
    check_changes(changes, "commit")
    base = store.resolve(hold["image"], builtin=False)
    cfg = copy.deepcopy(base.config)
    apply_changes(cfg, changes)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cfg["created"] = now
    if author:
        cfg["author"] = author
    cfg.setdefault("history", []).append(
        {"created": now, "created_by": _command(cdir) or "pycontainer commit " + cid,
         **({"comment": message} if message else {}), **({"author": author} if author else {})})
    paused = False
    if pause and record.get("status") == "running":
        _mark_pause(cdir)                          # whose pause this is: gc thaws it if we die
        rt.pause(cid)
        paused = True
    try:
        layer = layerwriter.add_layer(store, upper)
    finally:
        if paused:
            rt.resume(cid)
            _unmark_pause(cdir)
    return layerwriter.add_image(store, base.manifest, cfg, [layer], [name] if name else [])


def _command(cdir: str) -> str:
    """The container's Cmd, joined: what docker's history says made a committed layer."""
    import json
    from ..containerconfig import image_of
    try:
        with open(os.path.join(cdir, "config.json")) as f:
            return " ".join(image_of(json.load(f)).get("Cmd") or [])
    except (OSError, ValueError):
        return ""


PAUSED_BY = "commit-pause"           # "PID START": the commit that froze the container


def _mark_pause(cdir: str) -> None:
    from ..state import proc_start_time
    with open(os.path.join(cdir, PAUSED_BY), "w") as f:
        f.write(f"{os.getpid()} {proc_start_time(os.getpid())}\n")


def _unmark_pause(cdir: str) -> None:
    try:
        os.unlink(os.path.join(cdir, PAUSED_BY))
    except FileNotFoundError:
        pass


def thaw_orphans(root: str) -> list[str]:
    """Containers a commit froze and never thawed (it was killed): thaw them (``gc``)."""
    from ..container import Runtime
    from ..errors import PyContainerError
    from ..inspect import containers_dir
    from ..state import list_ids, proc_start_time
    out = []
    for cid in list_ids(root):
        mark = os.path.join(containers_dir(), cid, PAUSED_BY)
        try:
            with open(mark) as f:
                pid, start = f.read().split()
        except (OSError, ValueError):
            continue
        if str(proc_start_time(int(pid))) == start:
            continue                               # that commit still runs
        try:
            Runtime(root).resume(cid)
            out.append(cid)
        except PyContainerError:
            pass
        _unmark_pause(os.path.dirname(mark))
    return out
