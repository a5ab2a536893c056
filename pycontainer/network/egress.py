"""Egress policy for bridged containers: what a container may reach, enforced on the host.

A program in a bridged container sends frames through its veth into the
bridge. The bridge delivers those for the host itself (the gateway address,
and every packet to be routed elsewhere: its destination MAC is the bridge's)
up its ``input`` hook, and switches those for another container through its
``forward`` hook. Netfilter's *bridge* family sees both with ``iifname`` =
the bridge port, i.e. the container's host-side veth (at the IP layer the
input interface would be the bridge, shared by all). Rules there cannot be
changed from inside (the container has no access to the host's network
namespace), and a forged source address changes nothing: the key is the port.

In pycontainer's own bridge-family table (``table bridge pycontainer``; the
``inet`` table of nat.py is not touched) this module keeps::

    map   egress_veth   ifname : verdict               host veth -> jump eg_<id>
    chain egress_in     hook input   priority filter    iifname vmap @egress_veth
    chain egress_fwd    hook forward priority filter    iifname vmap @egress_veth
    chain eg_<id>       per container: the policy below

``deny-private`` (the policy of a sandbox): TCP segments other than a
connection's opening SYN pass (replies to connections the host made; no
conntrack in the bridge family is assumed); then each ``egress_allow`` entry ``CIDR[:PORT]``
(tcp and udp) is accepted; DNS (port 53) goes only to the configured
resolvers; then the host's own IPv4 addresses (read when the policy is
installed), RFC 1918 ranges (which hold the other containers), link-local
(cloud metadata at 169.254.169.254), CGNAT, loopback, multicast and IPv6 are
dropped; the public internet is accepted. The chain and map element are named
after the container and go with it (its delete plan calls ``remove``).

The policy without ``egress_allow`` (every sandbox's by default) is the same
for all of them on a host (the resolvers and host addresses aside), so it is
made once (``Shared``)::

    map   egress_group  devgroup : verdict              group -> jump eg_shared_<group>
    chain egress_in/fwd                                 iifgroup vmap @egress_group
    chain eg_shared_<group>                             the rules above

and the sandbox's host veth is created in that *interface group* (IFLA_GROUP,
ip-link(8) ``group``; the group number is derived from the rules, so other
resolvers or host addresses make another group and chain). Nothing of it is
the container's: no transaction when it goes. That matters because every nft
transaction that deletes something waits for an RCU grace period in the
kernel (8-25 ms here), on the caller's clock at delete. A sandbox checks that
the shared chain is in place (an nft listing, installing what is missing) only
when the ruleset's generation changed since it was last found so (nfgen.py:
every committed nft transaction on the host bumps it). The shared chains stay
until ``network gc --prune`` drops the table. See nft(8) ("BRIDGE FAMILY",
"meta iifgroup"), bridge(8), ip-link(8).
"""

from __future__ import annotations

import ipaddress

from ..errors import NetworkError

PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
           "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4")
POLICIES = ("deny-private", "allow-all")


def parse_allow(entries) -> list[tuple[str, int | None]]:
    """``["10.89.0.1/32:8080", "192.168.1.0/24"]`` -> [(network, port or None)]."""
    out = []
    for e in entries or ():
        text = str(e)
        net, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        try:
            n = str(ipaddress.IPv4Network(net, strict=False))
            p = int(port) if port else None
            if p is not None and not 0 < p < 65536:
                raise ValueError
        except ValueError:
            raise NetworkError(f"egress_allow {text!r}: use an IPv4 CIDR[:PORT], e.g. 10.0.0.5/32:8080",
                               stage="network") from None
        out.append((n, p))
    return out


def chain_name(container_id: str) -> str:
    return "eg_" + container_id[:40]


def _skeleton(table: str) -> str:
    """The base chains and the map, made once (``add`` is idempotent for tables, chains, maps)."""
    s = [f"add table bridge {table}",
         f"add map bridge {table} egress_veth {{ type ifname : verdict; }}",
         f"add chain bridge {table} egress_in {{ type filter hook input priority filter; policy accept; }}",
         f"add chain bridge {table} egress_fwd {{ type filter hook forward priority filter; policy accept; }}"]
    return "\n".join(s) + "\n"


def _dispatch(table: str) -> str:
    return (f"add rule bridge {table} egress_in iifname vmap @egress_veth\n"
            f"add rule bridge {table} egress_fwd iifname vmap @egress_veth\n")


class Applying:
    """A policy being installed by :func:`start`: ``wait()`` before the container's program
    may run (it raises if the policy is not in place, having removed what was made)."""

    def __init__(self, container_id: str, veth: str, table: str, running):
        self.container_id, self.veth, self.table, self.running = container_id, veth, table, running

    def wait(self) -> None:
        if self.running is None:
            return
        running, self.running = self.running, None
        from .nat import nft
        before = running.result()              # failed: one transaction, nothing was made
        if "chain egress_in" not in before:     # nft's answer is not the listing: refuse
            remove_chain(self.container_id, self.veth, self.table)
            raise NetworkError(f"nft egress policy for {self.container_id}: no listing of "
                               "egress_in in its answer", stage="network")
        if "@egress_veth" not in before:
            try:
                nft(_dispatch(self.table), "egress dispatch")
            except BaseException:
                remove_chain(self.container_id, self.veth, self.table)
                raise


def _rules(allow, resolvers) -> list[str]:
    """The policy's rules, in order (the module docstring)."""
    # no conntrack in the bridge family here (nf_conntrack_bridge is not assumed): a TCP segment
    # without SYN cannot open a connection, so replies to the host's connections pass that way
    rules = ["tcp flags & (syn | ack) != syn accept"]
    for net, port in allow:
        if port is None:
            rules.append(f"ip daddr {net} accept")
        else:
            rules += [f"ip daddr {net} tcp dport {port} accept", f"ip daddr {net} udp dport {port} accept"]
    for r in resolvers:
        rules += [f"ip daddr {r} udp dport 53 accept", f"ip daddr {r} tcp dport 53 accept"]
    rules += ["udp dport 53 drop", "tcp dport 53 drop",
              f"ip daddr {{ {', '.join(PRIVATE + tuple(host_addresses()))} }} drop", "ether type ip6 drop"]
    return rules


def start(container_id: str, veth: str, allow, resolvers=(), *, table: str = "pycontainer") -> Applying:
    """Start installing the deny-private policy for ``veth``; ``.wait()`` for it.

    One nft transaction (nat.Nft) makes the table's skeleton (idempotent), the
    container's chain and map element, and lists ``egress_in`` as it was before
    it: without the dispatch rule (a new table, or someone flushed it) ``wait``
    adds the dispatch rules in a second one, so the policy is never left
    unenforced. The caller may create the container meanwhile (the veth does
    not need to exist: the map is keyed by its name)."""
    from .nat import Nft
    rules = _rules(parse_allow(allow), resolvers)
    chain = chain_name(container_id)
    script = _skeleton(table) + f"add chain bridge {table} {chain}\nflush chain bridge {table} {chain}\n"
    script += "".join(f"add rule bridge {table} {chain} {r}\n" for r in rules)
    script += f"add element bridge {table} egress_veth {{ \"{veth}\" : jump {chain} }}\n"
    script += f"list chain bridge {table} egress_in\n"     # as it was before this transaction
    return Applying(container_id, veth, table, Nft(script, f"egress policy for {container_id}"))


class Shared:
    """The deny-private policy without ``egress_allow`` for the given resolvers and this
    host's addresses as they are now: its rules, interface ``group`` (EGRESS_GROUP_BASE +
    30 bits of the rules' CRC-32) and chain name."""

    def __init__(self, resolvers=(), table: str = "pycontainer"):
        import zlib

        from .request import EGRESS_GROUP_BASE as base
        self.table = table
        self.rules = _rules((), resolvers)
        self.group = base | (zlib.crc32("\n".join(self.rules).encode()) & (base - 1))
        self.chain = f"eg_shared_{self.group:08x}"
        self.running, self.stamp = None, None

    def start(self) -> "Shared":
        """Start checking that the policy is in place (one nft process that only lists;
        ``wait()`` installs what is missing): the caller creates the container meanwhile.
        Not even that when the ruleset's generation (nfgen.py) is the one at which the
        chain was last found in place: nothing changed since."""
        from .. import trace
        from . import nfgen
        from .nat import Nft
        t = trace.now()
        try:
            self.stamp = nfgen.stamp()
        except OSError:
            self.stamp = None              # no answer: list it every time
        unchanged = self.stamp is not None and self._seen() == self.stamp
        trace.event("NFT_MSG_GETGEN", "", trace.since(t), stamp=self.stamp, unchanged=unchanged,
                    note="the ruleset's generation against the one at which the policy was "
                         "last found in place")
        if unchanged:
            return self
        # one list command: nft 1.0.6 answers a second one of the same script from the first
        # one's partial cache ("No such file or directory" for a chain that is there)
        self.running = Nft(f"list table bridge {self.table}\n", f"egress policy {self.chain}: in place?")
        return self

    def wait(self) -> None:
        """Before the container's program may run: the policy is in place (installed if not)."""
        if self.running is None:
            return
        running, self.running = self.running, None
        try:
            listing = running.result()
        except NetworkError:               # no table or map yet: install it
            listing = ""
        if self.in_place(listing):
            self._saw()                    # at the generation read before the listing
        else:
            self.install()

    def _seen_path(self) -> str:
        import os

        from .request import DEFAULT_STATE_DIR
        return os.path.join(DEFAULT_STATE_DIR, f"egress-{self.table}-{self.chain}.seen")

    def _seen(self) -> str | None:
        """The stamp at which the chain was last found in place (None: never, or unreadable)."""
        try:
            with open(self._seen_path()) as f:
                return f.read().strip()
        except OSError:
            return None

    def _saw(self) -> None:
        import os
        if self.stamp is None:
            return
        path = self._seen_path()
        tmp = f"{path}.{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
            with open(tmp, "w") as f:
                f.write(self.stamp + "\n")
            os.replace(tmp, path)          # no fsync: a lost file only means one more listing
        except OSError:
            pass

    def in_place(self, listing: str) -> bool:
        """Does nft's listing of the table show the policy wired (map element, both dispatches)
        and its chain whole (as many rules as it was given, the last one last)?"""
        part = listing.split(f"chain {self.chain} {{\n", 1)
        body = part[1].split("\n\t}", 1)[0].split("\n") if len(part) == 2 else []
        return (_wired(listing, "egress_in") and _wired(listing, "egress_fwd") and
                f"{self.group} : jump {self.chain}" in listing and len(body) == len(self.rules)
                and body[-1].strip() == self.rules[-1])

    def install(self) -> None:
        """Make the chain, its map element and the dispatch rules (one transaction, then the
        dispatch rules a base chain lacks), under a lock: two first sandboxes at once do it
        once. The chain is flushed and filled in the same transaction: no moment without it."""
        import fcntl
        import os

        from .nat import nft
        from .request import DEFAULT_STATE_DIR
        os.makedirs(DEFAULT_STATE_DIR, 0o755, exist_ok=True)
        fd = os.open(os.path.join(DEFAULT_STATE_DIR, "egress.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            t, chain = self.table, self.chain
            script = _skeleton(t) + (
                f"add map bridge {t} egress_group {{ type devgroup : verdict; }}\n"
                f"add chain bridge {t} {chain}\nflush chain bridge {t} {chain}\n"
                + "".join(f"add rule bridge {t} {chain} {r}\n" for r in self.rules)
                + f"add element bridge {t} egress_group {{ {self.group} : jump {chain} }}\n"
                f"list table bridge {t}\n")
            before = nft(script, f"egress policy {chain}")
            missing = [c for c in ("egress_in", "egress_fwd") if not _wired(before, c)]
            if missing:
                nft("".join(f"add rule bridge {t} {c} iifgroup vmap @egress_group\n" for c in missing),
                    "egress dispatch by interface group")
        finally:
            os.close(fd)


def _wired(listing: str, chain: str) -> bool:
    """Has base chain ``chain`` in nft's listing an ``iifgroup vmap @egress_group`` rule?"""
    part = listing.split(f"chain {chain} {{", 1)
    return len(part) == 2 and "iifgroup vmap @egress_group" in part[1].split("}", 1)[0]


def remove_chain(container_id: str, veth: str, table: str = "pycontainer") -> None:
    """Delete the container's map element and chain; tolerant (either may be gone)."""
    from .nat import nft
    chain = chain_name(container_id)
    element = f"delete element bridge {table} egress_veth {{ \"{veth}\" }}\n"
    try:
        nft(element + f"delete chain bridge {table} {chain}\n", f"egress policy of {container_id} away")
    except NetworkError:                  # one of them was gone: the other one alone
        for script in (element, f"delete chain bridge {table} {chain}\n"):
            try:
                nft(script, f"egress policy of {container_id} away")
            except NetworkError:
                pass


def remove(record: dict) -> None:
    """Delete-plan step (cleanup.py): the container's policy goes with it."""
    from .bridge import veth_name
    cid = record.get("id") or ""
    if cid:
        remove_chain(cid, veth_name(cid), (record.get("network") or {}).get("nft_table") or "pycontainer")


def host_addresses() -> list[str]:
    """The host's IPv4 addresses outside the ranges already dropped (an rtnetlink dump)."""
    from .bridge import addresses
    nets = [ipaddress.IPv4Network(p) for p in PRIVATE]
    out = set()
    for addr, _len, _label in addresses():
        a = ipaddress.IPv4Address(addr)
        if not any(a in n for n in nets):
            out.add(str(a))
    return sorted(out)


def resolvers(dns=None) -> list[str]:
    """The IPv4 nameservers the container is given (``dns=`` or the host's resolv.conf)."""
    if dns:
        return [d for d in dns if ":" not in d]
    out = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1] \
                        and not parts[1].startswith("127."):
                    out.append(parts[1])
    except OSError:
        pass
    return out


def drop_if_unused(table: str = "pycontainer") -> bool:
    """Delete ``table bridge TABLE`` once no container's veth is in its map (``network gc
    --prune``, after the last network went): True if it was removed."""
    from .nat import nft
    try:
        out = nft([{"list": {"map": {"family": "bridge", "table": table, "name": "egress_veth"}}}],
                  f"list map bridge {table} egress_veth")
    except NetworkError:
        return False                       # no such table (or map): nothing of ours to drop
    try:
        elems = [i["map"].get("elem") for i in out.get("nftables", []) if "map" in i]
    except (KeyError, AttributeError):
        return False
    if any(elems):
        return False
    import os

    from .bridge import VETH_PREFIX
    if any(n.startswith(VETH_PREFIX) for n in os.listdir("/sys/class/net")):
        return False                       # a container's veth may be in a shared policy's group
    try:
        nft([{"delete": {"table": {"family": "bridge", "name": table}}}], f"delete table bridge {table}")
    except NetworkError:
        return False
    from .request import DEFAULT_STATE_DIR
    try:
        for n in os.listdir(DEFAULT_STATE_DIR):    # Shared's stamps of the chains just dropped
            if n.startswith(f"egress-{table}-") and n.endswith(".seen"):
                os.unlink(os.path.join(DEFAULT_STATE_DIR, n))
    except OSError:
        pass
    return True
