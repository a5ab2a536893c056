"""The networks themselves: each one's fixed config, listing, inspection, garbage collection, removal.

A network (default ``pyc``: bridge ``pyc0``, subnet 10.89.0.0/24) is fixed
by its first user, who writes ``<state_dir>/<network>/network.json`` (first
writer wins, by link(2)); later requests that ask for another bridge,
subnet or gateway under the same name are refused. ``gc`` reclaims the
leases, veths and published ports of containers that no longer exist.
"""

from __future__ import annotations

import os

from .. import jsonio, trace
from ..errors import NetworkError
from .request import DEFAULT_STATE_DIR, DEFAULTS


def config(req) -> dict:
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
            have = jsonio.loads(f.read())
    except FileNotFoundError:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        import json                 # written once per network: json's indent
        with open(tmp, "w") as f:
            json.dump(want, f, indent=1)
        try:
            os.link(tmp, path)   # first writer wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        with open(path) as f:
            have = jsonio.loads(f.read())
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
                net = jsonio.loads(f.read())
        except (OSError, ValueError):
            continue
        net["leases"] = Ipam(os.path.join(state_dir, name), net["subnet"], net["gateway"]).leases()
        out.append(net)
    return out


def docker_id(n: dict) -> str:
    """A network's ID: the one it was made with, or a stable hash of its name (the predefined)."""
    import hashlib
    return n.get("id") or hashlib.sha256(n["name"].encode()).hexdigest()


def docker_record(name: str, state_dir: str = DEFAULT_STATE_DIR) -> dict:
    """``network inspect``'s record (docker's keys: Name, Id, Driver, IPAM, Containers, ...),
    ``name`` as docker says it (bridge is the default network, pyc here), plus ours."""
    n = inspect("pyc" if name == "bridge" else name, state_dir)
    n.update({"Name": name, "Id": docker_id(n), "Driver": "bridge", "Scope": "local",
              "Created": n.get("created", ""), "Labels": n.get("labels", {}),
              "Internal": bool(n.get("internal")), "EnableIPv6": False, "Attachable": False,
              "IPAM": {"Driver": "default", "Config": [{"Subnet": n["subnet"], "Gateway": n["gateway"]}]},
              "Containers": {cid: {"Name": _container_name(cid),
                                   "IPv4Address": f"{ip}/{n['subnet'].split('/')[1]}"}
                             for ip, cid in n["leases"].items()}})
    return n


def _container_name(cid: str) -> str:
    """The name docker shows for a lease's container: the one rename or docker's generator
    kept in its directory (inspect.py reads the same file), else its ID."""
    from ..containerdir import path
    try:
        with open(os.path.join(path(cid), "name")) as f:
            return f.read().strip() or cid
    except OSError:
        return cid


def inspect(name: str, state_dir: str = DEFAULT_STATE_DIR) -> dict:
    """A network's config, leases, the interfaces on its bridge and its nft state."""
    from . import bridge, nat
    for net in networks(state_dir):
        if net["name"] == name:
            net["bridge_exists"] = bridge.exists(net["bridge"])
            net["bridge_ports"] = bridge.ports_on(net["bridge"]) if net["bridge_exists"] else []
            net["nft"] = nat.list_table(net["nft_table"])
            return net
    from .request import DEFAULTS
    if name == DEFAULTS["network"]:        # the default bridge exists before its first container
        import ipaddress
        subnet = ipaddress.ip_network(DEFAULTS["subnet"])
        return {"name": name, "bridge": DEFAULTS["bridge"], "subnet": str(subnet),
                "gateway": str(next(subnet.hosts())), "nft_table": DEFAULTS["nft_table"],
                "leases": {}, "bridge_exists": bridge.exists(DEFAULTS["bridge"]),
                "bridge_ports": [], "nft": None}
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
    with trace.step("network gc", "pycontainer network gc", live=len(live)):
        for net in networks(state_dir):
            ipam = Ipam(os.path.join(state_dir, net["name"]), net["subnet"], net["gateway"])
            # A lease whose veth is still plugged in belongs to a container whose
            # netns is alive, perhaps under another --root: never reclaim it.
            plugged = set(bridge.ports_on(net["bridge"]))
            alive = live | {c for c in ipam.leases().values() if bridge.veth_name(c) in plugged
                            or bridge.veth_name(c, net["name"]) in plugged}
            rep = {"leases": ipam.gc(alive), "veths": [], "ports": []}
            for v in bridge.orphans(net["bridge"], alive, net["name"]):
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
    if len(nets) == 1:                     # the last network: the egress table goes too
        from . import egress
        egress.drop_if_unused(net["nft_table"])
    return True
