"""Errors pycontainer raises, and what a user can do about each.

Every error a user can cause or meet is a subclass of ``PyContainerError``
with a one-line message that names the operation and the operand
("create 'web': bundle '/srv/b' has no config.json"). Errors that come from a
system call keep its ``errno`` so callers can branch on it, the way crun keeps
``status`` beside ``msg`` (crun design-docs/error_handling.md)::

    PyContainerError  (= pycontainer.APIError)
    ├── NotFound                   no such container or image (docker SDK's NotFound)
    ├── SpecError                  config.json is missing, malformed or invalid
    ├── StateError                 the container is not in a state for this verb
    │   ├── ContainerNotFound      (also a NotFound)
    │   ├── ContainerExists
    │   └── InvalidState
    ├── InvalidID                  an ID that is empty, has '/', or is . or ..
    ├── ContainerSetupError        a step of container setup failed (stage, errno)
    │   ├── NamespaceError
    │   ├── MountError
    │   ├── CgroupError
    │   ├── NetworkError
    │   ├── SecurityError
    │   └── ExecError              the program is missing or not executable
    ├── DeviceError                a --device/--gpus/CDI request or spec is bad (exit 125)
    ├── HookError                  an OCI hook failed or timed out
    ├── ImageError                 an image is missing, malformed or unsafe
    │   ├── ImageNotFound          (also a NotFound)
    │   └── UnsafeArchiveError
    ├── WaitTimeout                the API's wait(timeout=) ran out (also a TimeoutError)
    ├── ContainerError             the API's run: the program exited non-zero (exit_status, stderr)
    └── UnsupportedError           asked for something this host/runtime cannot do

One hierarchy for the runtime, the CLI and the Python API: the API's
``APIError``, ``NotFound``, ``ImageNotFound`` and ``ContainerError``
(docker SDK names) are these classes.

Errors cross process boundaries (the init's sync socket, the monitor's
report to ``run -d``, the API helper's reply) in one encoding, owned here:
``encode(exc)`` -> ``{"kind": class name, "msg", "stage", "errno"}`` and
``decode(d)`` -> the same class with the same one-line text, stage and errno.
"""

from __future__ import annotations


class PyContainerError(Exception):
    """Base of all pycontainer errors; ``str(e)`` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class NotFound(PyContainerError):
    """No such container or image (the docker SDK's ``NotFound``)."""


class SpecError(PyContainerError):
    """The OCI runtime config (config.json) is missing, malformed or invalid."""


class StateError(PyContainerError):
    """The container's state does not allow the requested operation."""


class ContainerNotFound(StateError, NotFound):
    """No container with this ID exists under the state root."""


class ContainerExists(StateError):
    """A container with this ID already exists."""


class InvalidState(StateError):
    """The container exists but is in the wrong state (e.g. start of a running one)."""


class InvalidID(PyContainerError):
    """A container ID that cannot name a directory safely."""


class InvalidName(InvalidID):
    """A docker-style container name that breaks docker's rule (the porcelain: 125)."""
    exit_code = 125


class ContainerSetupError(PyContainerError):
    """A step of container setup failed; ``stage`` names the step."""

    def __init__(self, message: str, *, stage: str = "", errno: int | None = None):
        super().__init__(message, errno=errno)
        self.stage = stage


class NamespaceError(ContainerSetupError):
    pass


class MountError(ContainerSetupError):
    pass


class CgroupError(ContainerSetupError):
    pass


class ValueKindError(CgroupError):
    """A limit's value that is not of its kind (a size, an integer, a number of CPUs): what
    docker's flag parser refuses (a flag error, 125: dockercli.py); runc's verbs say 1."""


class NetworkError(ContainerSetupError):
    pass


class SecurityError(ContainerSetupError):
    pass


class ExecError(ContainerSetupError):
    """The container's program could not be executed (missing, not executable)."""


class DeviceError(PyContainerError):
    """A --device/--gpus request or a CDI spec cannot be resolved (docker's exit 125)."""

    exit_code = 125


class HookError(PyContainerError):
    """An OCI hook exited non-zero or ran past its timeout."""


class ImageError(PyContainerError):
    """An image is missing, malformed, or could not be fetched."""


class ImageNotFound(ImageError, NotFound):
    """No image with this name or digest in the store (and it could not be pulled)."""


class UnsafeArchiveError(ImageError):
    """A layer archive tried to write outside its directory (or similar)."""


class UnsupportedError(PyContainerError):
    """The request is valid but this host or runtime does not support it."""


class WaitTimeout(PyContainerError, TimeoutError):
    """``wait(timeout=...)`` ran out: also a TimeoutError (docker-py raises its HTTP client's
    read timeout there; ``except TimeoutError`` and ``except APIError`` both catch this)."""


class ContainerError(PyContainerError):
    """The API's ``containers.run``: the program exited with a non-zero status."""

    def __init__(self, container, exit_status: int, command, image: str, stderr: bytes):
        self.container, self.exit_status, self.command, self.image = container, exit_status, command, image
        self.stderr = stderr
        err = stderr.decode(errors="replace").strip() if stderr else ""
        super().__init__(f"command {command!r} in image {image!r} returned non-zero exit status "
                         f"{exit_status}" + (f": {err}" if err else ""))


# --- the one encoding of an error between processes ------------------------------------------

def encode(exc: BaseException, stage: str = "") -> dict:
    """An exception -> ``{"kind", "msg", "stage", "errno"}`` (JSON-safe); ``decode`` undoes it.

    An ``OSError`` keeps its errno and names its path ("No such file or directory: /x").
    """
    if isinstance(exc, OSError) and not isinstance(exc, PyContainerError):
        msg = exc.strerror or str(exc)
        if exc.filename is not None and str(exc.filename) not in msg:
            msg = f"{msg}: {exc.filename}"
    else:
        msg = str(exc)
    errno = getattr(exc, "errno", None)
    return {"kind": type(exc).__name__, "msg": msg or type(exc).__name__,
            "stage": getattr(exc, "stage", "") or stage, "errno": errno if isinstance(errno, int) else None}


def decode(d: dict, default: type[PyContainerError] = PyContainerError) -> PyContainerError:
    """``encode``'s dict -> the error of the same class (``default`` for one not defined here)."""
    cls = globals().get(d.get("kind") or "")
    if not (isinstance(cls, type) and issubclass(cls, PyContainerError)) or cls is ContainerError:
        cls = default
    msg, stage, errno = d.get("msg") or "failed without saying why", d.get("stage") or "", d.get("errno")
    if issubclass(cls, ContainerSetupError):
        return cls(msg, stage=stage, errno=errno)
    return cls(msg, errno=errno)


def from_message(kind: str, message: str, *, stage: str = "", errno: int | None = None) -> PyContainerError:
    """Rebuild an error sent over the sync socket (``decode`` with ContainerSetupError as default)."""
    return decode({"kind": kind, "msg": message, "stage": stage, "errno": errno}, ContainerSetupError)
