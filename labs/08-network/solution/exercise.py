"""Lab 08, reference answers."""


def make_bridge(ipr, name: str, address: str, prefixlen: int) -> None:
    ipr.link("add", ifname=name, kind="bridge")
    index = ipr.link_lookup(ifname=name)[0]
    ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
    ipr.link("set", index=index, state="up")


def plug_veth(ipr, host_end: str, container_end: str, bridge: str, pid: int) -> None:
    ipr.link("add", ifname=host_end, kind="veth", peer=container_end)
    host = ipr.link_lookup(ifname=host_end)[0]
    ipr.link("set", index=host, master=ipr.link_lookup(ifname=bridge)[0], state="up")
    ipr.link("set", index=ipr.link_lookup(ifname=container_end)[0], net_ns_pid=pid)


def configure_inside(ipr, ifname: str, address: str, prefixlen: int, gateway: str) -> None:
    ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    index = ipr.link_lookup(ifname=ifname)[0]
    ipr.link("set", index=index, ifname="eth0")
    ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
    ipr.link("set", index=index, state="up")
    ipr.route("add", dst="0.0.0.0/0", gateway=gateway)


def nat_rules(table: str, bridge: str, subnet: str, gateway: str,
              host_port: int, address: str, port: int) -> str:
    return f"""
table ip {table} {{
  chain output {{
    type nat hook output priority -100;
    ip daddr {gateway} tcp dport {host_port} counter dnat to {address}:{port}
  }}
  chain prerouting {{
    type nat hook prerouting priority -100;
    tcp dport {host_port} fib daddr type local counter dnat to {address}:{port}
  }}
  chain postrouting {{
    type nat hook postrouting priority 100;
    ip saddr {subnet} oifname != "{bridge}" masquerade
  }}
}}
"""
