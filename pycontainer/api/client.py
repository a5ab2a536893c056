"""The docker SDK's surface: ``Client``, ``Container``, ``Image`` and their collections.

::

    import pycontainer
    client = pycontainer.Client()
    out = client.containers.run("busybox", ["echo", "hi"], remove=True, network_mode="none")
    c = client.containers.create("busybox", "sleep 60", name="box", mem_limit="64m",
                                 network_mode="none")
    c.start(); code, output = c.exec_run("ls -l"); c.stop(); c.remove()
    r = client.containers.sandbox("busybox", ["sh", "-c", "..."], timeout=5, mem_limit="64m")
    r.exit_code, r.stdout, r.stderr, r.oom_killed, r.timed_out, r.wall_time

What forks (run, create, exec) goes through the client's transport: by
default the helper process (api/helper.py), or any object with
``request(req, capture=, separate=, stdin=) -> (reply, stdout, stderr)`` and
``close()``, such as ``MockTransport`` (api/transport.py) for tests. What
needs no fork (start, stop, kill, wait, logs, remove, stats, images) runs in
the caller's process, through the same operations the porcelain uses
(api/operations.py).
"""

from __future__ import annotations

import os
import time
import uuid

from ..errors import ContainerError, NotFound, PyContainerError, decode
from . import operations as ops
from .config import DEFAULT_ROOT, options_from_kwargs


def DeviceRequest(*args, **kw):  # noqa: N802 - docker.types.DeviceRequest's name
    """docker.types.DeviceRequest (driver, count, device_ids, capabilities, options)."""
    from ..cdi.requests import DeviceRequest as Request
    return Request(*args, **kw)


def _name(name) -> str:
    """The container's ID: its docker name, checked up front (APIError, nothing made), or a
    random one."""
    if name is None:
        return uuid.uuid4().hex
    from ..state import validate_name        # its error is APIError (PyContainerError)
    return validate_name(str(name))


class ExecResult(tuple):
    """(exit_code, output), as the docker SDK's exec_run returns."""

    def __new__(cls, exit_code, output):
        return super().__new__(cls, (exit_code, output))

    exit_code = property(lambda self: self[0])
    output = property(lambda self: self[1])


class SandboxResult:
    """What a sandboxed run produced."""

    __slots__ = ("id", "exit_code", "stdout", "stderr", "oom_killed", "timed_out", "wall_time")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def __repr__(self):
        return (f"SandboxResult(exit_code={self.exit_code}, oom_killed={self.oom_killed}, "
                f"timed_out={self.timed_out}, wall_time={self.wall_time:.3f}, "
                f"stdout={self.stdout[:60]!r}, stderr={self.stderr[:60]!r})")


class Container:
    def __init__(self, client: "Client", cid: str, attrs: dict | None = None):
        self.client = client
        self.id = cid
        self.attrs = attrs if attrs is not None else ops.inspect(client.root, cid)

    def __repr__(self):
        return f"<Container: {self.id[:12]}>"

    name = property(lambda self: self.id)
    short_id = property(lambda self: self.id[:12])
    image = property(lambda self: self.attrs["Config"]["Image"])
    status = property(lambda self: self.attrs["State"]["Status"])

    def reload(self) -> None:
        self.attrs = ops.inspect(self.client.root, self.id)

    def _rt(self):
        from ..container import Runtime
        return Runtime(self.client.root)

    def start(self) -> None:
        self.reload()
        if self.attrs["State"].get("RuntimeStatus") == "created":     # its init waits for us
            self._rt().start(self.id)
        else:           # docker's start again (a monitor is forked: the helper does it)
            self.client._request({"op": "start", "root": self.client.root, "id": self.id})
        self.reload()

    def kill(self, signal_="SIGKILL") -> None:
        from ..container import parse_signal
        self._rt().kill(self.id, parse_signal(signal_))

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then after ``timeout`` seconds SIGKILL to every process (docker stop)."""
        ops.stop(self.client.root, self.id, timeout)
        self.reload()

    def pause(self) -> None:
        self._rt().pause(self.id)

    def unpause(self) -> None:
        self._rt().resume(self.id)

    def wait(self, timeout: float | None = None) -> dict:
        """Block until the program exits: ``{"StatusCode": n, "Error": None, "OOMKilled": b}``."""
        code, oom = ops.wait(self.client.root, self.id, timeout)
        return {"StatusCode": code, "Error": None, "OOMKilled": oom}

    def remove(self, force: bool = False, v: bool = False) -> None:
        from .. import lifecycle          # also a Created one kept without runtime state
        lifecycle.remove(self.client.root, self.id, force=force)

    def logs(self, stdout=True, stderr=True, timestamps=False, tail="all", stream=False, follow=False):
        cdir = self.attrs.get("Dir", "")
        if stream or follow:
            return (data for _s, data in ops.follow_logs(self.client.root, self.id, cdir, stdout=stdout,
                                                     stderr=stderr, timestamps=timestamps, tail=tail))
        from .. import containerdir
        chunks, _ = containerdir.read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps,
                                           tail=None if tail == "all" else tail)
        return b"".join(d for _s, d in chunks)

    def stats(self, stream: bool = False) -> dict:
        return self._rt().stats(self.id)

    def commit(self, repository=None, tag=None, **kw):
        """docker SDK ``Container.commit``; see pycontainer/build/api.py."""
        from ..build import api as build_api
        return build_api.commit(self.client, self.id, repository, tag, **kw)

    def top(self) -> list[int]:
        return self._rt().pids(self.id)

    def exec_run(self, cmd, stdout=True, stderr=True, stdin=False, tty=False, privileged=False,
                 user="", detach=False, environment=None, workdir=None, demux=False) -> ExecResult:
        """Run ``cmd`` in the container; (exit_code, output) with stdout and stderr as asked."""
        import shlex
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) \
            else list(environment or ())
        req = {"op": "exec", "root": self.client.root, "id": self.id, "args": args, "env": env,
               "user": user or None, "workdir": workdir, "privileged": privileged, "detach": detach,
               "tty": tty}
        if detach:
            self.client._request(req)
            return ExecResult(None, None)
        reply, out, err = self.client._request(req, capture=True, separate=demux)
        return ExecResult(reply["exit_code"], (out, err) if demux else out)


class ContainerCollection:
    def __init__(self, client: "Client"):
        self.client = client

    def create(self, image: str, command=None, **kw) -> Container:
        """A created container (its program waits for ``start()``), with a monitor."""
        return self._create(image, command, start=False, **kw)

    def _create(self, image, command, *, start, **kw):
        remove = bool(kw.get("auto_remove") or kw.get("remove"))
        cid = _name(kw.get("name"))
        o = options_from_kwargs(image, command, **kw)
        req = {"op": "create", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": o, "start": start, "remove": remove}
        self.client._request(req)
        return Container(self.client, cid)

    def run(self, image: str, command=None, *, stdout=True, stderr=False, remove=False,
            detach=False, timeout: float | None = None, **kw):
        """docker's ``containers.run``: the output (bytes), or a Container with ``detach``.

        Raises ``ContainerError`` (with stderr) when the program exits non-zero.
        """
        if detach:
            return self._create(image, command, start=True, remove=remove, **kw)
        r = self.sandbox(image, command, timeout=timeout, remove=remove, **kw)
        if r.exit_code != 0:
            raise ContainerError(None if remove else Container(self.client, r.id), r.exit_code,
                                 command, image, r.stderr)
        return (r.stdout if stdout else b"") + (r.stderr if stderr else b"")

    def sandbox(self, image: str, command=None, *, timeout: float | None = None, remove: bool = True,
                input: bytes | None = None, **kw) -> SandboxResult:  # noqa: A002
        """Run to completion with a timeout that kills the whole cgroup; never raises for the
        program's own failure. Limits: mem_limit, nano_cpus/cpus, cpu_shares, pids_limit;
        network_mode="none" for no network; ``input`` (bytes) is the program's stdin."""
        cid = _name(kw.get("name"))
        o = options_from_kwargs(image, command, **kw)
        req = {"op": "run", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": o, "remove": remove, "timeout": timeout}
        t0 = time.monotonic()
        reply, out, err = self.client._request(req, capture=True, separate=True, stdin=input)
        return SandboxResult(id=cid, exit_code=reply["exit_code"], stdout=out, stderr=err,
                             oom_killed=reply["oom_killed"], timed_out=reply["timed_out"],
                             wall_time=time.monotonic() - t0)

    def get(self, container_id: str) -> Container:
        return Container(self.client, ops.resolve_id(self.client.root, container_id))

    def list(self, all: bool = False, filters: dict | None = None) -> list[Container]:  # noqa: A002
        from .. import state as st
        from ..container import Runtime
        Runtime(self.client.root).reclaim()      # --rm containers whose runtime died
        out = []
        for cid in st.list_ids(self.client.root):
            try:
                c = Container(self.client, cid)
            except NotFound:
                continue
            if all or c.status in ("running", "paused"):
                out.append(c)
        return out


class Image:
    def __init__(self, attrs: dict):
        self.attrs = attrs
        self.id = attrs.get("Id", "")
        self.tags = attrs.get("RepoTags", [])

    def __repr__(self):
        return f"<Image: {', '.join(repr(t) for t in self.tags)}>"

    short_id = property(lambda self: self.id[:19])


class ImageCollection:
    def __init__(self, client: "Client"):
        self.client = client

    def _store(self):
        from ..image.store import Store
        return Store(self.client.image_root)

    def get(self, name: str) -> Image:
        return Image(self._store().inspect(name))

    def list(self) -> list[Image]:
        s = self._store()
        out = []
        for row in s.list():
            ref = row["names"][0] if row["names"] else row["digest"]
            try:
                out.append(Image(s.inspect(ref)))
            except PyContainerError:
                continue
        return out

    def pull(self, repository: str, tag: str | None = None, insecure=None, **kw) -> Image:
        ref = f"{repository}:{tag}" if tag else repository
        img = self._store().pull(ref, insecure=insecure, **kw)
        return self.get(img.name)

    def remove(self, image: str, force: bool = False) -> None:
        self._store().remove(image, force=force)

    def build(self, **kw):
        """docker SDK ``images.build``: (Image, log chunks); see pycontainer/build/api.py."""
        from ..build import api as build_api
        return build_api.build(self.client, **kw)

    def load(self, data) -> list[Image]:
        """A ``docker save`` / OCI archive: bytes, a file object or a path."""
        import io
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
        names = self._store().load(src)
        return [self.get(n) for n in names]


class Client:
    """Entry point: ``Client().containers`` and ``Client().images`` (docker SDK shape)."""

    def __init__(self, root: str = DEFAULT_ROOT, image_root: str | None = None, *, transport=None):
        import weakref
        self.root = os.path.abspath(root)
        self.image_root = image_root
        if transport is None:
            from .helper import HelperTransport
            transport = HelperTransport()
        self.transport = transport
        weakref.finalize(self, transport.close)
        self.containers = ContainerCollection(self)
        self.images = ImageCollection(self)

    @classmethod
    def from_env(cls) -> "Client":
        return cls(os.environ.get("PYCONTAINER_ROOT", DEFAULT_ROOT),
                   os.environ.get("PYCONTAINER_IMAGE_ROOT"))

    def close(self) -> None:
        """Stop the helper process (it also stops by itself when this process exits)."""
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, req: dict, **kw) -> tuple[dict, bytes, bytes]:
        """One forking request through the transport; an error reply raised as its class."""
        reply, out, err = self.transport.request(req, **kw)
        if "error" in reply:
            raise decode(reply["error"])
        return reply, out, err
