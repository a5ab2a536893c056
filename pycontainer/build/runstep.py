"""A RUN step: one pycontainer container on the previous step's image; its upper dir -> a layer.

The container is made by ``api.operations.op_run``, the path ``pycontainer run`` takes,
so a build step gets what a run gets: docker's seccomp profile and
capabilities, the resource defaults, the network mode asked for
(``--network none|bridge|host``), an overlay rootfs of the image's layers.
The command runs on the build's stdout/stderr (``-q``: into a file shown
only when the step fails; ``--progress tty``: into a pipe that progress.py
shows the tail of), with stdin at /dev/null. After it exits 0, its
overlay upper dir is written as the step's layer; in every case the
container is then deleted (cgroup, state, dir, image hold).

Read: ``pycontainer/api/operations.py`` (op_run), ``image/layerwriter.py``.
"""

from __future__ import annotations

import os

from . import StepFailed


def run(builder, st, ins, argv, env, workdir, user, network, mounts=(), targets=()):
    """Run ``argv``; returns the layer (descriptor, diff_id) of what it changed. ``mounts``:
    RUN --mount's, as ``--mount`` values (runmounts.py); ``targets``: their mount points,
    left out of the layer when the runtime made them."""
    from .. import containerdir
    from ..api import operations as ops
    from ..container import Runtime
    from ..errors import ContainerNotFound, PyContainerError
    from ..image import layerwriter
    from ..image.rootfs import container_dir
    from . import BuildError
    cid = "build-" + os.urandom(10).hex()
    o = {"image": st.ref, "command": list(argv), "entrypoint": "", "env": list(env),
         "workdir": workdir, "user": user or None, "network": network, "volumes": []}
    if mounts:
        from ..volumes import parse_mount
        o["mount_specs"] = [parse_mount(m) for m in mounts]     # what run_flags.apply makes of --mount
    saved = _redirect(builder.o.quiet, builder.progress)
    rt = Runtime(builder.o.root)
    try:
        try:
            res = ops.op_run(builder.o.root, cid, o, remove=False, reclaimable=True,
                             image_root=builder.o.image_root, pull="never")
        except PyContainerError as exc:
            raise BuildError(f"{ins.where}: RUN: {exc}") from None
        finally:
            log = _restore(saved)
        if res["exit_code"] != 0:
            builder.progress.failed()
            if log:
                os.write(2, log[-4000:])
            shown = ins.args if ins.json_form is None else str(ins.json_form)
            raise StepFailed(f"{ins.where}: RUN {shown}: the command exited with code "
                             f"{res['exit_code']}")
        upper = os.path.join(container_dir(cid), "upper")
        tree_lower = _Lower(st.layers)
        if targets:
            from .runmounts import made_points
            tree_lower.made = made_points(upper, list(targets), tree_lower.has)
        return layerwriter.add_layer(builder.store, upper, skip=tree_lower.runtime_leftover)
    finally:
        try:
            rt.delete(cid, force=True)
        except ContainerNotFound:
            containerdir.remove(cid)
            _drop_cgroup(cid)        # Ctrl-C inside create: no state yet, maybe a cgroup


def _drop_cgroup(cid: str) -> None:
    """Remove the build container's cgroup (default path /pycontainer/<id>) if it exists."""
    import signal
    import time
    from .. import cgroups
    from ..errors import CgroupError
    try:
        mgr = cgroups.open(None, cid)
        for _ in range(100):
            if not mgr.pids():
                break
            mgr.kill_all(signal.SIGKILL)
            time.sleep(0.01)
        mgr.destroy()
    except (CgroupError, OSError):
        pass


class _Lower:
    """Mount points the runtime made in the rootfs (not the command's work): left out."""

    POINTS = ("proc", "sys", "dev", "etc/hostname", "etc/hosts", "etc/resolv.conf")

    def __init__(self, layers):
        from .merged import Tree
        self.tree = Tree(layers)
        self.made: set = set()              # RUN --mount's mount points (runmounts.made_points)

    def has(self, rel: str) -> bool:
        return self.tree.lstat(rel.split("/")) is not None

    def runtime_leftover(self, rel, st) -> bool:
        import stat
        if rel in self.made:
            return True
        if rel not in self.POINTS or self.tree.lstat(rel.split("/")) is not None:
            return False
        if stat.S_ISDIR(st.st_mode):
            return True
        return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _redirect(quiet: bool, progress=None):
    """stdin from /dev/null; with -q also stdout/stderr into a temp file, on a live
    progress view into its pipe."""
    import tempfile
    saved = {0: os.dup(0)}
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    f = None if quiet else (progress.capture() if progress is not None else None)
    if quiet:
        f = tempfile.TemporaryFile()
    if f is not None:
        for fd in (1, 2):
            saved[fd] = os.dup(fd)
            os.dup2(f.fileno() if quiet else f.wfd, fd)
    return saved, f


def _restore(saved) -> bytes:
    fds, f = saved
    for fd, old in fds.items():
        os.dup2(old, fd)
        os.close(old)
    if f is None:
        return b""
    if hasattr(f, "stop"):                 # progress.Capture: the pipe to the live view
        return f.stop()
    f.seek(0)
    data = f.read()
    f.close()
    return data
