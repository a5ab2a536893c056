"""Container networking: modes, a bridge with veth pairs, IPAM, NAT, /etc files.

runc leaves networking to whoever made the network namespace (CNI, netavark).
pycontainer has it built in, in the shape of CNI's ``bridge`` + ``host-local``
+ ``portmap`` plugins, with every kernel step traced.

Modes (``parse_mode``)
----------------------
``none``            a new netns with only ``lo`` (up)
``host``            no new netns: the host's interfaces
``bridge``          a new netns, a veth pair to the bridge ``pyc0``, an address from
                    the network's IPAM, a default route via the gateway, NAT
``container:<id>``  join the netns of another container (its ``eth0`` is shared)
``ns:<path>``       join an existing netns by path (``/run/netns/x``, what CNI
                    users hand to runc); a bare absolute path means the same

How networking is requested
---------------------------
* OCI bundles: the annotation ``org.pycontainer.network`` in config.json,
  either a mode string (``"bridge"``, ``"none"``, ``"container:web"``) or a
  JSON object, e.g.::

      "annotations": {"org.pycontainer.network":
        "{\\"mode\\": \\"bridge\\", \\"ports\\": [\\"8080:80\\"], \\"hostname\\": \\"web\\"}"}

  Without the annotation pycontainer behaves like runc: it follows
  ``linux.namespaces`` and only brings ``lo`` up in a new netns
  (:func:`loopback`), no pyroute2, no bridge.
* Porcelain / Python API: the same request as a dict (``--net``/``-p``
  become ``{"mode": ..., "ports": [...]}``); ``bridge`` is the porcelain's
  default.

Request keys (all optional but ``mode``): ``network`` ("pyc"), ``bridge``
("pyc0"), ``subnet`` ("10.89.0.0/24": not podman's 10.88.0.0/16 nor docker's
172.17.0.0/16), ``gateway`` (first address), ``ip`` (a fixed address),
``mtu`` (1500), ``ports`` (list of ``[hostip:]hostport:containerport[/tcp|udp]``
or dicts), ``masquerade`` (true), ``hostname``, ``dns``, ``dns_search``,
``dns_options``, ``extra_hosts`` ({name: ip}), ``state_dir``
("/var/lib/pycontainer/network"), ``nft_table`` ("pycontainer").
A network's bridge/subnet are fixed by its first use (``<state_dir>/<network>/network.json``).

Lifecycle (who calls what, when)
--------------------------------
(``plan = for_annotation(value)`` bundles steps 1-3 as methods.)

1. before forking: ``req = parse_request(value)``; ``namespace_action(req)``
   tells stage 1 whether to unshare a netns, stay in the host's, or setns to a
   path; optional ``preload(req)`` right after the *last* fork starts
   importing pyroute2 in a thread so the import overlaps the child's work.
2. after stage 2 exists, before the container's program runs:
   ``saved = setup(container_id, init_pid, req, files_dir=state_dir)``;
   store ``saved`` (JSON) in the container's state; the init bind-mounts
   ``saved["files"]`` over /etc/hosts, /etc/hostname, /etc/resolv.conf.
3. on delete: ``teardown(container_id, saved)`` (tolerant, idempotent).
4. ``gc(live_ids)``: reclaims leases, veths and published ports of containers
   that no longer exist (crash, kill -9 in the middle of setup).

Importing this package does not import pyroute2 (measured with
``python -X importtime``); only :func:`setup`/:func:`gc` of a bridge network
do, and :func:`teardown` only while the veth still exists.

Limits: IPv4 only (no IPv6 address, route or published port); published
ports need nothing listening on the host port (checked with bind(2)); another
table's ``forward`` chain with policy drop (Docker's) can still drop routed
container traffic: pycontainer never edits other tables.

Man pages: network_namespaces(7), veth(4), ip-link(8), rtnetlink(7), nft(8);
the modules: :mod:`.ipam` (leases), :mod:`.netns` (entering a netns),
:mod:`.bridge` (links, addresses, routes), :mod:`.nat` (nftables),
:mod:`.files` (/etc files), :mod:`.cli` (``pycontainer network``).
"""

from __future__ import annotations

import json
import os
import re
from typing import NamedTuple

from .. import trace
from ..errors import NetworkError

__all__ = ["ANNOTATION", "DEFAULTS", "Mode", "Plan", "for_annotation", "from_annotations", "gc",
           "inspect", "loopback", "namespace_action", "networks", "parse_mode", "parse_request",
           "preload", "remove_network", "setup", "teardown"]

ANNOTATION = "org.pycontainer.network"
DEFAULT_STATE_DIR = "/var/lib/pycontainer/network"
DEFAULTS = {
    "mode": "bridge", "network": "pyc", "bridge": "pyc0", "subnet": "10.89.0.0/24",
    "gateway": None, "ip": None, "mtu": 1500, "ports": [], "masquerade": True,
    "hostname": None, "dns": None, "dns_search": None, "dns_options": None,
    "extra_hosts": {}, "state_dir": DEFAULT_STATE_DIR, "nft_table": "pycontainer",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class Mode(NamedTuple):
    kind: str            # none | host | bridge | container | netns
    ref: str | None = None   # container id or netns path


def parse_mode(text: str) -> Mode:
    """``none|host|bridge|container:<id>|ns:<path>|/path`` → Mode; NetworkError otherwise."""
    s = (text or "").strip() if isinstance(text, str) else text
    if s in ("none", "host", "bridge"):
        return Mode(s)
    if isinstance(s, str) and s.startswith("container:") and len(s) > len("container:"):
        return Mode("container", s[len("container:"):])
    if isinstance(s, str) and s.startswith(("ns:", "netns:")):
        s = s.split(":", 1)[1]
    if isinstance(s, str) and s.startswith("/") and ".." not in s.split("/"):
        return Mode("netns", s)
    raise NetworkError(f"unknown network mode {text!r}: use none, host, bridge, container:<id> "
                       "or ns:<path>", stage="network")


def parse_request(value) -> dict:
    """A mode string, a JSON text or a dict → a complete, checked request dict."""
    if value is None:
        value = {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise NetworkError(f"{ANNOTATION}: malformed JSON ({exc})", stage="network") from None
        else:
            value = {"mode": text}
    if not isinstance(value, dict):
        raise NetworkError(f"network request must be a mode string or an object, not {value!r}",
                           stage="network")
    unknown = set(value) - set(DEFAULTS)
    if unknown:
        raise NetworkError(f"unknown network option(s) {sorted(unknown)}: known are "
                           f"{sorted(DEFAULTS)}", stage="network")
    req = {**DEFAULTS, **value}
    m = req["mode"]
    req["mode"] = Mode(*m) if isinstance(m, (list, tuple)) else parse_mode(m)
    if not _NAME_RE.match(str(req["network"])):
        raise NetworkError(f"invalid network name {req['network']!r}", stage="network")
    if not _IFNAME_RE.match(str(req["bridge"])):
        raise NetworkError(f"invalid bridge name {req['bridge']!r}: 1-15 of [A-Za-z0-9_.-]",
                           stage="network")
    if isinstance(req["ports"], str):
        req["ports"] = [req["ports"]]
    if req["ports"] and req["mode"].kind != "bridge":
        raise NetworkError(f"ports can only be published in bridge mode, not "
                           f"{req['mode'].kind}", stage="network")
    from .nat import parse_port
    req["ports"] = [parse_port(p) for p in req["ports"]]
    return req


def from_annotations(annotations: dict | None) -> dict | None:
    """The request in an OCI spec's annotations, or None when there is none."""
    if annotations and ANNOTATION in annotations:
        return parse_request(annotations[ANNOTATION])
    return None


class Plan:
    """A parsed request bound to the module functions: what the runtime holds.

    ``plan = for_annotation(value)``; then ``plan.setup(id, pid)`` → saved,
    ``plan.teardown(id, saved)`` (same as the module-level :func:`teardown`).
    """

    def __init__(self, request):
        self.request = parse_request(request)

    @property
    def mode(self) -> Mode:
        return self.request["mode"]

    def namespace_action(self):
        return namespace_action(self.request)

    def preload(self) -> None:
        preload(self.request)

    def setup(self, container_id: str, pid, files_dir: str | None = None) -> dict:
        return setup(container_id, pid, self.request, files_dir=files_dir)

    def teardown(self, container_id: str, saved: dict | None) -> None:
        teardown(container_id, saved)

    def pending(self) -> dict:
        """What the runtime records *before* setup: enough for :func:`teardown` to
        undo a setup that was killed half-way (``delete --force`` after kill -9)."""
        r = self.request
        if r["mode"].kind != "bridge":
            return {"mode": r["mode"].kind}
        return {"mode": "bridge", "pending": True, "network": r["network"], "subnet": r["subnet"],
                "gateway": r["gateway"], "state_dir": r["state_dir"], "nft_table": r["nft_table"]}

    def __repr__(self):
        return f"Plan({self.mode})"


def for_annotation(value) -> Plan:
    """The value of ``org.pycontainer.network`` (mode string or JSON) → a :class:`Plan`."""
    return Plan(value)


def namespace_action(req: dict) -> tuple[str, str | None]:
    """What stage 1 does with the network namespace: ("new"|"host"|"join", path).

    For ``container:<id>`` the path is ``None`` here: the runtime resolves
    the other container's init pid and joins ``/proc/<pid>/ns/net``.
    """
    mode = req["mode"] if isinstance(req, dict) else parse_mode(req)
    if mode.kind == "host":
        return ("host", None)
    if mode.kind == "netns":
        return ("join", mode.ref)
    if mode.kind == "container":
        return ("join", None)
    return ("new", None)


def preload(req: dict) -> None:
    """Start importing pyroute2 in a daemon thread (bridge mode only).

    Call it after the runtime's last fork: a thread that holds the import
    lock must not be forked. :func:`setup` then finds pyroute2 imported.
    """
    if req["mode"].kind != "bridge":
        return
    import threading

    def imp():
        try:
            import pyroute2.iproute  # noqa: F401
            import pyroute2.netlink.exceptions  # noqa: F401
        except Exception:
            pass   # setup() will report it
    threading.Thread(target=imp, name="pyc-preload", daemon=True).start()


def loopback(target) -> None:
    """Bring ``lo`` up in the netns of ``target`` (pid or path); no pyroute2."""
    from . import netns
    netns.lo_up(netns.path_of(target))


# -- setup / teardown --------------------------------------------------------------------

def setup(container_id: str, pid, request, files_dir: str | None = None) -> dict:
    """Network the container whose init is ``pid`` (or netns path) as ``request`` asks.

    Returns a JSON-able dict of what was made, for :func:`teardown`. On any
    failure everything made so far is undone and NetworkError raised.
    """
    from .ipam import check_id
    check_id(container_id)
    req = parse_request(request)
    mode = req["mode"]
    saved = {"mode": mode.kind, "ref": mode.ref}
    name = req["hostname"] or container_id[:12]
    with trace.step("network setup", container=container_id, mode=mode.kind):
        if mode.kind == "none":
            if pid is not None:
                loopback(pid)
            contents = _contents(req, name, None, keep_loopback=False)
        elif mode.kind == "host":
            contents = _contents(req, name, None, keep_loopback=True)
        elif mode.kind == "bridge":
            saved.update(_setup_bridge(container_id, pid, req))
            contents = _contents(req, name, saved["ip"], keep_loopback=False)
        else:   # container / netns: someone else owns that namespace's setup
            contents = {}
        if files_dir and contents:
            from . import files
            saved["files"] = files.write(files_dir, contents)
    return saved


def _contents(req, name, ip, keep_loopback):
    from . import files
    return {"/etc/hosts": files.hosts(name, ip, req["extra_hosts"]),
            "/etc/hostname": files.hostname(name),
            "/etc/resolv.conf": files.resolv_conf(req["dns"], req["dns_search"], req["dns_options"],
                                                  keep_loopback=keep_loopback)}


def _network(req) -> dict:
    """The network's fixed config: written by its first user, checked by the others."""
    import ipaddress
    directory = os.path.join(req["state_dir"], req["network"])
    try:
        subnet = ipaddress.IPv4Network(req["subnet"], strict=True)
    except ValueError as exc:
        raise NetworkError(f"invalid subnet {req['subnet']!r}: {exc}", stage="network") from None
    gw = req["gateway"] or str(subnet.network_address + 1)
    want = {"name": req["network"], "bridge": req["bridge"], "subnet": str(subnet), "gateway": gw,
            "mtu": int(req["mtu"]), "nft_table": req["nft_table"],
            "masquerade": bool(req["masquerade"])}
    path = os.path.join(directory, "network.json")
    try:
        with open(path) as f:
            have = json.load(f)
    except FileNotFoundError:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(want, f, indent=1)
        try:
            os.link(tmp, path)   # first writer wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        with open(path) as f:
            have = json.load(f)
    except (OSError, ValueError) as exc:
        raise NetworkError(f"read network config {path!r}: {exc}", stage="network") from None
    for k in ("bridge", "subnet", "gateway", "mtu", "nft_table", "masquerade"):
        if req.get(k) is None or req[k] == DEFAULTS[k]:
            continue   # not asked for: the network's own value holds
        if str(have.get(k)) != str(want[k]):
            raise NetworkError(f"network {req['network']!r} exists with {k}={have.get(k)}, "
                               f"not {want[k]}: use another network name", stage="network")
    have["dir"] = directory
    return have


def _setup_bridge(container_id: str, pid, req) -> dict:
    import ipaddress

    from . import bridge, nat
    from .ipam import Ipam
    net = _network(req)
    ipam = Ipam(net["dir"], net["subnet"], net["gateway"])
    prefixlen = ipaddress.IPv4Network(net["subnet"]).prefixlen
    ports = req["ports"]
    made = {"network": net["name"], "bridge": net["bridge"], "subnet": net["subnet"],
            "gateway": net["gateway"], "prefixlen": prefixlen, "nft_table": net["nft_table"],
            "state_dir": req["state_dir"], "ports": ports}
    undo = []
    try:
        nat.check_free(ports)
        with trace.step("ipam reserve", network=net["name"], container=container_id):
            ip = str(ipam.reserve(container_id, want=req["ip"]))
        undo.append(lambda: ipam.release(container_id))
        made["ip"] = ip
        with bridge.iproute() as ipr:
            br, fresh = bridge.ensure_bridge(ipr, net["bridge"], net["gateway"], prefixlen,
                                             net["mtu"])
            made["host_ifname"] = bridge.veth_name(container_id)
            undo.append(lambda: bridge.detach(made["host_ifname"]))
            made.update(bridge.attach(ipr, container_id, pid, br, ip, prefixlen,
                                      net["gateway"], net["mtu"]))
        if fresh or ports:
            nat.setup(net["nft_table"], net["subnet"], container_id, ip, ports,
                      masquerade=net.get("masquerade", True), fresh=fresh)
        if fresh and net.get("masquerade", True):
            # masquerade to other networks needs routing between interfaces
            bridge.write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    except BaseException as exc:
        for fn in reversed(undo):
            try:
                fn()
            except Exception:
                pass
        if isinstance(exc, NetworkError) or not isinstance(exc, Exception):
            raise
        raise NetworkError(f"bridge setup for {container_id!r}: {exc}", stage="network") from exc
    return made


def teardown(container_id: str, saved: dict | None) -> None:
    """Undo :func:`setup`: ports, veth, lease, files. Tolerant and idempotent."""
    if not saved or saved.get("mode") != "bridge":
        _remove_files(saved)
        return
    from . import bridge, nat
    from .ipam import Ipam
    errors = []
    with trace.step("network teardown", container=container_id, mode="bridge"):
        ports = saved.get("ports")
        if saved.get("pending"):
            # setup was killed half-way: find what it published by the container's id
            table = nat.list_table(saved["nft_table"]) or {}
            ports = [p for p in table.get("ports", []) if p["container_id"] == container_id]
        for p in ports or []:
            try:
                nat.remove_ports(saved["nft_table"], container_id,
                                 p.get("container_ip", saved.get("ip")), [p])
            except NetworkError as exc:
                errors.append(str(exc))
        veth = saved.get("host_ifname") or bridge.veth_name(container_id)
        if os.path.exists(f"/sys/class/net/{veth}"):
            try:
                bridge.detach(veth)
            except NetworkError as exc:
                errors.append(str(exc))
        else:
            # the container's netns died with its last process and took the
            # veth pair along: no netlink needed, no pyroute2 import (~150 ms)
            trace.event("veth already gone", ifname=veth)
        directory = os.path.join(saved.get("state_dir", DEFAULT_STATE_DIR), saved["network"])
        try:
            with trace.step("ipam release", network=saved["network"], container=container_id):
                Ipam(directory, saved["subnet"], saved.get("gateway")).release(container_id)
        except NetworkError as exc:
            errors.append(str(exc))
        _remove_files(saved)
    if errors:
        raise NetworkError(f"teardown of {container_id!r} left something behind: "
                           f"{'; '.join(errors)}; run `pycontainer network gc`", stage="network")


def _remove_files(saved):
    for path in (saved or {}).get("files", {}).values():
        try:
            os.unlink(path)
        except OSError:
            pass


# -- networks: listing and garbage collection ------------------------------------------------

def networks(state_dir: str = DEFAULT_STATE_DIR) -> list[dict]:
    """Every network that has a config under ``state_dir``, with its leases."""
    from .ipam import Ipam
    out = []
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return out
    for name in names:
        path = os.path.join(state_dir, name, "network.json")
        try:
            with open(path) as f:
                net = json.load(f)
        except (OSError, ValueError):
            continue
        net["leases"] = Ipam(os.path.join(state_dir, name), net["subnet"], net["gateway"]).leases()
        out.append(net)
    return out


def inspect(name: str, state_dir: str = DEFAULT_STATE_DIR) -> dict:
    """A network's config, leases, the interfaces on its bridge and its nft state."""
    from . import bridge, nat
    for net in networks(state_dir):
        if net["name"] == name:
            net["bridge_exists"] = bridge.exists(net["bridge"])
            net["bridge_ports"] = bridge.ports_on(net["bridge"]) if net["bridge_exists"] else []
            net["nft"] = nat.list_table(net["nft_table"])
            return net
    raise NetworkError(f"no network {name!r} under {state_dir}: see `pycontainer network ls`",
                       stage="network")


def gc(live_ids, state_dir: str = DEFAULT_STATE_DIR, prune: bool = False) -> dict:
    """Reclaim what containers not in ``live_ids`` left: leases, veths, published ports.

    ``live_ids`` must include containers being created right now. ``prune``
    also removes networks left with no lease (bridge, nft elements, config).
    Returns ``{network: {"leases": {...}, "veths": [...], "ports": [...]}}``.
    """
    from . import bridge, nat
    from .ipam import Ipam
    live = set(live_ids)
    report = {}
    with trace.step("network gc", live=len(live)):
        for net in networks(state_dir):
            ipam = Ipam(os.path.join(state_dir, net["name"]), net["subnet"], net["gateway"])
            # A lease whose veth is still plugged in belongs to a container whose
            # netns is alive, perhaps under another --root: never reclaim it.
            plugged = set(bridge.ports_on(net["bridge"]))
            alive = live | {c for c in ipam.leases().values() if bridge.veth_name(c) in plugged}
            rep = {"leases": ipam.gc(alive), "veths": [], "ports": []}
            for v in bridge.orphans(net["bridge"], alive):
                bridge.detach(v)
                rep["veths"].append(v)
            rep["ports"] = nat.gc(net["nft_table"], alive)
            if ipam.leases() and nat.list_table(net["nft_table"]) is None:
                # the table vanished (nft flush ruleset?) under live containers: rebuild it
                nat.setup(net["nft_table"], net["subnet"], "", None, [],
                          masquerade=net.get("masquerade", True), fresh=True)
                rep["nft_rebuilt"] = True
            if prune and not ipam.leases():
                rep["removed"] = remove_network(net["name"], state_dir)
            report[net["name"]] = rep
    return report


def remove_network(name: str, state_dir: str = DEFAULT_STATE_DIR) -> bool:
    """Delete a network with no lease: its bridge, its masquerade element, its config.

    The nft table goes too once no network uses it.
    """
    import shutil

    from . import bridge, nat
    nets = {n["name"]: n for n in networks(state_dir)}
    net = nets.get(name)
    if net is None:
        return False
    if net["leases"]:
        raise NetworkError(f"network {name!r} still has {len(net['leases'])} lease(s): delete "
                           "those containers or run `pycontainer network gc`", stage="network")
    bridge.delete_bridge(net["bridge"])
    nat.remove_subnet(net["nft_table"], net["subnet"])
    shutil.rmtree(os.path.join(state_dir, name), ignore_errors=True)
    return True
