"""``network connect`` / ``network disconnect``: a running container on one more user-defined network.

A container's network namespace can hold any number of interfaces. To
connect one to a further network is to add a veth pair whose container end
(``eth1``, ``eth2`` ...) is moved into the container's namespace and whose
host end is plugged into that network's bridge, with an address from that
network's pool (or ``--ip``): ``network.connect`` does the kernel part
(rtnetlink, as for the first network), with no default route (the first
network keeps it; a ``--network none`` container, or one whose first network
is ``--internal``, gets it from the first other network it is connected to). Disconnecting deletes the host end, which takes
the pair with it (veth(4)), and releases the lease.

What was made is kept in the container's runtime state, under
``network["attached"][NAME]``: so ``stop`` (release-network), ``rm`` and
``delete`` give it back with the first network (``network.teardown``).
``<container dir>/networks.json`` remembers ``{NAME: {"aliases", "ip"}}``
so ``start`` connects it again, as docker does.

Name resolution stays /etc/hosts (network/userdefined.py): after a change
every member of the network, and the container itself, get their hosts file
rewritten with a line per peer on each network they share
(``lifecycle.refresh_hosts``).

Read: docker's "docker network connect" and "docker network disconnect"
reference pages; veth(4), ip-link(8).
"""

from __future__ import annotations

import json
import os

from .errors import NetworkError

FILE = "networks.json"


def wanted(cdir: str) -> dict:
    try:
        with open(os.path.join(cdir, FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _remember(cdir: str, want: dict) -> None:
    from . import atomicfile
    atomicfile.write_json(os.path.join(cdir, FILE), want)


def _container(root: str, cid: str):
    """(cid, its dir, its locked StateDir or None) of a docker-made container."""
    from . import inspect as insp
    from . import state as st
    cdir = insp.owned_dir(root, cid) or os.path.join(insp.containers_dir(), cid)
    if not os.path.isdir(os.path.join(root, cid)):
        return cid, cdir, None                  # a stopped container kept as a directory
    sd = st.StateDir(root, cid)
    sd.lock()
    return cid, cdir, sd


def _primary(cdir: str) -> str | None:
    from . import inspect as insp
    return insp.options_of(insp.config_of(cdir)).get("user_network")


def check_network(network: str, verb: str) -> None:
    """Raise unless ``network`` is a user-defined network (the predefined ones are fixed)."""
    from .network import userdefined
    if userdefined.get(network) is None:
        raise NetworkError(f"network {network} not found" if network not in ("bridge", "host", "none")
                           else f"network {verb} {network}: only user-defined networks can be "
                           "connected and disconnected", stage="network")


def connect(root: str, network: str, ref: str, aliases=(), ip: str | None = None) -> None:
    """docker network connect [--alias A] [--ip IP] NETWORK CONTAINER (a running one);
    ``ref``: the container's ID (resolved by the caller)."""
    from . import state as st
    from .network import userdefined
    check_network(network, "connect")
    cid, cdir, sd = _container(root, ref)
    if sd is None:
        raise NetworkError(f"container {ref} is not running: start it, then connect it",
                           stage="network")
    try:
        record = sd.read()
        if st.status_of(record) not in (st.RUNNING, st.PAUSED):
            raise NetworkError(f"container {ref} is not running: start it, then connect it",
                               stage="network")
        saved = record.get("network") or {}
        if saved.get("mode") not in ("bridge", "none"):
            raise NetworkError(f"container {ref} has no network namespace of its own "
                               f"(--network {saved.get('mode') or 'host'}): it cannot be connected",
                               stage="network")
        attached = dict(saved.get("attached") or {})
        if network in attached or _primary(cdir) == network:
            raise NetworkError(f"endpoint with name {cid} already exists in network {network}",
                               stage="network")
        made = _attach(cid, record["pid"], network, saved, attached, ip)
        attached[network] = made
        saved["attached"] = attached
        record["network"] = saved
        sd.write(record)
        from .inspect import name_of
        userdefined.set_aliases(network, cid, [name_of(cdir, cid), *aliases])
        _remember(cdir, dict(wanted(cdir), **{network: {"aliases": list(aliases), "ip": ip}}))
    finally:
        sd.unlock()
    refresh_hosts(network, also=[cid])
    _event("connect", network, cid)


def _attach(cid: str, pid: int, network: str, saved: dict, attached: dict, ip) -> dict:
    from . import network as net
    from .network import userdefined
    used = {a.get("ifname") for a in attached.values()} | ({"eth0"} if saved.get("mode") == "bridge"
                                                          else set())
    ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
    req = dict(userdefined.request(network), ip=ip)
    if ip:
        import ipaddress
        try:
            ok = ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(req["subnet"])
        except ValueError:
            ok = False
        if not ok:
            raise NetworkError(f"--ip {ip}: not an address of {network} ({req['subnet']})",
                               stage="network")
    want = not _has_default_route(saved, attached)          # (an internal network gives none)
    made = net.connect(cid, pid, req, ifname, want)
    made["default_route"] = want and not (userdefined.get(network) or {}).get("internal")
    return made


def _has_default_route(saved: dict, attached: dict) -> bool:
    """Whether the container has a way out already: its first network's (unless that is
    ``--internal`` or none), or one a connect gave it. docker gives the default route to the
    first network that can have one, so a container run on an internal network gets it
    from the first other network it is connected to."""
    from .network import userdefined
    if saved.get("mode") == "bridge":
        first = userdefined.get(saved.get("network") or "") or {}
        if not first.get("internal"):
            return True
    return any(a.get("default_route") for a in attached.values())


def disconnect(root: str, network: str, ref: str, force: bool = False) -> None:
    """docker network disconnect [-f] NETWORK CONTAINER (``ref``: its ID)."""
    from . import network as net
    from .network import userdefined
    check_network(network, "disconnect")
    cid, cdir, sd = _container(root, ref)
    try:
        record = sd.read() if sd is not None else {}
        saved = record.get("network") or {}
        attached = dict(saved.get("attached") or {})
        want = wanted(cdir)
        if network not in attached and network not in want:
            if _primary(cdir) == network:
                raise NetworkError(f"container {ref} was run with --network {network}: it cannot "
                                   "be disconnected from it", stage="network")
            raise NetworkError(f"container {ref} is not connected to network {network}",
                               stage="network")
        if network in attached:
            try:
                net.teardown(cid, attached[network])
            except NetworkError:
                if not force:
                    raise
            del attached[network]
            saved["attached"] = attached
            record["network"] = saved
            sd.write(record)
        want.pop(network, None)
        _remember(cdir, want)
        userdefined.drop_aliases(network, cid)
    finally:
        if sd is not None:
            sd.unlock()
    refresh_hosts(network, also=[cid])
    _event("disconnect", network, cid)


def _event(action: str, network: str, cid: str) -> None:
    from .events import record
    from .network import userdefined
    record("network", action, (userdefined.get(network) or {}).get("id", network), name=network,
           container=cid, type="bridge")


def reconnect(root: str, cid: str) -> None:
    """After ``start``: connect again to the networks ``network connect`` added (best effort:
    a network removed meanwhile, or an --ip taken meanwhile, is skipped)."""
    from . import inspect as insp
    from .errors import PyContainerError
    cdir = insp.owned_dir(root, cid)
    for name, w in (wanted(cdir) if cdir else {}).items():
        try:
            connect(root, name, cid, w.get("aliases") or (), w.get("ip"))
        except PyContainerError:
            continue


def renamed(cid: str, cdir: str, old: str, new: str) -> None:
    """After ``rename``: the container answers to its new name on each user-defined network
    it is on (docker's embedded DNS follows a rename; here the members' /etc/hosts do)."""
    from .network import userdefined
    for network in {_primary(cdir), *wanted(cdir)} - {None}:
        names = userdefined.aliases(network, cid)
        if old in names:
            userdefined.set_aliases(network, cid, [new if n == old else n for n in names])
            refresh_hosts(network, also=[cid])


def refresh_hosts(network_name: str, also=()) -> None:
    """Rewrite the /etc/hosts of every member of a user-defined network (after a change),
    and of the containers ``also``: a line per peer on each network a member is on (the
    one it was run with and those ``network connect`` added)."""
    from . import inspect as insp
    from . import state as st
    from .errors import PyContainerError
    from .network import files as netfiles
    from .network import userdefined
    from .run_flags import added_hosts
    if userdefined.get(network_name) is None:
        return
    for cid in {*userdefined.members(network_name).values(), *also}:
        cdir = os.path.join(insp.containers_dir(), cid)
        try:
            with open(os.path.join(cdir, "root")) as f:
                owner = f.read().strip()
            net = st.StateDir(owner, cid).read().get("network") or {}
        except (OSError, PyContainerError):
            continue
        path = (net.get("files") or {}).get("/etc/hosts")
        attached = net.get("attached") or {}
        own = [net["network"]] if net.get("mode") == "bridge" and net.get("network") else []
        ip = net.get("ip") or next((a.get("ip") for a in attached.values()), None)
        peers = {}
        for name in [*attached, *own]:
            peers.update(userdefined.peers(name, cid))
        if path:
            cfg = insp.config_of(cdir)
            hostname = cfg.get("hostname") or cid[:12]
            try:                            # --add-host lines stay (docker keeps ExtraHosts)
                peers.update(added_hosts(insp.options_of(cfg).get("add_host") or ()))
            except PyContainerError:
                pass
            userdefined.rewrite_hosts(path, netfiles.hosts(hostname, ip, peers))
