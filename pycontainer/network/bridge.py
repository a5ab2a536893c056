"""A Linux bridge and one veth pair per container, over rtnetlink with pyroute2.

What the kernel does:

* A **bridge** (``kind bridge``, ip-link(8)) is a software L2 switch; giving it
  an address (the gateway, ``10.89.0.1/24``) makes the host an IP neighbour of
  every container plugged into it, and its route for the subnet is added by the
  kernel with the address.
* A **veth** pair (veth(4)) is two interfaces joined back to back: what enters
  one leaves the other. One RTM_NEWLINK creates both ends: the host end with
  ``IFLA_MASTER`` = the bridge (plugged into the switch) and the peer created
  directly *inside the container's namespace* (``IFLA_NET_NS_FD``) under its
  final name ``eth0`` — the same result as ``ip link add ... ; ip link set
  netns ... ; ip link set name eth0``, in one message and with no moment
  where the peer is visible on the host.
* Inside the namespace, with a netlink socket created there (see
  :mod:`.netns`): ``lo`` up, the address on ``eth0`` (RTM_NEWADDR), ``eth0`` up,
  and a default route via the gateway (RTM_NEWROUTE).
* Deleting either end of a veth deletes both, so teardown is one RTM_DELLINK of
  the host end, and a dead network namespace takes its ``eth0`` and with it the
  host end away by itself.

Names: the host end is ``pycv`` + 11 hex digits of sha256(container id) —
IFNAMSIZ allows 15 characters, and a name derived from the id lets gc find
the veths of dead containers with no extra state.

pyroute2 is imported inside the functions only (its import costs ~200 ms).
Every netlink request is a ``trace.step``. Man pages: veth(4), ip-link(8),
ip-address(8), ip-route(8), rtnetlink(7), bridge(8).
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import os

from .. import trace
from ..errors import NetworkError
from . import netns

VETH_PREFIX = "pycv"
IFF_UP = 0x1


def veth_name(container_id: str, network: str | None = None) -> str:
    """Host-side veth name for a container (15 chars, stable); ``network``: the veth of a
    further network (``network connect``), named after both."""
    key = container_id if network is None else f"{container_id}/{network}"
    return VETH_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:11]


def iproute(fd: int | None = None):
    """An IPRoute on the host namespace, or on the netlink socket ``fd`` (which it will own)."""
    from pyroute2 import IPRoute
    if fd is None:
        return IPRoute(groups=0)
    try:
        return IPRoute(fileno=fd, groups=0)
    except BaseException:
        os.close(fd)
        raise


def _call(ipr, method: str, *args, why: str, tolerate=(), trace_args=None, **kw):
    """One netlink request, traced; netlink errors become a NetworkError."""
    from pyroute2.netlink.exceptions import NetlinkError
    with trace.step(f"rtnetlink {method} {args[0] if args else ''}".strip(),
                    **{k: v for k, v in kw.items() if k != "peer"},
                    **({"peer": {k: v for k, v in kw["peer"].items() if k != "net_ns_fd"}}
                       if "peer" in kw else {}), **(trace_args or {})):
        try:
            return getattr(ipr, method)(*args, **kw)
        except NetlinkError as exc:
            if exc.code in tolerate:
                return None
            raise NetworkError(f"{why}: {os.strerror(exc.code)}", stage="network",
                               errno=exc.code) from exc


def _index(ipr, ifname: str) -> int | None:
    with trace.step("rtnetlink link_lookup", ifname=ifname):
        found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def _get_link(ipr, ifname: str):
    """The RTM_NEWLINK record of ``ifname``, or None."""
    from pyroute2.netlink.exceptions import NetlinkError
    with trace.step("rtnetlink link get", ifname=ifname):
        try:
            return ipr.link("get", ifname=ifname)[0]
        except NetlinkError as exc:
            if exc.code in (errno.ENODEV, errno.ENOENT):
                return None
            raise NetworkError(f"look up interface {ifname!r}: {os.strerror(exc.code)}",
                               stage="network", errno=exc.code) from exc


def ensure_bridge(ipr, name: str, gateway: str, prefixlen: int,
                  mtu: int = 1500) -> tuple[int, bool]:
    """The bridge ``name`` with ``gateway/prefixlen`` on it, up.

    Returns ``(ifindex, made)``; ``made`` is True when this call configured it.

    Creates it if missing (a concurrent creator's EEXIST is fine). Refuses a
    subnet that another host interface already routes. When the bridge is
    already there and up with its address, this costs two netlink requests.
    """
    link = _get_link(ipr, name)
    subnet = ipaddress.IPv4Network(f"{gateway}/{prefixlen}", strict=False)
    made = link is None
    if link is None:
        _check_overlap(ipr, subnet, name)
        _call(ipr, "link", "add", ifname=name, kind="bridge", mtu=mtu,
              why=f"create bridge {name!r}", tolerate=(errno.EEXIST,))
        link = _get_link(ipr, name)
        if link is None:
            raise NetworkError(f"bridge {name!r} vanished right after creation; retry",
                               stage="network")
    kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    if kind != "bridge":
        raise NetworkError(f"interface {name!r} exists and is a {kind or 'plain'} device, "
                           "not a bridge: choose another bridge name", stage="network")
    idx = link["index"]
    with trace.step("rtnetlink addr dump", index=idx, family="AF_INET"):
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)}
    if gateway not in have:
        _call(ipr, "addr", "add", index=idx, address=gateway, prefixlen=prefixlen,
              why=f"add {gateway}/{prefixlen} to bridge {name!r}", tolerate=(errno.EEXIST,))
    if not link["flags"] & IFF_UP or gateway not in have:
        # 127.0.0.1:hostport -> container: the DNATed packet keeps source
        # 127.0.0.1 and leaves through the bridge; the kernel drops such
        # "martian" packets unless route_localnet is set on the way out.
        write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
        _call(ipr, "link", "set", index=idx, state="up", why=f"set bridge {name!r} up")
        made = True
    return idx, made


def _check_overlap(ipr, subnet, bridge: str) -> None:
    for a in ipr.get_addr(family=2):
        net = ipaddress.IPv4Network(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}", strict=False)
        if net.overlaps(subnet) and a.get_attr("IFA_LABEL") != bridge:
            raise NetworkError(f"subnet {subnet} overlaps {net} on {a.get_attr('IFA_LABEL')}: "
                               "choose another subnet for this network", stage="network")


def write_sysctl(path: str, value: str) -> None:
    """Write a /proc/sys knob (sysctl(8)); the path is the documentation."""
    with trace.step("write sysctl", path=path, value=value):
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise NetworkError(f"write {value} to {path}: {exc.strerror}", stage="network",
                               errno=exc.errno) from None


def attach(ipr, container_id: str, target, bridge_index: int, address: str, prefixlen: int,
           gateway: str | None, mtu: int = 1500, ifname: str = "eth0",
           host_ifname: str | None = None) -> dict:
    """Plug the container whose netns is ``target`` (pid or path) into the bridge.

    ``ipr`` is a host-namespace IPRoute; ``gateway`` None: no default route
    (a further network's interface). Returns what was made:
    ``{"host_ifname", "ifname", "mac"}``.
    """
    path = netns.path_of(target)
    host_if = host_ifname or veth_name(container_id)
    try:
        nsfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetworkError(f"open network namespace {path!r}: {exc.strerror}; is the "
                           "container's process alive?", stage="network", errno=exc.errno) from None
    if netns.same_as_ours(nsfd):
        os.close(nsfd)
        raise NetworkError(f"{path} is the runtime's own network namespace: refusing to add "
                           f"{ifname} and a default route to the host (mode host?)", stage="network")
    try:
        _call(ipr, "link", "add", ifname=host_if, kind="veth", master=bridge_index, mtu=mtu,
              state="up", peer={"ifname": ifname, "net_ns_fd": nsfd, "mtu": mtu},
              trace_args={"peer_netns": path},
              why=f"create veth {host_if!r} with peer {ifname!r} in {path} "
                  f"(a leftover of a crashed run? `pycontainer network gc`)")
    finally:
        os.close(nsfd)
    # hairpin: let a frame leave by the port it came in, so a container can
    # reach its own published port through a host address (CNI hairpinMode)
    _call(ipr, "link", "set", ifname=host_if, kind="bridge_slave", mode=1,
          why=f"set hairpin mode on {host_if!r}")
    fd = netns.netlink_socket(path).detach()   # IPRoute owns and closes the fd
    with iproute(fd) as ipc:
        with trace.step("rtnetlink link dump", netns=path):
            links = {x.get_attr("IFLA_IFNAME"): x for x in ipc.get_links()}
        if ifname not in links or "lo" not in links:
            raise NetworkError(f"{ifname!r} did not appear in {path}", stage="network")
        eth, mac = links[ifname]["index"], links[ifname].get_attr("IFLA_ADDRESS")
        _call(ipc, "link", "set", index=links["lo"]["index"], state="up",
              why=f"set lo up in {path}")
        _call(ipc, "addr", "add", index=eth, address=address, prefixlen=prefixlen,
              why=f"add {address}/{prefixlen} to {ifname} in {path}")
        _call(ipc, "link", "set", index=eth, state="up", why=f"set {ifname} up in {path}")
        if gateway:
            _call(ipc, "route", "add", dst="0.0.0.0/0", gateway=gateway,
                  why=f"add default route via {gateway} in {path}")
    return {"host_ifname": host_if, "ifname": ifname, "mac": mac}


def detach(host_ifname: str) -> bool:
    """Delete a host veth end (and so its peer); False if it was already gone."""
    with iproute() as ipr:
        r = _call(ipr, "link", "del", ifname=host_ifname, why=f"delete veth {host_ifname!r}",
                  tolerate=(errno.ENODEV, errno.ENOENT))
    return r is not None


def orphans(bridge: str, live_ids, network: str | None = None) -> list[str]:
    """Host veths on ``bridge`` named ``pycv*`` that belong to no live container (a
    container's first veth, or the one ``network connect`` made for ``network``)."""
    keep = {veth_name(c) for c in live_ids} | {veth_name(c, network) for c in live_ids}
    with iproute() as ipr:
        br = _index(ipr, bridge)
        if br is None:
            return []
        out = []
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name.startswith(VETH_PREFIX) and link.get_attr("IFLA_MASTER") == br \
                    and name not in keep:
                out.append(name)
        return out


def ports_on(bridge: str) -> list[str]:
    """Names of the interfaces plugged into ``bridge``."""
    with iproute() as ipr:
        br = _index(ipr, bridge)
        if br is None:
            return []
        return [x.get_attr("IFLA_IFNAME") for x in ipr.get_links()
                if x.get_attr("IFLA_MASTER") == br]


def delete_bridge(name: str) -> bool:
    """Delete the bridge; False if it did not exist."""
    with iproute() as ipr:
        r = _call(ipr, "link", "del", ifname=name, why=f"delete bridge {name!r}",
                  tolerate=(errno.ENODEV, errno.ENOENT))
    return r is not None


def exists(name: str) -> bool:
    with iproute() as ipr:
        return _index(ipr, name) is not None
