"""rtnetlink requests on one plain netlink socket, encoded by pyroute2's message classes.

What the kernel does (rtnetlink(7), netlink(7)): a request is a netlink
message, ``nlmsghdr`` + ``ifinfomsg`` (links), ``ifaddrmsg`` (addresses) or
``rtmsg`` (routes) + attributes. Several messages can travel in one
datagram: the kernel handles them in order, in the sender's sendmsg(2),
and with ``NLM_F_ACK`` answers each with an ``NLMSG_ERROR`` (error 0 is the
acknowledgement); a ``NLM_F_DUMP`` request is answered with messages that end
with ``NLMSG_DONE``. A socket belongs to the network namespace it was made in
(see :mod:`.netns`), so one socket per namespace serves a whole setup.

pyroute2 stays the netlink library: its ``ifinfmsg``/``ifaddrmsg``/``rtmsg``
classes encode every request and decode every answer. What this module
leaves out is pyroute2's ``IPRoute`` (an asyncio event loop around each
call) and the package's ``__init__``, which imports every pyroute2 module,
asyncio and multiprocessing included (~60-100 ms here, against ~15 ms for
the message classes): :func:`load` registers the package without running its
``__init__``, which runs on the first use of a name it defines, so
``from pyroute2 import IPRoute`` elsewhere in the process still works.

Man pages: rtnetlink(7), netlink(7), rtnetlink(3).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

from ..errors import NetworkError

NETLINK_GET_STRICT_CHK = 12            # linux/netlink.h: dump filters honoured by the kernel
_HDR = struct.Struct("=IHHII")         # nlmsghdr: len, type, flags, seq, pid
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_F_REQUEST, _F_ACK, _F_DUMP, _F_EXCL, _F_CREATE = 0x1, 0x4, 0x300, 0x200, 0x400
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE = 20, 22, 24
IFF_UP = 0x1
AF_INET = 2
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
IFLA_BRPORT_MODE = "IFLA_BRPORT_MODE"  # the bridge port's hairpin mode (bridge(8) "hairpin")
RTMGRP_LINK = 0x1                      # the multicast group of link notifications (RTNLGRP_LINK)
_IFINFO = struct.Struct("=BxHiII")     # ifinfomsg: family, type, index, flags, change


def _package_getattr(spec, pkg):
    """PEP 562 ``__getattr__`` of the registered package: a name that is not a submodule
    runs the real ``__init__`` once (the whole library), then is looked up again."""
    where = list(spec.submodule_search_locations or ())

    def __getattr__(name):
        if any(os.path.exists(os.path.join(d, name)) or
                                        os.path.exists(os.path.join(d, name + ".py")) for d in where):
            raise AttributeError(name)          # a submodule: the import system loads it
        pkg.__dict__.pop("__getattr__", None)
        spec.loader.exec_module(pkg)
        return getattr(pkg, name)
    return __getattr__


def load():
    """pyroute2's rtnetlink message classes, without the package's ``__init__``.

    Returns ``(ifinfmsg, ifaddrmsg, rtmsg)``. Safe to call from several threads."""
    if "pyroute2" not in sys.modules:
        import importlib.util
        spec = importlib.util.find_spec("pyroute2")
        if spec is None:
            raise NetworkError("pyroute2 is not installed: pip install pyroute2", stage="network")
        pkg = importlib.util.module_from_spec(spec)
        pkg.__getattr__ = _package_getattr(spec, pkg)
        sys.modules.setdefault("pyroute2", pkg)      # atomic: a racing thread's one may win
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    return ifinfmsg, ifaddrmsg, rtmsg


class Request:
    """One rtnetlink message to send: ``msgclass`` (0 links, 1 addresses, 2 routes), the type,
    the flags beyond NLM_F_REQUEST, the fixed header fields, the attributes; ``what`` names it
    (trace, errors); ``why``: the error's wording; ``tolerate``: errnos that mean "fine"."""

    def __init__(self, msgclass: int, rtype: int, flags: int, fields: dict, attrs: list, what: str,
                 why: str = "", tolerate=(), **show):
        self.msgclass, self.rtype, self.flags = msgclass, rtype, flags
        self.fields, self.attrs, self.what = fields, attrs, what
        self.why, self.tolerate = why or what, tuple(tolerate)
        self.show = show                  # the request's arguments, as the trace shows them

    @property
    def dump(self) -> bool:
        return self.flags & _F_DUMP == _F_DUMP

    def __repr__(self):
        return self.what


# -- requests ---------------------------------------------------------------------------

def link_get(name: str, tolerate_missing: bool = True) -> Request:
    return Request(0, RTM_GETLINK, _F_ACK, {}, [("IFLA_IFNAME", name)], f"link get {name}",
                   tolerate=(errno.ENODEV, errno.ENOENT) if tolerate_missing else (), ifname=name)


def link_up(name: str | None = None, index: int = 0) -> Request:
    return Request(0, RTM_NEWLINK, _F_ACK, {"index": index, "flags": IFF_UP, "change": IFF_UP},
                   [("IFLA_IFNAME", name)] if name else [], f"link set {name or index} up",
                   why=f"set {name or index} up", **({"ifname": name} if name else {"index": index}),
                   state="up")


def bridge_add(name: str, mtu: int) -> Request:
    return Request(0, RTM_NEWLINK, _F_ACK | _F_CREATE | _F_EXCL, {},
                   [("IFLA_IFNAME", name), ("IFLA_MTU", mtu),
                    ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})],
                   f"link add {name} type bridge", why=f"create bridge {name!r}",
                   tolerate=(errno.EEXIST,), ifname=name, kind="bridge", mtu=mtu)


def veth_add(name: str, master: int, mtu: int, peer: str, peer_netns_fd: int, why: str,
             group: int | None = None, peer_mac: str | None = None) -> Request:
    """Both ends in one message: ``name`` up on bridge ``master`` (in interface group ``group``,
    ip-link(8), if given), the peer created inside the namespace ``peer_netns_fd`` under its
    final name (veth(4)), with the address ``peer_mac`` if given."""
    peer_attrs = [("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", peer_netns_fd), ("IFLA_MTU", mtu)] + \
        ([("IFLA_ADDRESS", peer_mac)] if peer_mac else [])
    extra = {} if group is None else {"group": group}
    return Request(0, RTM_NEWLINK, _F_ACK | _F_CREATE | _F_EXCL, {"flags": IFF_UP, "change": IFF_UP},
                   [("IFLA_IFNAME", name), ("IFLA_MASTER", master), ("IFLA_MTU", mtu)]
                   + ([] if group is None else [("IFLA_GROUP", group)]) +
                   [("IFLA_LINKINFO", {"attrs": [
                        ("IFLA_INFO_KIND", "veth"),
                        ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": peer_attrs})]})]})],
                   f"link add {name} type veth peer {peer} master {master} up"
                   + ("" if group is None else f" group {group}"), why=why,
                   ifname=name, kind="veth", master=master, mtu=mtu, state="up",
                   peer={"ifname": peer, "mtu": mtu, **({"address": peer_mac} if peer_mac else {})},
                   **extra)


def hairpin(name: str) -> Request:
    """Bridge port ``name`` may send a frame back out where it came in (CNI hairpinMode)."""
    return Request(0, RTM_NEWLINK, _F_ACK, {},
                   [("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": [
                       ("IFLA_INFO_KIND", "bridge_slave"),
                       ("IFLA_INFO_SLAVE_DATA", {"attrs": [(IFLA_BRPORT_MODE, 1)]})]})],
                   f"link set {name} type bridge_slave hairpin on",
                   why=f"set hairpin mode on {name!r}", ifname=name, kind="bridge_slave", mode=1)


def link_del(name: str) -> Request:
    return Request(0, RTM_DELLINK, _F_ACK, {}, [("IFLA_IFNAME", name)], f"link del {name}",
                   why=f"delete {name!r}", tolerate=(errno.ENODEV, errno.ENOENT), ifname=name)


def link_dump() -> Request:
    return Request(0, RTM_GETLINK, _F_DUMP, {}, [], "link dump")


def addr_dump(index: int = 0) -> Request:
    """IPv4 addresses (of link ``index`` only, when given: the kernel filters, strict mode)."""
    return Request(1, RTM_GETADDR, _F_DUMP, {"family": AF_INET, "index": index}, [],
                   f"addr dump {index or ''}".strip(), family="AF_INET")


def addr_add(index: int, address: str, prefixlen: int, why: str, tolerate=()) -> Request:
    return Request(1, RTM_NEWADDR, _F_ACK | _F_CREATE | _F_EXCL,
                   {"family": AF_INET, "prefixlen": prefixlen, "index": index},
                   [("IFA_ADDRESS", address), ("IFA_LOCAL", address)],
                   f"addr add {address}/{prefixlen} dev {index}", why=why, tolerate=tolerate,
                   index=index, address=address, prefixlen=prefixlen)


def default_route(gateway: str, why: str) -> Request:
    return Request(2, RTM_NEWROUTE, _F_ACK | _F_CREATE | _F_EXCL,
                   {"family": AF_INET, "table": RT_TABLE_MAIN, "proto": RTPROT_STATIC,
                    "type": RTN_UNICAST}, [("RTA_GATEWAY", gateway)],
                   f"route add default via {gateway}", why=why, dst="0.0.0.0/0", gateway=gateway)


# -- the socket ---------------------------------------------------------------------------

class Rtnl:
    """An rtnetlink socket: the caller's namespace, or ``sock`` (made in another one by
    :func:`.netns.netlink_socket`), which it then owns."""

    def __init__(self, sock: socket.socket | None = None):
        self.classes = load()
        self.sock = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
        self.seq = 0
        try:
            self.sock.setsockopt(270, NETLINK_GET_STRICT_CHK, 1)     # SOL_NETLINK
        except OSError:
            pass                                      # old kernel: dumps are filtered here

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, *reqs: Request) -> list:
        """Send ``reqs`` in one datagram; → per request the list of answers (decoded
        messages; ``[]`` for a bare ack), or None when it failed with a tolerated errno.
        The first other error raises NetworkError (the kernel went on with the rest)."""
        out, start, errs = bytearray(), self.seq, {}
        for r in reqs:
            self.seq += 1
            m = self.classes[r.msgclass]()
            m["header"]["type"] = r.rtype
            m["header"]["flags"] = _F_REQUEST | r.flags
            m["header"]["sequence_number"] = self.seq
            for k, v in r.fields.items():
                m[k] = v
            m["attrs"] = r.attrs
            m.encode()
            out += m.data
        self.sock.sendto(bytes(out), (0, 0))
        answers: dict[int, list] = {start + i + 1: [] for i in range(len(reqs))}
        pending = set(answers)
        while pending:
            buf = self.sock.recv(1 << 16)
            off = 0
            while off + _HDR.size <= len(buf):
                length, rtype, _flags, seq, _pid = _HDR.unpack_from(buf, off)
                if length < _HDR.size:
                    break
                if seq in pending:
                    if rtype == _NLMSG_ERROR:
                        code = -struct.unpack_from("=i", buf, off + _HDR.size)[0]
                        if code:
                            errs[seq] = code
                        pending.discard(seq)
                    elif rtype == _NLMSG_DONE:
                        pending.discard(seq)
                    else:
                        kind = {RTM_NEWLINK: 0, RTM_NEWADDR: 1, RTM_NEWROUTE: 2}.get(rtype)
                        if kind is not None:
                            msg = self.classes[kind](bytes(buf[off:off + length]))
                            msg.decode()
                            answers[seq].append(msg)
                        if not reqs[seq - start - 1].dump and not \
                                reqs[seq - start - 1].flags & _F_ACK:
                            pending.discard(seq)
                off += (length + 3) & ~3
        result = []
        for i, r in enumerate(reqs):
            code = errs.get(start + i + 1)
            if code is None:
                result.append(answers[start + i + 1])
            elif code in r.tolerate:
                result.append(None)
            else:
                raise NetworkError(f"{r.why}: {os.strerror(code)}", stage="network", errno=code)
        return result


# -- notifications ------------------------------------------------------------------------

class LinkWatch:
    """Wait until the kernel has unlisted link ``index``: its RTM_DELLINK notification.

    Deleting a link (unregister_netdevice, net/core/dev.c) first takes it down,
    unlists it (its name is free again), lets every subsystem drop it (a bridge
    its port, IPv4 its addresses) and tells the RTNLGRP_LINK group, all within
    ~1 ms here. Only then does the deleting sendmsg(2) wait, with the RTNL lock
    released, for RCU grace periods and the link's last references: 13-36 ms
    more here before its acknowledgement, during which nothing on the system
    can see or use the link. Subscribe before sending the delete; the socket is
    bound to the group only (rtnetlink(7), "Multicast groups").
    """

    def __init__(self, index: int):
        self.index = index
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self.sock.bind((0, RTMGRP_LINK))
        except OSError:
            self.sock.close()
            raise

    def wait(self, other_fd: int) -> bool:
        """True when the link's RTM_DELLINK came; False if ``other_fd`` became readable
        first (the deleting request was answered) or a notification was lost (ENOBUFS)."""
        import select
        while True:
            ready = select.select([self.sock, other_fd], [], [])[0]
            if self.sock not in ready:
                return False
            try:
                buf = self.sock.recv(1 << 16)
            except OSError:
                return False
            off = 0
            while off + _HDR.size + _IFINFO.size <= len(buf):
                length, rtype = _HDR.unpack_from(buf, off)[:2]
                if length < _HDR.size:
                    break
                family, _type, index = _IFINFO.unpack_from(buf, off + _HDR.size)[:3]
                if rtype == RTM_DELLINK and family == socket.AF_UNSPEC and index == self.index:
                    return True
                off += (length + 3) & ~3

    def close(self) -> None:
        self.sock.close()
