"""Lab 01, reference answers."""

import socket

from pycontainer import syscalls


def namespace_flags() -> int:
    return syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID


def set_hostname(name: str) -> None:
    socket.sethostname(name)
