"""``pycontainer network create|ls|rm|inspect|connect|disconnect|gc``: docker's network verbs and the bridges' state.

Thin click commands over :mod:`pycontainer.network` and
:mod:`pycontainer.network.userdefined`; registered by the main CLI with
``cli.add_command(network.cli.network)``. Errors are one line, exit 125
(``DockerGroup``). ``gc`` needs the ids of live containers: the main CLI
provides them as ``ctx.obj["network_live_ids"]`` (a callable), or they are
given with ``--live``. ``connect``/``disconnect``: :mod:`pycontainer.netconnect`.
"""

from __future__ import annotations

import json

import click

from .. import network as net
from ..dockercli import DockerGroup
from ..errors import NetworkError
from .networks import docker_id

_state_dir = click.option("--state-dir", default=net.DEFAULT_STATE_DIR, show_default=True,
                          help="where networks keep their config and leases")
_json = click.option("--json", "as_json", is_flag=True, help="print JSON")


@click.group("network", cls=DockerGroup)
def network():
    """Bridge networks: the default one (bridge = pyc0) and user-defined ones."""


@network.command("create")
@click.option("--driver", "-d", default="bridge", help="Only 'bridge'.")
@click.option("--subnet", default=None, help="IPv4 CIDR [default: a free /24 of 10.90.0.0/16].")
@click.option("--gateway", default=None, help="[default: the subnet's first address]")
@click.option("--label", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--internal", is_flag=True, help="No way out: no default route, nothing forwarded "
              "across the bridge's edge.")
@_state_dir
@click.argument("name")
def create(driver, subnet, gateway, label, internal, state_dir, name):
    """Create a user-defined bridge network (its containers resolve each other by name)."""
    from . import userdefined
    if driver != "bridge":
        raise NetworkError(f"network create --driver {driver}: only 'bridge' exists", stage="network")
    cfg = userdefined.create(name, subnet=subnet, gateway=gateway, state_dir=state_dir, internal=internal,
                             labels=dict(lb.split("=", 1) if "=" in lb else (lb, "") for lb in label))
    click.echo(cfg["id"])


@network.command("ls")
@click.option("--quiet", "-q", is_flag=True, help="Only network IDs.")
@click.option("--format", "fmt", default=None, help="A Go template, or 'table TEMPLATE' (docker's).")
@click.option("--filter", "-f", "filters", multiple=True,
              help="driver=, id=, label=K[=V], name=REGEX, scope=local, type=custom|builtin, "
                   "dangling=true|false (docker's).")
@_state_dir
@_json
def ls(quiet, fmt, filters, state_dir, as_json):
    """List networks: docker's columns, then the subnet and the number of leases
    (bridge is the default network, pyc on pyc0)."""
    from ..image.listing import parse_filters
    flt = parse_filters(filters, ("driver", "id", "label", "name", "scope", "type", "dangling"))
    nets = net.networks(state_dir)
    if not any(n["name"] == "pyc" for n in nets):   # the default bridge, before its first use
        nets.append(net.inspect("pyc", state_dir))
    nets = [n for n in nets if _net_matches(n, flt)]
    if as_json:
        click.echo(json.dumps(nets, indent=1))
        return
    rows = [(docker_id(n)[:12], "bridge" if n["name"] == "pyc" else n["name"], "bridge", "local",
             n["subnet"], str(len(n["leases"]))) for n in nets]
    rows += [(docker_id({"name": m})[:12], m, m if m != "none" else "null", "local", "-", "-")
             for m in ("host", "none") if _net_matches({"name": m, "leases": {}}, flt)]
    rows.sort(key=lambda r: r[1])                 # docker's order: by name
    if quiet:
        for r in rows:
            click.echo(r[0])
        return
    if fmt:                                       # docker's fields: {{.ID}} {{.Name}} {{.Driver}} ...
        from ..gotemplate import listing
        keys = ("ID", "Name", "Driver", "Scope", "Subnet", "Leases")
        heads = dict(zip(keys, ("NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET", "LEASES")))
        for line in listing(fmt, [dict(zip(keys, r)) for r in rows], heads):
            click.echo(line)
        return
    click.echo(f"{'NETWORK ID':<15}{'NAME':<20}{'DRIVER':<10}{'SCOPE':<8}{'SUBNET':<19}LEASES")
    for r in rows:
        click.echo(f"{r[0]:<15}{r[1]:<20}{r[2]:<10}{r[3]:<8}{r[4]:<19}{r[5]}")


@network.command("inspect")
@click.option("--format", "-f", "fmt", default=None, help="A template, e.g. '{{.IPAM}}'.")
@click.argument("names", nargs=-1)
@_state_dir
def inspect(fmt, names, state_dir):
    """Show networks: docker's keys, plus leases, bridge ports and nft elements."""
    from .networks import docker_record
    out = [docker_record(name, state_dir) for name in names or ("bridge",)]
    if fmt:
        from ..inspect import format as render
        for n in out:
            click.echo(render(fmt, n))
    else:
        click.echo(json.dumps(out, indent=1))


@network.command("rm")
@_state_dir
@click.argument("names", nargs=-1, required=True)
def rm(state_dir, names):
    """Remove user-defined networks that no container uses."""
    from . import userdefined
    for name in names:                 # check all first: nothing changes on a bad one
        if userdefined.get(name, state_dir) is None:
            raise NetworkError(f"no such network: {name}" if name not in ("bridge", "host", "none")
                               else f"{name} is a predefined network and cannot be removed",
                               stage="network")
        if userdefined.members(name, state_dir):
            userdefined.remove(name, state_dir)            # raises: in use
    for name in names:
        userdefined.remove(name, state_dir)
        click.echo(name)


@network.command("prune")
@click.option("--force", "-f", is_flag=True, help="Do not ask.")
@_state_dir
def prune(force, state_dir):
    """Remove the user-defined networks no container uses (docker network prune)."""
    from ..dockercli import confirm_prune
    from . import userdefined
    confirm_prune("all custom networks not used by at least one container", force)
    gone = []
    for n in net.networks(state_dir):
        if n.get("user_defined"):
            try:
                userdefined.remove(n["name"], state_dir)
            except NetworkError:
                continue                                 # in use: a container holds a lease
            gone.append(n["name"])
    if gone:
        click.echo("Deleted Networks:")
        for name in gone:
            click.echo(name)


def _docker(ctx, ref: str) -> tuple[str, str]:
    """(state root, container ID) for a docker-made container named ``ref``."""
    from ..inspect import resolve_id
    obj = ctx.find_object(dict)
    root = getattr(obj, "root", None) or "/run/pycontainer"
    return root, resolve_id(root, ref)


@network.command("connect")
@click.option("--alias", multiple=True, help="Another name it answers to on NETWORK (repeatable).")
@click.option("--ip", default=None, help="A fixed IPv4 address of NETWORK's subnet.")
@click.argument("network_name")
@click.argument("container")
@click.pass_context
def connect(ctx, alias, ip, network_name, container):
    """Connect a running container to a user-defined network (one more interface, eth1...)."""
    from .. import netconnect
    netconnect.check_network(network_name, "connect")     # before the container: docker's order
    root, cid = _docker(ctx, container)
    netconnect.connect(root, network_name, cid, alias, ip)


@network.command("disconnect")
@click.option("--force", "-f", is_flag=True, help="Forget it even if its interface is gone.")
@click.argument("network_name")
@click.argument("container")
@click.pass_context
def disconnect(ctx, force, network_name, container):
    """Disconnect a container from a network it was connected to (network connect)."""
    from .. import netconnect
    netconnect.check_network(network_name, "disconnect")
    root, cid = _docker(ctx, container)
    netconnect.disconnect(root, network_name, cid, force)


@network.command("gc")
@click.option("--live", multiple=True, help="id of a live container (repeatable)")
@click.option("--prune", is_flag=True, help="also remove networks left with no lease")
@_state_dir
@click.pass_context
def gc(ctx, live, prune, state_dir):
    """Reclaim leases, veths and ports of containers that no longer exist."""
    provider = (ctx.obj or {}).get("network_live_ids") if isinstance(ctx.obj, dict) else None
    ids = set(live) | set(provider() if provider else [])
    if provider is None and not live:
        click.confirm("no live container ids known: reclaim everything?", abort=True)
    try:
        click.echo(json.dumps(net.gc(ids, state_dir, prune=prune), indent=1))
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None


def _net_matches(n: dict, flt: dict) -> bool:
    """docker's network ls filters (the same key ORs, different keys AND, labels AND); the
    predefined bridge, host and none are "builtin", the created ones "custom"."""
    import re
    from ..image.listing import filters_match, labels_match
    name = "bridge" if n["name"] == "pyc" else n["name"]
    builtin = name in ("bridge", "host", "none")
    tests = {"driver": lambda v: v == {"host": "host", "none": "null"}.get(name, "bridge"),
             "id": lambda v: docker_id(n).startswith(v), "name": lambda v: bool(re.search(v, name)),
             "label": lambda v: labels_match(n.get("labels") or {}, v),
             "scope": lambda v: v == "local", "type": lambda v: v == ("builtin" if builtin else "custom"),
             "dangling": lambda v: (not n.get("leases") and not builtin) == (v.lower() in ("true", "1"))}
    return filters_match(flt, tests)
