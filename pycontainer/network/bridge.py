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
  :mod:`.netns`): ``lo`` and ``eth0`` up, the address on ``eth0`` (RTM_NEWADDR)
  and a default route via the gateway (RTM_NEWROUTE).
* Deleting either end of a veth deletes both, so teardown is one RTM_DELLINK of
  the host end, and a dead network namespace takes its ``eth0`` and with it the
  host end away by itself.

Names: the host end is ``pycv`` + 11 hex digits of sha256(container id) —
IFNAMSIZ allows 15 characters, and a name derived from the id lets gc find
the veths of dead containers with no extra state.

The requests go through :mod:`.rtnl` (pyroute2's message classes on a plain
socket, imported inside the functions only): the ones that depend on no
answer share one datagram, and each datagram is a ``trace.step`` that names
its requests. Man pages: veth(4), ip-link(8),
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


def host() -> "rtnl.Rtnl":
    """An rtnetlink socket in the runtime's (the host's) network namespace."""
    from . import rtnl
    return rtnl.Rtnl()


def _run(sock, *reqs, field: str = "", **trace_args):
    """One datagram of rtnetlink requests (rtnl.py), traced as one event per request
    (``rtnetlink link add``, ``rtnetlink addr add``, ...); the kernel handles them all in
    one sendmsg(2), so each event gets an equal share of the datagram's time."""
    start = trace.now()
    try:
        return sock.run(*reqs)
    finally:
        ms = trace.since(start)
        for i, r in enumerate(reqs):
            trace.event("rtnetlink " + " ".join(r.what.split(" ", 2)[:2]), field,
                        ms / len(reqs) if ms is not None else None, **r.show,
                        **({"datagram": f"{i + 1} of {len(reqs)}"} if len(reqs) > 1 else {}),
                        **trace_args)


def ensure_bridge(sock, name: str, gateway: str, prefixlen: int,
                  mtu: int = 1500) -> tuple[int, bool]:
    """The bridge ``name`` with ``gateway/prefixlen`` on it, up.

    Returns ``(ifindex, made)``; ``made`` is True when this call configured it.

    Creates it if missing (a concurrent creator's EEXIST is fine). Refuses a
    subnet that another host interface already routes. When the bridge is
    already there and up with its address, this costs one datagram (its link
    record and its addresses).
    """
    from . import rtnl
    subnet = ipaddress.IPv4Network(f"{gateway}/{prefixlen}", strict=False)
    found, addrs = _run(sock, rtnl.link_get(name), rtnl.addr_dump())
    link = found[0] if found else None
    made = link is None
    if link is None:
        _check_overlap(addrs, subnet, name)
        found = _run(sock, rtnl.bridge_add(name, mtu), rtnl.link_get(name))[1]
        if not found:
            raise NetworkError(f"bridge {name!r} vanished right after creation; retry",
                               stage="network")
        link, addrs = found[0], []
    kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
    if kind != "bridge":
        raise NetworkError(f"interface {name!r} exists and is a {kind or 'plain'} device, "
                           "not a bridge: choose another bridge name", stage="network")
    idx = link["index"]
    have = {a.get_attr("IFA_ADDRESS") for a in addrs if a["index"] == idx}
    if gateway not in have or not link["flags"] & IFF_UP:
        # 127.0.0.1:hostport -> container: the DNATed packet keeps source
        # 127.0.0.1 and leaves through the bridge; the kernel drops such
        # "martian" packets unless route_localnet is set on the way out.
        write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
        reqs = [rtnl.link_up(index=idx)]
        if gateway not in have:
            reqs.insert(0, rtnl.addr_add(idx, gateway, prefixlen,
                                         why=f"add {gateway}/{prefixlen} to bridge {name!r}",
                                         tolerate=(errno.EEXIST,)))
        _run(sock, *reqs)
        made = True
    return idx, made


def _check_overlap(addrs, subnet, bridge: str) -> None:
    for a in addrs:
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


def attach(sock, container_id: str, target, bridge_index: int, address: str, prefixlen: int,
           gateway: str | None, mtu: int = 1500, ifname: str = "eth0",
           host_ifname: str | None = None, group: int | None = None, mac: str | None = None) -> dict:
    """Plug the container whose netns is ``target`` (pid or path) into the bridge.

    ``sock`` is a host-namespace :func:`host` socket; ``gateway`` None: no default
    route (a further network's interface); ``group``: the host end's interface group
    (a shared egress policy, egress.Shared). Three datagrams: the veth pair and its
    hairpin mode (host), ``lo`` and ``ifname`` up and ``ifname``'s record (in the
    container's netns), its address and default route. Returns what was made:
    ``{"host_ifname", "ifname", "mac"}``.
    """
    from . import rtnl
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
        # hairpin: let a frame leave by the port it came in, so a container can
        # reach its own published port through a host address (CNI hairpinMode)
        _run(sock, rtnl.veth_add(host_if, bridge_index, mtu, ifname, nsfd,
                                 why=f"create veth {host_if!r} with peer {ifname!r} in {path} "
                                     f"(a leftover of a crashed run? `pycontainer network gc`)",
                                 group=group, peer_mac=mac),
             rtnl.hairpin(host_if), peer_netns=path)
    finally:
        os.close(nsfd)
    with rtnl.Rtnl(netns.netlink_socket(path)) as ns:
        up = rtnl.link_up(ifname)
        up.tolerate = (errno.ENODEV,)          # reported below, with a clearer message
        _lo, _up, found = _run(ns, rtnl.link_up("lo"), up, rtnl.link_get(ifname), netns=path)
        if not found:
            raise NetworkError(f"{ifname!r} did not appear in {path}", stage="network")
        eth, mac = found[0]["index"], found[0].get_attr("IFLA_ADDRESS")
        reqs = [rtnl.addr_add(eth, address, prefixlen,
                              why=f"add {address}/{prefixlen} to {ifname} in {path}")]
        if gateway:
            reqs.append(rtnl.default_route(gateway, why=f"add default route via {gateway} in {path}"))
        _run(ns, *reqs, netns=path)
    return {"host_ifname": host_if, "ifname": ifname, "mac": mac}


def detach(host_ifname: str, field: str = "") -> bool:
    """Delete a host veth end (and so its peer); False if it was already gone. ``field``:
    the trace's (for a thread, which does not see its caller's ``trace.asked_by``)."""
    from . import rtnl
    with host() as sock:
        return _run(sock, rtnl.link_del(host_ifname), field=field)[0] is not None


def _links(sock) -> list:
    from . import rtnl
    return _run(sock, rtnl.link_dump())[0]


def _index(links, ifname: str) -> int | None:
    return next((x["index"] for x in links if x.get_attr("IFLA_IFNAME") == ifname), None)


def orphans(bridge: str, live_ids, network: str | None = None) -> list[str]:
    """Host veths on ``bridge`` named ``pycv*`` that belong to no live container (a
    container's first veth, or the one ``network connect`` made for ``network``)."""
    keep = {veth_name(c) for c in live_ids} | {veth_name(c, network) for c in live_ids}
    with host() as sock:
        links = _links(sock)
    br = _index(links, bridge)
    if br is None:
        return []
    return [name for link in links if (name := link.get_attr("IFLA_IFNAME")).startswith(VETH_PREFIX)
            and link.get_attr("IFLA_MASTER") == br and name not in keep]


def ports_on(bridge: str) -> list[str]:
    """Names of the interfaces plugged into ``bridge``."""
    with host() as sock:
        links = _links(sock)
    br = _index(links, bridge)
    if br is None:
        return []
    return [x.get_attr("IFLA_IFNAME") for x in links if x.get_attr("IFLA_MASTER") == br]


def delete_bridge(name: str) -> bool:
    """Delete the bridge; False if it did not exist."""
    from . import rtnl
    with host() as sock:
        return _run(sock, rtnl.link_del(name))[0] is not None


def exists(name: str) -> bool:
    from . import rtnl
    if not 0 < len(name.encode()) < 16:         # IFNAMSIZ: no such interface can exist
        return False
    with host() as sock:
        return bool(_run(sock, rtnl.link_get(name))[0])


def addresses() -> list[tuple[str, int, str]]:
    """The host's IPv4 addresses: ``(address, prefixlen, label)``."""
    from . import rtnl
    with host() as sock:
        return [(a.get_attr("IFA_ADDRESS"), a["prefixlen"], a.get_attr("IFA_LABEL"))
                for a in _run(sock, rtnl.addr_dump())[0]]
