"""The entry point of the API: ``Client`` (docker-py's ``DockerClient``) and its
collections: ``containers`` (api/client.py), ``images`` (api/images.py),
``volumes`` and ``networks`` (api/resources.py).

``Client()`` starts nothing until a request forks (then the helper process,
api/helper.py); ``ping``, ``version``, ``info`` and ``df`` answer from what is
on disk, as dockerd's ``/_ping``, ``/version``, ``/info`` and ``/system/df``.

Read: docker SDK ``DockerClient``; the Engine API's ``GET /system/df``.
"""

from __future__ import annotations

import os

from .client import DEFAULT_TIMEOUT, ContainerCollection
from .config import DEFAULT_ROOT
from .results import raise_error
from .streams import check_limits


class Client:
    """Entry point: ``Client().containers`` and ``Client().images`` (docker SDK shape)."""

    def __init__(self, root: str = DEFAULT_ROOT, image_root: str | None = None, *, transport=None,
                 timeout: float = DEFAULT_TIMEOUT):
        import weakref
        check_limits(timeout, None)
        self.root = os.path.abspath(root)
        self.image_root = image_root
        self.timeout = timeout          # for requests that run no program (create, archives)
        if transport is None:
            from .helper import HelperTransport
            transport = HelperTransport()
        self.transport = transport
        weakref.finalize(self, transport.close)
        self.containers = ContainerCollection(self)
        from .images import ImageCollection
        from .resources import NetworkCollection, VolumeCollection
        self.images = ImageCollection(self)
        self.volumes, self.networks = VolumeCollection(self), NetworkCollection(self)

    @classmethod
    def from_env(cls, **kw) -> "Client":
        """docker-py's from_env (its version=, timeout=, environment= are accepted)."""
        env = kw.get("environment") or os.environ
        return cls(env.get("PYCONTAINER_ROOT", DEFAULT_ROOT), env.get("PYCONTAINER_IMAGE_ROOT"),
                   **({"timeout": kw["timeout"]} if kw.get("timeout") else {}))

    def close(self) -> None:
        """Stop the helper process (it also stops by itself when this process exits)."""
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ping(self) -> bool:
        """docker-py's ping: True once the helper (and a worker of it) answers."""
        self._request({"op": "ping"})
        return True

    def version(self) -> dict:
        """docker-py's version(): the runtime's, the kernel's (hostinfo.py)."""
        from ..hostinfo import version
        return version()

    def info(self) -> dict:
        """docker-py's info(): containers and images counted, drivers, CPUs, memory (hostinfo.py)."""
        from ..hostinfo import info
        return info(self.root, self.image_root)

    def events(self, since=None, until=None, filters: dict | None = None, decode: bool | None = None):
        """docker-py's events(): the journal's events (events.py) from ``since`` (then those to
        come), until ``until`` (datetime or Unix seconds; without it the stream goes on);
        ``filters`` as docker's ({"type": "container", "event": ["start", "die"]}). JSON
        lines as bytes, or dicts with ``decode``."""
        import json
        import time
        from .. import events as ev
        from ..duration import point_in_time
        items = [f"{k}={v}" for k, vs in (filters or {}).items()
                 for v in ([vs] if isinstance(vs, (str, int, bool)) else vs)]
        flt = ev.parse_filters(items)
        lo, hi = (None if t is None else t.timestamp() if hasattr(t, "timestamp")
                  else point_in_time(str(t), "events") for t in (since, until))

        def gen():
            if lo is not None:
                yield from ev.read(lo, hi, flt)
            if hi is None or hi > time.time():
                yield from ev.follow(flt, hi)
        return (e if decode else json.dumps(e).encode() for e in gen())

    def login(self, username: str, password: str | None = None, email: str | None = None,
              registry: str | None = None, reauth: bool = False, dockercfg_path: str | None = None) -> dict:
        """docker-py's login: check the user and password with the registry (Docker Hub when
        none is named) and keep them for pulls and pushes, as ``pycontainer login``."""
        from ..errors import ImageError
        from ..image import credentials
        from ..image.registry import login as check
        if not username or not password:
            raise ImageError("login: the username and password must not be empty")
        host = credentials.login_host(registry or "docker.io")
        check(host, username, password)
        credentials.save(host, username, password, dockercfg_path)
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    def df(self) -> dict:
        """docker-py's df(): the Engine API's disk usage (LayersSize, Images, Containers,
        Volumes, BuildCache), as ``system df -v`` counts it (api/diskusage.py)."""
        from .diskusage import engine_df
        return engine_df(self.root, self.image_root)

    def pool(self, image: str, size: int = 4, **kw):
        """A warm pool of ``size`` created containers of ``image`` (api/pool.py)."""
        from .pool import Pool
        return Pool(self, image, size=size, **kw)

    def _request(self, req: dict, **kw) -> tuple[dict, bytes, bytes]:
        """One forking request through the transport; an error reply raised as its class."""
        kw.setdefault("timeout", self.timeout)
        reply, out, err = self.transport.request(req, **kw)
        return raise_error(reply), out, err

    def _socket(self, req: dict):
        """``req`` with one end of a socketpair as the program's stdin, stdout and stderr;
        the other end. A thread waits for the reply (closing it would cancel the request)."""
        import socket
        import threading
        from .execs import ExecSocket
        mine, theirs = socket.socketpair()
        mine = ExecSocket(fileno=mine.detach())
        try:
            sock = self.transport.call(req, (theirs.fileno(),) * 3)
        finally:
            theirs.close()
        def wait_reply():
            try:
                sock.recv(1 << 20)
            finally:
                sock.close()
        threading.Thread(target=wait_reply, daemon=True).start()
        return mine
