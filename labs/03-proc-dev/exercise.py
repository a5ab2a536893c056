"""Lab 03: complete these four functions (see README.md)."""

import os

from pycontainer import syscalls

DEVICES = ["null", "zero", "full", "random", "urandom", "tty"]   # the OCI default devices


def make_dev(rootfs: str) -> None:
    """Before the pivot: a tmpfs at ROOTFS/dev, and each of DEVICES bound from the host's /dev.

    tmpfs: syscalls.mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755").
    Each device: create an empty regular file dev/NAME, then bind-mount /dev/NAME onto it.
    """
    raise NotImplementedError("TODO: tmpfs on rootfs/dev, then a bind mount per device")


def mount_proc() -> None:
    """After the pivot, in the new PID namespace: a fresh procfs at /proc (nosuid, nodev, noexec)."""
    raise NotImplementedError("TODO: mount('proc', '/proc', 'proc', MS_NOSUID|MS_NODEV|MS_NOEXEC)")


def mask(path: str) -> None:
    """Hide a file: bind-mount /dev/null over it."""
    raise NotImplementedError("TODO: bind /dev/null over path")


def make_readonly(path: str) -> None:
    """Make a path read-only: bind it onto itself, then remount the bind with MS_RDONLY."""
    raise NotImplementedError("TODO: MS_BIND|MS_REC, then MS_BIND|MS_REMOUNT|MS_RDONLY")
