"""Lab 08: complete these four functions (see README.md). ``ipr`` is a pyroute2 IPRoute."""


def make_bridge(ipr, name: str, address: str, prefixlen: int) -> None:
    """A bridge NAME with ADDRESS/PREFIXLEN, up.

    ipr.link("add", ifname=..., kind="bridge"); index = ipr.link_lookup(ifname=...)[0];
    ipr.addr("add", index=..., address=..., prefixlen=...); ipr.link("set", index=..., state="up").
    """
    raise NotImplementedError("TODO: link add (bridge), addr add, link set up")


def plug_veth(ipr, host_end: str, container_end: str, bridge: str, pid: int) -> None:
    """A veth pair: HOST_END plugged into BRIDGE and up; CONTAINER_END moved into PID's netns.

    ipr.link("add", ifname=host_end, kind="veth", peer=container_end);
    master=<bridge index> and state="up" on the host end; net_ns_pid=pid on the other.
    """
    raise NotImplementedError("TODO: veth pair, master + up, net_ns_pid")


def configure_inside(ipr, ifname: str, address: str, prefixlen: int, gateway: str) -> None:
    """Inside the namespace: lo up; IFNAME renamed eth0, ADDRESS/PREFIXLEN on it, up; default route."""
    raise NotImplementedError("TODO: lo up, rename to eth0, addr, up, route via gateway")


def nat_rules(table: str, bridge: str, subnet: str, gateway: str,
              host_port: int, address: str, port: int) -> str:
    """An nft script that creates `table ip TABLE` with three nat chains:

    output      (type nat hook output priority -100): ip daddr GATEWAY tcp dport HOST_PORT dnat to ADDRESS:PORT
    prerouting  (type nat hook prerouting priority -100): tcp dport HOST_PORT fib daddr type local dnat to ADDRESS:PORT
    postrouting (type nat hook postrouting priority 100): ip saddr SUBNET oifname != BRIDGE masquerade
    """
    raise NotImplementedError("TODO: return the nft script text")
