"""The Python API, shaped like the docker SDK (docker-py 7), and the operations the CLI shares.

::

    api/config.py      SDK keyword arguments -> options -> container directory + config.json
    api/operations.py  run, create, exec (they fork), inspect, logs, wait, stop: the porcelain's
                       verbs and the helper's requests
    api/helper.py      the helper process and its wire protocol (HelperTransport)
    api/transport.py   MockTransport: requests answered in-process, for tests
    api/engine.py      Client (docker-py's DockerClient)
    api/client.py      Container and ContainerCollection
    api/images.py      Image and ImageCollection (client.images)

The porcelain imports ``api.operations``, never the client. This package
only re-exports, lazily: ``import pycontainer.api.operations`` does not load
the client, and ``import pycontainer`` loads neither.
"""

from __future__ import annotations

# The docker SDK's exception names are pycontainer's own classes (one hierarchy, errors.py).
from ..errors import ContainerError, ImageNotFound, NotFound, PyContainerError as APIError

_CLIENT = ("Client", "Container", "ContainerCollection", "ExecResult", "Image",
           "ImageCollection", "SandboxResult")

__all__ = ["APIError", "ContainerError", "DeviceRequest", "DockerClient", "ImageNotFound", "NotFound",
           "HelperTransport", "MockTransport", "errors", "from_env", "types", *_CLIENT]


def from_env(**kw):
    """docker.from_env(): a Client (PYCONTAINER_ROOT, PYCONTAINER_IMAGE_ROOT from the
    environment), so that ``import pycontainer.api as docker`` reads as docker-py does."""
    from .engine import Client
    return Client.from_env(**kw)


def __getattr__(name: str):
    if name in ("Image", "ImageCollection"):
        from . import images
        return getattr(images, name)
    if name == "Client":
        from .engine import Client
        return Client
    if name in _CLIENT:
        from . import client
        return getattr(client, name)
    if name == "HelperTransport":
        from .helper import HelperTransport
        return HelperTransport
    if name == "DeviceRequest":
        from .types import DeviceRequest
        return DeviceRequest
    if name in ("errors", "types"):             # docker.errors.NotFound, docker.types.Mount
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name == "DockerClient":                   # docker.DockerClient: the same entry point
        from .engine import Client
        return Client
    if name == "MockTransport":
        from .transport import MockTransport
        return MockTransport
    raise AttributeError(f"module 'pycontainer.api' has no attribute {name!r}")
