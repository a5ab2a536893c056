"""Lab 03, reference answers."""

import os

from pycontainer import syscalls

DEVICES = ["null", "zero", "full", "random", "urandom", "tty"]


def make_dev(rootfs: str) -> None:
    dev = os.path.join(rootfs, "dev")
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID, "mode=755")
    for name in DEVICES:
        target = os.path.join(dev, name)
        open(target, "w").close()
        syscalls.mount(f"/dev/{name}", target, None, syscalls.MS_BIND)


def mount_proc() -> None:
    syscalls.mount("proc", "/proc", "proc",
                   syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)


def mask(path: str) -> None:
    syscalls.mount("/dev/null", path, None, syscalls.MS_BIND)


def make_readonly(path: str) -> None:
    syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC)
    syscalls.mount(None, path, None,
                   syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)
