"""``client.images.build(...)`` and ``Container.commit(...)``, shaped like the docker SDK.

A build forks containers (RUN steps), and the API never forks the caller
(see ``pycontainer/api/``: a host program may have threads), so
``build`` runs ``python -m pycontainer build`` as a child process with the
caller's roots, reads its output, and returns ``(Image, log)`` where the log
is an iterator of ``{"stream": line}`` chunks, as docker-py's
``images.build`` does. A failed build raises ``BuildFailed`` with the log.

Read: docker SDK ``ImageCollection.build``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from ..errors import PyContainerError


def build(client, path: str | None = None, *, dockerfile: str | None = None, tag=None,
          buildargs: dict | None = None, nocache: bool = False, target: str | None = None,
          labels: dict | None = None, network_mode: str | None = None, pull: bool = False,
          quiet: bool = False, rm: bool = True, **unsupported):
    """Build the image in context ``path``; returns (Image, iterator of log chunks)."""
    if unsupported:
        raise BuildFailed(f"images.build: unsupported option(s): {', '.join(sorted(unsupported))}")
    if not path:
        raise BuildFailed("images.build: give path= (a build context directory)")
    with tempfile.TemporaryDirectory(prefix="pyc-build-") as tmp:
        iid = os.path.join(tmp, "iid")
        args = [sys.executable, "-m", "pycontainer", "--root", client.root, "build",
                "--iidfile", iid]
        if client.image_root:
            args += ["--image-root", client.image_root]
        if dockerfile:
            args += ["-f", dockerfile if os.path.isabs(dockerfile)
                     else os.path.join(path, dockerfile)]
        for t in ([tag] if isinstance(tag, str) else list(tag or [])):
            args += ["-t", t]
        for k, v in (buildargs or {}).items():
            args += ["--build-arg", f"{k}={v}"]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        if nocache:
            args.append("--no-cache")
        if pull:
            args.append("--pull")
        if target:
            args += ["--target", target]
        if network_mode:
            args += ["--network", network_mode]
        if quiet:
            args.append("-q")
        args.append(os.path.abspath(path))
        pkg = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=pkg + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env, close_fds=True)
        text = proc.stdout.decode("utf-8", "replace")
        log = [{"stream": line} for line in text.splitlines(keepends=True)]
        if proc.returncode != 0:
            last = text.strip().splitlines()[-1] if text.strip() else f"exit {proc.returncode}"
            raise BuildFailed(last, log)
        with open(iid) as f:
            image_id = f.read().strip()
    return client.images.get(image_id), iter(log)


def commit(client, container_id: str, repository: str | None = None, tag: str | None = None,
           message: str | None = None, author: str | None = None, changes=None, conf=None,
           pause: bool = True):
    """``Container.commit``: the container's changes as a new image; returns the Image."""
    from . import commit as commit_mod
    name = None
    if repository:
        name = f"{repository}:{tag}" if tag else repository
    if isinstance(changes, str):
        changes = [changes]
    img = commit_mod.commit(client.root, container_id, name, changes=list(changes or []),
                            message=message, author=author, pause=pause,
                            image_root=client.image_root)
    return client.images.get(img.digest)


class BuildFailed(PyContainerError):
    """docker-py's ``BuildError``: ``msg`` (the last line) and ``build_log``."""

    def __init__(self, msg: str, build_log=()):
        super().__init__(msg)
        self.msg, self.build_log = msg, build_log
