"""Errors pycontainer raises, and what a user can do about each.

Every error a user can cause or meet is a subclass of ``PyContainerError``
with a one-line message that names the operation and the operand
("create 'web': bundle '/srv/b' has no config.json"). Errors that come from a
system call keep its ``errno`` so callers can branch on it, the way crun keeps
``status`` beside ``msg`` (crun design-docs/error_handling.md)::

    PyContainerError
    ├── SpecError                  config.json is missing, malformed or invalid
    ├── StateError                 the container is not in a state for this verb
    │   ├── ContainerNotFound
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
    │   └── UnsafeArchiveError
    └── UnsupportedError           asked for something this host/runtime cannot do
"""

from __future__ import annotations


class PyContainerError(Exception):
    """Base of all pycontainer errors; ``str(e)`` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class SpecError(PyContainerError):
    """The OCI runtime config (config.json) is missing, malformed or invalid."""


class StateError(PyContainerError):
    """The container's state does not allow the requested operation."""


class ContainerNotFound(StateError):
    """No container with this ID exists under the state root."""


class ContainerExists(StateError):
    """A container with this ID already exists."""


class InvalidState(StateError):
    """The container exists but is in the wrong state (e.g. start of a running one)."""


class InvalidID(PyContainerError):
    """A container ID that cannot name a directory safely."""


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


class UnsafeArchiveError(ImageError):
    """A layer archive tried to write outside its directory (or similar)."""


class UnsupportedError(PyContainerError):
    """The request is valid but this host or runtime does not support it."""


def from_message(kind: str, message: str, *, stage: str = "", errno: int | None = None) -> PyContainerError:
    """Rebuild an error sent as (class name, message) over the sync socket."""
    cls = globals().get(kind)
    if not (isinstance(cls, type) and issubclass(cls, PyContainerError)):
        cls = ContainerSetupError
    if issubclass(cls, ContainerSetupError):
        return cls(message, stage=stage, errno=errno)
    return cls(message, errno=errno)
