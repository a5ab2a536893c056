"""Reaching into another network namespace from the runtime process.

A network namespace (network_namespaces(7)) owns its own interfaces, addresses,
routes and netfilter rules. A socket belongs to the namespace of the thread that
created it, for its whole life, so to configure a container's ``eth0`` the
runtime only needs *one socket created inside* that namespace:

1. open ``/proc/<pid>/ns/net`` (or a bind-mounted path such as
   ``/run/netns/NAME``, what ``ip netns add`` makes, see ip-netns(8));
2. in a short-lived thread, setns(2) to it (the network namespace is per
   thread, so the rest of the process never moves), create the socket;
3. the thread ends; the socket keeps talking to the container's namespace.

pyroute2 would fork a helper process for the same job; a thread costs ~0.1 ms.
``lo_up`` sets IFF_UP on ``lo`` with the SIOCSIFFLAGS ioctl (netdevice(7)), so
``--net none`` needs neither pyroute2 nor netlink.

Man pages: setns(2), network_namespaces(7), netdevice(7).
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import threading

from .. import trace
from ..errors import NetworkError

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def path_of(target) -> str:
    """``pid`` → ``/proc/<pid>/ns/net``; a path is returned as given."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return f"/proc/{int(target)}/ns/net"
    if isinstance(target, str) and target.startswith("/"):
        return target
    raise NetworkError(f"network namespace {target!r}: give a pid or an absolute path",
                       stage="network")


def same_as_ours(fd: int) -> bool:
    """Is the namespace file ``fd`` the caller's own network namespace? (nsfs inode)"""
    a, b = os.fstat(fd), os.stat("/proc/thread-self/ns/net")
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def run_in(path: str, fn):
    """Run ``fn()`` in a thread that first joins the network namespace at ``path``."""
    from .. import syscalls

    box: dict = {}

    def body():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(fd, syscalls.CLONE_NEWNET)
            finally:
                os.close(fd)
            box["ok"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["err"] = exc

    th = threading.Thread(target=body, name="pyc-netns")
    th.start()
    th.join()
    if "err" in box:
        exc = box["err"]
        if isinstance(exc, NetworkError):
            raise exc
        if isinstance(exc, OSError):
            raise NetworkError(f"enter network namespace {path!r}: {exc.strerror or exc}; "
                               "is the container's process still alive?", stage="network",
                               errno=exc.errno) from exc
        raise exc
    return box["ok"]


def netlink_socket(path: str) -> socket.socket:
    """An rtnetlink socket (rtnetlink(7)) bound to the namespace at ``path``."""
    with trace.step("setns+socket", netns=path, family="AF_NETLINK", proto="NETLINK_ROUTE"):
        return run_in(path, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                                                  socket.NETLINK_ROUTE))


def lo_up(path: str) -> None:
    """Bring ``lo`` up in the namespace at ``path`` (what runc's "loopback" network does)."""
    def up():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            req = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
            if not flags & IFF_UP:
                fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))

    with trace.step("ioctl SIOCSIFFLAGS", netns=path, ifname="lo", flags="IFF_UP"):
        run_in(path, up)
