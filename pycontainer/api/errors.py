"""The API's exceptions, shaped like the docker SDK's (``docker.errors``).

::

    PyContainerError                  (pycontainer.errors: every runtime error)
    └── APIError                      a request failed; ``str(e)`` says why
        ├── NotFound                  no such container (or image)
        │   └── ImageNotFound         no such image in the store (and it could not be pulled)
        └── ContainerError            the program exited non-zero (exit_status, stderr)

``translate`` turns a runtime or image error into the API's class, with the
original chained, so a program catches ``pycontainer.APIError`` for all of them.
"""

from __future__ import annotations

from ..errors import PyContainerError


class APIError(PyContainerError):
    """A request failed; ``str(e)`` says why."""


class NotFound(APIError):
    """No such container (or image)."""


class ImageNotFound(NotFound):
    """No such image in the store (and it could not be pulled)."""


class ContainerError(APIError):
    """The container's program exited with a non-zero status."""

    def __init__(self, container, exit_status: int, command, image: str, stderr: bytes):
        self.container, self.exit_status, self.command, self.image = container, exit_status, command, image
        self.stderr = stderr
        err = stderr.decode(errors="replace").strip() if stderr else ""
        super().__init__(f"command {command!r} in image {image!r} returned non-zero exit status "
                         f"{exit_status}" + (f": {err}" if err else ""))


def translate(exc: BaseException) -> BaseException:
    """Runtime and image errors -> the API's exceptions (the original chained)."""
    from .. import errors
    if isinstance(exc, APIError):
        return exc
    name = type(exc).__name__
    if name == "ImageNotFound":
        new = ImageNotFound(str(exc))
    elif isinstance(exc, errors.ContainerNotFound):
        new = NotFound(str(exc))
    elif isinstance(exc, PyContainerError):
        new = APIError(str(exc))
        new.errno = exc.errno
    else:
        return exc
    new.__cause__ = exc
    return new


def from_reply(reply: dict) -> APIError:
    """The error a request's reply carries -> the API's exception."""
    cls = {"ImageNotFound": ImageNotFound, "ContainerNotFound": NotFound}.get(reply.get("kind"))
    return (cls or APIError)(reply["error"])


def to_reply(exc: BaseException) -> dict:
    """An exception raised while serving a request -> the reply that carries it."""
    return {"error": str(exc) or type(exc).__name__, "kind": type(exc).__name__}
