"""Masquerade and published ports with nftables, in a table pycontainer owns.

What the kernel does: netfilter's NAT hooks (nft(8), "NAT" and "MAPS"). The
first packet of a connection goes through the ``nat`` chains; the decision is
stored in conntrack and applied to the whole flow, replies included.

* **masquerade** (postrouting): a packet from a container's subnet leaving
  for another network gets the outgoing interface's address as source.
* **published ports** (``-p [hostip:]hostport:containerport[/tcp|udp]``):
  a packet for a *local* address (``fib daddr type local``) and a published
  port is DNATed to ``container_ip:containerport``. The ``prerouting`` hook
  sees packets that arrive from outside or from other containers; ``output``
  sees the host's own connections, including to ``127.0.0.1`` and to the
  bridge address. A connection from ``127.0.0.1`` keeps that source after
  DNAT, so (1) the bridge has ``route_localnet=1`` (see :mod:`.bridge`) and
  (2) postrouting masquerades ``127.0.0.0/8`` sources of DNATed flows, so the
  container can answer.

Everything lives in ``table inet pycontainer`` (the name is a parameter): the
rules are written once and never change; what changes per container are
*elements* of named sets and maps, added and deleted atomically::

    set  masq_nets      ipv4_addr (interval)                  subnets to masquerade
    map  pub_any_addr   inet_proto . inet_service : ipv4_addr     -p 8080:80
    map  pub_any_port   inet_proto . inet_service : inet_service
    map  pub_ip_addr    ipv4_addr . inet_proto . inet_service : ipv4_addr   -p 127.0.0.1:8080:80
    map  pub_ip_port    ipv4_addr . inet_proto . inet_service : inet_service

(two maps for address and port because nft 1.0.6 crashes parsing a JSON
``dnat`` with a concatenated map value.) Each element carries the comment
``pyc:<container id>``. Other tables are never read or written.

Interface: ``nft -j`` with a JSON batch (libnftables-json(5)), one process per
batch, so each change is one kernel transaction; :func:`nft` (and :class:`Nft`,
which lets the caller work while nft does) also runs the bridge-family
scripts of :mod:`.egress` (``nft -f -``), each a traced step. Man pages: nft(8),
libnftables-json(5), conntrack(8).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import subprocess

from .. import trace
from ..errors import NetworkError

FAMILY = "inet"
DEFAULT_TABLE = "pycontainer"
NFT = "nft"

_PORT_RE = re.compile(r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
                      r"(?:(?P<host>\d{0,5}):)?(?P<ctr>\d{1,5})(?:/(?P<proto>[a-zA-Z]+))?$")


# -- published ports: parsing -----------------------------------------------------------

def parse_port(spec, any_port: bool = False) -> dict:
    """``[hostip:]hostport:containerport[/tcp|udp]`` (or a dict) → a port mapping dict.
    With ``any_port`` (the docker layer, which then picks a free port: api/config.py) also
    docker's ``containerport``, ``hostip::containerport`` and host port 0: host_port 0.

    >>> parse_port("127.0.0.1:8080:80/tcp")
    {'host_ip': '127.0.0.1', 'host_port': 8080, 'container_port': 80, 'protocol': 'tcp'}
    """
    if isinstance(spec, dict):
        d = {"host_ip": spec.get("host_ip") or spec.get("hostIP") or "",
             "host_port": spec.get("host_port", spec.get("hostPort")),
             "container_port": spec.get("container_port", spec.get("containerPort")),
             "protocol": (spec.get("protocol") or "tcp").lower()}
        text = json.dumps(spec)
    else:
        text = str(spec)
        m = _PORT_RE.match(text.strip())
        if not m:
            raise NetworkError(f"malformed port {text!r}: use [hostip:]hostport:containerport"
                               "[/tcp|udp], e.g. 8080:80", stage="network")
        if m["ip"] and m["host"] is None:           # "1.2.3.4:80" is IP:HOSTPORT? docker: no
            raise NetworkError(f"malformed port {text!r}: use [hostip:]hostport:containerport"
                               "[/tcp|udp], e.g. 8080:80", stage="network")
        d = {"host_ip": m["ip"] or "", "host_port": m["host"] or 0, "container_port": m["ctr"],
             "protocol": (m["proto"] or "tcp").lower()}
    if d["host_port"] is None:                      # the docker SDK's ports={"80/tcp": None}
        d["host_port"] = 0
    for key in ("host_port", "container_port"):
        try:
            d[key] = int(d[key])
        except (TypeError, ValueError):
            raise NetworkError(f"malformed port {text!r}: {key} must be a number", stage="network") from None
        if not 1 <= d[key] <= 65535 and not (any_port and key == "host_port" and d[key] == 0):
            raise NetworkError(f"malformed port {text!r}: {key} {d[key]} is not in 1-65535",
                               stage="network")
    if d["protocol"] not in ("tcp", "udp"):
        raise NetworkError(f"malformed port {text!r}: protocol must be tcp or udp", stage="network")
    if d["host_ip"]:
        try:
            ipaddress.IPv4Address(d["host_ip"])
        except ValueError:
            raise NetworkError(f"port {text!r}: host ip {d['host_ip']} is not IPv4 "
                               "(IPv6 publishing is not supported)", stage="network") from None
    return d


def free_port(proto: str, host_ip: str = "") -> int:
    """A host port nothing listens on now (-P, -p 80; docker takes it from the ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM) as s:
        s.bind((host_ip or "0.0.0.0", 0))
        return s.getsockname()[1]


def check_free(ports: list[dict]) -> None:
    """Refuse a host port that a host process already holds (bind(2) probe)."""
    seen = set()
    for p in ports:
        key = (p["host_ip"], p["host_port"], p["protocol"])
        if key in seen or ("", p["host_port"], p["protocol"]) in seen:
            raise NetworkError(f"port {p['host_port']}/{p['protocol']} is published twice",
                               stage="network")
        seen.add(key)
        kind = socket.SOCK_STREAM if p["protocol"] == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((p["host_ip"] or "0.0.0.0", p["host_port"]))
            except OSError as exc:
                raise NetworkError(f"host port {p['host_ip'] or '*'}:{p['host_port']}/"
                                   f"{p['protocol']} is taken ({exc.strerror}): choose another "
                                   "host port", stage="network", errno=exc.errno) from None


# -- running nft --------------------------------------------------------------------------

def nft(cmds: list[dict] | str, what: str) -> dict | str:
    """Run one batch (atomic): a JSON batch (``nft -j``) → nft's JSON answer (if any), or an
    nft script (``nft -f -``, the egress policy's rules) → its text output."""
    return Nft(cmds, what).result()


class Nft:
    """One nft process under way (``nft(...)`` is ``Nft(...).result()``): the batch is handed
    over and stdin closed at once, so the caller may fork meanwhile (no child of its keeps
    nft waiting for the end of its input), and collects the answer later."""

    def __init__(self, cmds: list[dict] | str, what: str):
        self.cmds, self.what, self.text = cmds, what, isinstance(cmds, str)
        self.start = trace.now()
        if self.text:
            argv, stdin = [NFT, "-f", "-"], subprocess.PIPE
        else:
            argv, stdin = [NFT, "-j", json.dumps({"nftables": cmds})], subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            raise NetworkError("nft not found: install nftables (apt-get install nftables)",
                               stage="network") from None
        self.early = None
        if self.text:
            if len(cmds) > 16384:          # more than a pipe surely holds: feed it now
                self.early = self.proc.communicate(cmds)
            else:
                try:
                    self.proc.stdin.write(cmds)
                    self.proc.stdin.close()
                except BrokenPipeError:
                    pass                       # nft is gone: result() reports its error
                self.proc.stdin = None         # communicate() must not flush it again

    def result(self) -> dict | str:
        out, err = self.early or self.proc.communicate()
        trace.event("nft -f" if self.text else "nft -j", "", trace.since(self.start),
                    what=self.what, ruleset=self.cmds)
        if self.proc.returncode != 0:
            msg = next((ln for ln in err.splitlines() if ln.startswith("Error")),
                       err.strip().splitlines()[0] if err.strip() else f"exit {self.proc.returncode}")
            raise NetworkError(f"nft {self.what}: {msg}", stage="network")
        if self.text:
            return out
        return json.loads(out) if out.strip() else {}


def _t(table):
    return {"family": FAMILY, "table": table}


def _dp():
    return {"payload": {"protocol": "th", "field": "dport"}}


def _key(with_ip: bool):
    parts = [{"meta": {"key": "l4proto"}}, _dp()]
    if with_ip:
        parts.insert(0, {"payload": {"protocol": "ip", "field": "daddr"}})
    return {"concat": parts}


def _dnat_rule(table, with_ip: bool):
    kind = "ip" if with_ip else "any"
    return {"rule": {**_t(table), "chain": "publish", "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
        {"dnat": {"family": "ip",
                  "addr": {"map": {"key": _key(with_ip), "data": f"@pub_{kind}_addr"}},
                  "port": {"map": {"key": _key(with_ip), "data": f"@pub_{kind}_port"}}}}]}}


def _jump_local(table, chain):
    return {"rule": {**_t(table), "chain": chain, "expr": [
        {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                   "right": "local"}},
        {"jump": {"target": "publish"}}]}}


def _masq_rules(table):
    saddr = {"payload": {"protocol": "ip", "field": "saddr"}}
    daddr = {"payload": {"protocol": "ip", "field": "daddr"}}
    return [
        # container -> another network: source = the outgoing interface's address
        {"rule": {**_t(table), "chain": "postrouting", "expr": [
            {"match": {"op": "==", "left": saddr, "right": "@masq_nets"}},
            {"match": {"op": "!=", "left": daddr, "right": "@masq_nets"}},
            {"masquerade": None}]}},
        # DNATed flows from a container (hairpin) or from 127.0.0.1 need a source
        # the container can answer to
        {"rule": {**_t(table), "chain": "postrouting", "expr": [
            {"match": {"op": "==", "left": saddr, "right": "@masq_nets"}},
            {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
            {"masquerade": None}]}},
        {"rule": {**_t(table), "chain": "postrouting", "expr": [
            {"match": {"op": "==", "left": saddr,
                       "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
            {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
            {"masquerade": None}]}},
    ]


def skeleton(table: str) -> list[dict]:
    """Commands that (re)create the table, its sets/maps and its fixed rules.

    Idempotent in one transaction: ``add`` of an existing table/set/chain is a
    no-op and each chain is flushed before its rules are added again, while
    the elements (per-container state) are kept.
    """
    t = _t(table)
    base = [("prerouting", "prerouting", -100), ("output", "output", -100),
            ("postrouting", "postrouting", 100)]
    cmds = [{"add": {"table": {"family": FAMILY, "name": table}}},
            {"add": {"set": {**t, "name": "masq_nets", "type": "ipv4_addr", "flags": ["interval"]}}}]
    for kind, key in (("any", ["inet_proto", "inet_service"]),
                      ("ip", ["ipv4_addr", "inet_proto", "inet_service"])):
        cmds.append({"add": {"map": {**t, "name": f"pub_{kind}_addr", "type": key, "map": "ipv4_addr"}}})
        cmds.append({"add": {"map": {**t, "name": f"pub_{kind}_port", "type": key, "map": "inet_service"}}})
    cmds.append({"add": {"chain": {**t, "name": "publish"}}})
    for name, hook, prio in base:
        cmds.append({"add": {"chain": {**t, "name": name, "type": "nat", "hook": hook,
                                       "prio": prio, "policy": "accept"}}})
    for name in ("publish", "prerouting", "output", "postrouting"):
        cmds.append({"flush": {"chain": {**t, "name": name}}})
    cmds += [{"add": r} for r in (_dnat_rule(table, True), _dnat_rule(table, False),
                                  _jump_local(table, "prerouting"), _jump_local(table, "output"),
                                  *_masq_rules(table))]
    return cmds


def _subnet_elem(table, subnet):
    net = ipaddress.IPv4Network(subnet)
    return {"element": {**_t(table), "name": "masq_nets", "elem": [
        {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}]}}


def _port_elems(table, container_id, ip, p) -> list[dict]:
    """The two elements (address, port) that publish one port."""
    kind = "ip" if p["host_ip"] else "any"
    key = [p["protocol"], p["host_port"]]
    if p["host_ip"]:
        key.insert(0, p["host_ip"])
    k = {"elem": {"val": {"concat": key}, "comment": f"pyc:{container_id}"}}
    return [{"element": {**_t(table), "name": f"pub_{kind}_addr", "elem": [[k, str(ip)]]}},
            {"element": {**_t(table), "name": f"pub_{kind}_port", "elem": [[k, p["container_port"]]]}}]


# -- the operations ------------------------------------------------------------------------

def setup(table: str, subnet: str, container_id: str, ip, ports: list[dict],
          masquerade: bool = True, fresh: bool = False) -> None:
    """This subnet's masquerade and this container's ports, in one transaction.

    ``fresh`` (the network was just created) also writes the table and its
    rules. Otherwise only elements are added, and the skeleton is written
    only if the table turns out to be missing: re-writing rules costs the
    kernel an RCU grace period (~25 ms), adding elements does not (~4 ms).
    A host port already published by another container makes the whole batch
    fail (``create`` refuses an existing key), so nothing is half-done.
    """
    cmds = []
    if masquerade:
        cmds.append({"add": _subnet_elem(table, subnet)})
    for p in ports:
        cmds += [{"create": e} for e in _port_elems(table, container_id, ip, p)]
    what = f"publish {len(ports)} port(s) for {container_id}"
    try:
        if fresh:
            nft(skeleton(table) + cmds, what)
        elif cmds:
            try:
                nft(cmds, what)
            except NetworkError as exc:
                if "No such file" not in str(exc):
                    raise
                nft(skeleton(table) + cmds, what)   # table gone (flushed ruleset?): rebuild
    except NetworkError as exc:
        if ports and "exists" in str(exc):
            taken = ", ".join(f"{p['host_port']}/{p['protocol']}" for p in ports)
            raise NetworkError(f"host port {taken} is already published by another container: "
                               "choose another host port", stage="network") from exc
        raise


def remove_ports(table: str, container_id: str, ip, ports: list[dict]) -> None:
    """Delete a container's port elements; tolerant of ones already gone."""
    elems = [e for p in ports for e in _port_elems(table, container_id, ip, p)]
    if not elems:
        return
    for e in elems:   # delete needs the key only
        e["element"]["elem"] = [e["element"]["elem"][0][0]["elem"]["val"]]
    try:
        nft([{"delete": e} for e in elems], f"unpublish ports of {container_id}")
    except NetworkError:
        for e in elems:   # the batch failed as a whole: delete what is there, one by one
            try:
                nft([{"delete": e}], f"unpublish a port of {container_id}")
            except NetworkError:
                pass


def list_table(table: str) -> dict | None:
    """``{"masq_nets": [...], "ports": [{...}]}`` or None when the table does not exist."""
    try:
        out = nft([{"list": {"table": {"family": FAMILY, "name": table}}}], f"list table {table}")
    except NetworkError as exc:
        if "No such file" in str(exc):
            return None
        raise
    res = {"masq_nets": [], "ports": []}
    maps = {}
    for obj in out.get("nftables", []):
        if "set" in obj and obj["set"].get("name") == "masq_nets":
            for e in obj["set"].get("elem", []):
                pre = e.get("prefix") if isinstance(e, dict) else None
                res["masq_nets"].append(f"{pre['addr']}/{pre['len']}" if pre else str(e))
        if "map" in obj:
            maps[obj["map"]["name"]] = obj["map"].get("elem", [])
    for kind in ("any", "ip"):
        ports = {}
        for k, v in maps.get(f"pub_{kind}_port", []):
            ports[json.dumps(k["elem"]["val"])] = v
        for k, v in maps.get(f"pub_{kind}_addr", []):
            val = k["elem"]["val"]["concat"]
            host_ip, proto, hport = (val if kind == "ip" else ["", *val])
            res["ports"].append({"host_ip": host_ip, "host_port": hport, "protocol": proto,
                                 "container_ip": v,
                                 "container_port": ports.get(json.dumps(k["elem"]["val"])),
                                 "container_id": k["elem"].get("comment", "")[4:]})
    return res


def gc(table: str, live_ids) -> list[dict]:
    """Delete port elements whose comment names a container not in ``live_ids``."""
    state = list_table(table)
    if state is None:
        return []
    live = set(live_ids)
    dead = [p for p in state["ports"] if p["container_id"] not in live]
    for p in dead:
        remove_ports(table, p["container_id"], p["container_ip"], [p])
    return dead


def remove_subnet(table: str, subnet: str) -> None:
    """Stop masquerading ``subnet``; drop the whole table once nothing is left in it."""
    try:
        nft([{"delete": _subnet_elem(table, subnet)}], f"stop masquerading {subnet}")
    except NetworkError:
        pass
    state = list_table(table)
    if state is not None and not state["masq_nets"] and not state["ports"]:
        delete_table(table)


def delete_table(table: str) -> None:
    try:
        nft([{"delete": {"table": {"family": FAMILY, "name": table}}}], f"delete table {table}")
    except NetworkError as exc:
        if "No such file" not in str(exc):
            raise
