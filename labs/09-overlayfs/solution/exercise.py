"""Lab 09, reference answers."""

from pycontainer import syscalls


def overlay_options(lowers: list[str], upper: str, work: str) -> str:
    return f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"


def mount_overlay(options: str, merged: str) -> None:
    syscalls.mount("overlay", merged, "overlay", 0, options)
