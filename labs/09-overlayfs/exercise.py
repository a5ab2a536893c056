"""Lab 09: complete these two functions (see README.md)."""

from pycontainer import syscalls


def overlay_options(lowers: list[str], upper: str, work: str) -> str:
    """The mount data: "lowerdir=L1:L2,upperdir=U,workdir=W".

    LOWERS is given top layer first, which is also the order lowerdir takes.
    """
    raise NotImplementedError("TODO: build the option string")


def mount_overlay(options: str, merged: str) -> None:
    """Mount an overlay filesystem with OPTIONS at MERGED (syscalls.mount(source, target, fstype, flags, data))."""
    raise NotImplementedError("TODO: mount('overlay', merged, 'overlay', 0, options)")
