"""Lab 01: complete these two functions (see README.md)."""

import socket

from pycontainer import syscalls


def namespace_flags() -> int:
    """The unshare(2) flags for a new UTS namespace and a new PID namespace.

    The constants are in pycontainer.syscalls (CLONE_NEW...); combine them with |.
    """
    raise NotImplementedError("TODO: return the two CLONE_NEW* flags or-ed together")


def set_hostname(name: str) -> None:
    """Set the hostname of the current UTS namespace (sethostname(2))."""
    raise NotImplementedError("TODO: Python's socket module has sethostname()")
