"""User-defined bridge networks (``network create NAME``) and name resolution on them.

A user-defined network is one more bridge network in the shape the package
already runs (``network.json`` under ``<state_dir>/<name>``, leases by
``ipam.py``, veths by ``bridge.py``, masquerade by ``nat.py``), made ahead of
its first container with a bridge of its own (``pycn-<8 hex>``) and a /24
from the pool 10.90.0.0/16 that no other network uses. The default network
(``pyc`` on ``pyc0``, the porcelain's ``bridge``) keeps today's behaviour:
no name resolution, as docker's default bridge.

Name resolution: /etc/hosts, kept current, rather than a DNS responder in
each namespace. The runtime already bind-mounts a per-container hosts file
(``files.py``); a container on a user-defined network gets a line per peer
(its name, ID and ``--network-alias``es), and whenever a member starts or
stops every member's file is rewritten *in place* (open, truncate, write: a
bind mount pins the inode, so ``rename`` would not show). No process, no
port, nothing to keep alive; the cost is that a program which cached the
file does not see changes (glibc re-reads it per lookup; musl too).

``--internal`` (docker's): a network with no way out. Its containers get no
default route and no masquerade, and a table of its own,
``inet pyc_internal_<8 hex>``, drops in the forward hook whatever enters from
its bridge for another interface or leaves through it from another (so a
container that adds a route itself, given CAP_NET_ADMIN, still reaches nothing
beyond its network). Traffic on the bridge, and to the host's own address on
it, is untouched. The table goes with ``network rm``.

Read: docker's "Bridge network driver" ("user-defined bridges" and
"automatic DNS resolution"), hosts(5), nft(8) ("FILTER" and the forward hook).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import time

from ..errors import NetworkError
from . import DEFAULT_STATE_DIR, networks

POOL = ipaddress.IPv4Network("10.90.0.0/16")
PREDEFINED = {"bridge": "pyc", "host": None, "none": None}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")      # the package's network-name rule


def _dir(name: str, state_dir: str) -> str:
    return os.path.join(state_dir, name)


def get(name: str, state_dir: str = DEFAULT_STATE_DIR) -> dict | None:
    """The config of the user-defined network ``name``, or None."""
    try:
        with open(os.path.join(_dir(name, state_dir), "network.json")) as f:
            net = json.load(f)
    except (OSError, ValueError):
        return None
    return net if net.get("user_defined") else None


def create(name: str, *, subnet: str | None = None, gateway: str | None = None,
           labels: dict | None = None, internal: bool = False,
           state_dir: str = DEFAULT_STATE_DIR) -> dict:
    if name in PREDEFINED or name == "pyc":
        raise NetworkError(f"network {name!r} is a predefined network", stage="network")
    if not _NAME.match(name):
        raise NetworkError(f"invalid network name {name!r}", stage="network")
    if any(n["name"] == name for n in networks(state_dir)):
        raise NetworkError(f"network with name {name} already exists", stage="network")
    taken = [ipaddress.IPv4Network(n["subnet"]) for n in networks(state_dir)]
    if subnet:
        try:
            net = ipaddress.IPv4Network(subnet, strict=True)
        except ValueError as exc:
            raise NetworkError(f"--subnet {subnet}: {exc}", stage="network") from None
        if net.num_addresses < 4:
            raise NetworkError(f"--subnet {subnet}: too small (at most /30)", stage="network")
        if any(net.overlaps(t) for t in taken):
            raise NetworkError(f"--subnet {subnet} overlaps another network's", stage="network")
    else:
        net = next((s for s in POOL.subnets(new_prefix=24) if not any(s.overlaps(t) for t in taken)),
                   None)
        if net is None:
            raise NetworkError("no free /24 left in 10.90.0.0/16: remove a network",
                               stage="network")
    if gateway:
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise NetworkError(f"--gateway {gateway}: not an IPv4 address", stage="network") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise NetworkError(f"--gateway {gateway} is not a host of {net}", stage="network")
    else:
        gw = net.network_address + 1
    nid = hashlib.sha256(f"{name}{time.time_ns()}".encode()).hexdigest()
    cfg = {"name": name, "bridge": "pycn-" + hashlib.sha256(name.encode()).hexdigest()[:8],
           "subnet": str(net), "gateway": str(gw), "mtu": 1500, "nft_table": "pycontainer",
           "masquerade": not internal, "internal": bool(internal), "user_defined": True,
           "id": nid, "labels": labels or {},
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    d = _dir(name, state_dir)
    os.makedirs(state_dir, 0o700, exist_ok=True)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        raise NetworkError(f"network with name {name} already exists", stage="network") from None
    with open(os.path.join(d, "network.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if internal:
        try:
            isolate(cfg["bridge"])
        except BaseException:
            import shutil
            shutil.rmtree(d, ignore_errors=True)
            raise
    from ..events import record
    record("network", "create", nid, name=name, type="bridge")
    return cfg


def _isolation_table(bridge: str) -> str:
    return "pyc_internal_" + bridge.rsplit("-", 1)[-1]


def isolate(bridge: str) -> None:
    """An internal network's forward-hook table: nothing crosses its bridge's edge."""
    from .nat import nft
    t = _isolation_table(bridge)
    nft(f"add table inet {t}\nflush table inet {t}\n"
        f"add chain inet {t} forward {{ type filter hook forward priority filter - 1; policy accept; }}\n"
        f'add rule inet {t} forward iifname "{bridge}" oifname != "{bridge}" drop\n'
        f'add rule inet {t} forward oifname "{bridge}" iifname != "{bridge}" drop\n',
        f"isolate internal network bridge {bridge}")


def unisolate(bridge: str) -> None:
    from .nat import nft
    try:
        nft(f"delete table inet {_isolation_table(bridge)}\n", f"delete the isolation of {bridge}")
    except NetworkError:
        pass                                      # already gone


def remove(name: str, state_dir: str = DEFAULT_STATE_DIR) -> None:
    from . import remove_network
    if name in PREDEFINED or name == "pyc":
        raise NetworkError(f"{name} is a predefined network and cannot be removed", stage="network")
    net = get(name, state_dir)
    if net is None:
        raise NetworkError(f"no such network: {name}", stage="network")
    users = members(name, state_dir)
    if users:
        raise NetworkError(f"network {name} has active endpoints ({', '.join(sorted(users.values()))})"
                           ": stop or remove those containers", stage="network")
    remove_network(name, state_dir)
    if net.get("internal"):
        unisolate(net["bridge"])
    from ..events import record
    record("network", "destroy", net.get("id", name), name=name, type="bridge")


def request(name: str, state_dir: str = DEFAULT_STATE_DIR) -> dict | None:
    """The network-request keys that put a container on ``name`` (None: not user-defined)."""
    net = get(name, state_dir)
    if net is None:
        return None
    return {"mode": "bridge", "network": name, "bridge": net["bridge"], "subnet": net["subnet"],
            "gateway": net["gateway"]}


# --- members and their names ------------------------------------------------------------------

def members(name: str, state_dir: str = DEFAULT_STATE_DIR) -> dict[str, str]:
    """{ip: container_id} of the network's current leases."""
    from .ipam import Ipam
    net = get(name, state_dir)
    if net is None:
        return {}
    return Ipam(_dir(name, state_dir), net["subnet"], net["gateway"]).leases()


def set_aliases(name: str, container_id: str, names: list[str],
                state_dir: str = DEFAULT_STATE_DIR) -> None:
    """Record the names (container name, --network-alias) a member answers to."""
    d = os.path.join(_dir(name, state_dir), "names")
    os.makedirs(d, 0o700, exist_ok=True)
    from .. import atomicfile
    atomicfile.write_json(os.path.join(d, container_id), names)


def aliases(name: str, container_id: str, state_dir: str = DEFAULT_STATE_DIR) -> list[str]:
    """The names ``set_aliases`` recorded for a member ([] if none)."""
    try:
        with open(os.path.join(_dir(name, state_dir), "names", container_id)) as f:
            return [n for n in json.load(f) if isinstance(n, str)]
    except (OSError, ValueError, TypeError):
        return []


def drop_aliases(name: str, container_id: str, state_dir: str = DEFAULT_STATE_DIR) -> None:
    try:
        os.unlink(os.path.join(_dir(name, state_dir), "names", container_id))
    except OSError:
        pass


def _names_of(name: str, cid: str, state_dir: str) -> list[str]:
    out = []
    for n in [*aliases(name, cid, state_dir), cid, cid[:12]]:
        if n not in out:
            out.append(n)
    return out


def peers(name: str, exclude: str | None = None, state_dir: str = DEFAULT_STATE_DIR) -> dict:
    """{hostname: ip} for every member but ``exclude`` (the /etc/hosts lines of a member)."""
    out = {}
    for ip, cid in members(name, state_dir).items():
        if cid != exclude:
            for n in _names_of(name, cid, state_dir):
                out[n] = ip
    return out


def rewrite_hosts(path: str, text: str) -> bool:
    """Replace a bind-mounted hosts file's content in place (the mount pins the inode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
    finally:
        os.close(fd)
    return True
