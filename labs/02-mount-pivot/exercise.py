"""Lab 02: complete these two functions (see README.md)."""

import os

from pycontainer import syscalls


def make_private() -> None:
    """Stop mount events from propagating to the host: every mount under / private.

    syscalls.mount(source, target, fstype, flags); flags MS_REC | MS_PRIVATE.
    """
    raise NotImplementedError("TODO: mount(None, '/', None, MS_REC|MS_PRIVATE)")


def pivot_into(rootfs: str) -> None:
    """Make ``rootfs`` the root: bind it onto itself, pivot_root, detach the old root.

    Steps: bind-mount rootfs on itself (MS_BIND|MS_REC) so it is a mount point;
    chdir into it; make the directory ".oldroot"; pivot_root(".", ".oldroot");
    chdir("/"); umount2("/.oldroot", MNT_DETACH); remove /.oldroot.
    """
    raise NotImplementedError("TODO: bind, chdir, mkdir, pivot_root, umount2, rmdir")
