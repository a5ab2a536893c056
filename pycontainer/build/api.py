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


# docker-py's arguments that change nothing here: forcerm/rm (no step's container is kept),
# decode (the log is dicts already), use_config_proxy (no proxy is configured for builds)
ACCEPTED = ("forcerm", "decode", "use_config_proxy")


def build(client, path: str | None = None, *, fileobj=None, custom_context: bool = False,
          encoding: str | None = None, dockerfile: str | None = None, tag=None,
          buildargs: dict | None = None, nocache: bool = False, target: str | None = None,
          labels: dict | None = None, network_mode: str | None = None, pull: bool = False,
          quiet: bool = False, rm: bool = True, timeout: float | None = None,
          platform: str | None = None, isolation: str | None = None, **unsupported):
    """Build the image in context ``path`` (or ``fileobj``: a Containerfile, or with
    ``custom_context`` a tar of the context, as docker-py sends them); returns (Image,
    iterator of log chunks)."""
    for k in ACCEPTED:
        unsupported.pop(k, None)
    if isolation not in (None, "default"):
        unsupported["isolation"] = isolation
    if unsupported:
        raise BuildFailed(f"images.build: unsupported option(s): {', '.join(sorted(unsupported))}")
    data = None
    if fileobj is not None:                   # docker-py: fileobj wins over path
        data = fileobj.read() if hasattr(fileobj, "read") else fileobj
        data = data.encode() if isinstance(data, str) else bytes(data)
        if encoding not in (None, "gzip", "identity") or (encoding and not custom_context):
            raise BuildFailed(f"images.build: encoding={encoding!r}: give a gzip'd tar with "
                              "custom_context=True, or none")
    elif not path:
        raise BuildFailed("images.build: give path= (a build context directory) or fileobj=")
    with tempfile.TemporaryDirectory(prefix="pyc-build-") as tmp:
        iid = os.path.join(tmp, "iid")
        args = [sys.executable, "-m", "pycontainer", "--root", client.root, "build",
                "--iidfile", iid]
        if client.image_root:
            args += ["--image-root", client.image_root]
        if dockerfile:
            args += ["-f", dockerfile if os.path.isabs(dockerfile) or data is not None
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
        if platform:
            args += ["--platform", platform]
        if quiet:
            args.append("-q")
        args.append("-" if data is not None else os.path.abspath(path))
        pkg = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=pkg + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if data is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, close_fds=True)
        try:
            out, _ = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            import signal             # as Ctrl-C: the build removes its step container and dirs
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            raise BuildFailed(f"images.build: not done after timeout={timeout} s (stopped)") from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        text = out.decode("utf-8", "replace")
        log = [{"stream": line} for line in text.splitlines(keepends=True)]
        if proc.returncode:
            last = text.strip().splitlines()[-1] if text.strip() else f"exit {proc.returncode}"
            raise BuildFailed(last, log)
        with open(iid) as f:
            image_id = f.read().strip()
    log.append({"aux": {"ID": image_id}})
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
