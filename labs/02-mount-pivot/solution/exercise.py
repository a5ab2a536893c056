"""Lab 02, reference answers."""

import os

from pycontainer import syscalls


def make_private() -> None:
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def pivot_into(rootfs: str) -> None:
    syscalls.mount(rootfs, rootfs, None, syscalls.MS_BIND | syscalls.MS_REC)
    os.chdir(rootfs)
    os.makedirs(".oldroot", exist_ok=True)
    syscalls.pivot_root(".", ".oldroot")
    os.chdir("/")
    syscalls.umount2("/.oldroot", syscalls.MNT_DETACH)
    os.rmdir("/.oldroot")
