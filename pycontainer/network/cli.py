"""``pycontainer network ls|inspect|gc``: what the bridge networks hold.

Thin click commands over :mod:`pycontainer.network`; registered by the main CLI
with ``cli.add_command(network.cli.network)``. ``gc`` needs the ids of live
containers: the main CLI provides them as ``ctx.obj["network_live_ids"]`` (a
callable), or they are given with ``--live``.
"""

from __future__ import annotations

import json

import click

from .. import network as net
from ..errors import NetworkError

_state_dir = click.option("--state-dir", default=net.DEFAULT_STATE_DIR, show_default=True,
                          help="where networks keep their config and leases")
_json = click.option("--json", "as_json", is_flag=True, help="print JSON")


@click.group("network")
def network():
    """Bridge networks: bridge, subnet, leases, published ports."""


@network.command("ls")
@_state_dir
@_json
def ls(state_dir, as_json):
    """List networks with their bridge, subnet and number of leases."""
    nets = net.networks(state_dir)
    if as_json:
        click.echo(json.dumps(nets, indent=1))
        return
    click.echo(f"{'NAME':<12} {'BRIDGE':<10} {'SUBNET':<18} {'GATEWAY':<15} LEASES")
    for n in nets:
        click.echo(f"{n['name']:<12} {n['bridge']:<10} {n['subnet']:<18} {n['gateway']:<15} "
                   f"{len(n['leases'])}")


@network.command("inspect")
@click.argument("name", default="pyc")
@_state_dir
def inspect(name, state_dir):
    """Show one network: config, leases, bridge ports, nft elements (JSON)."""
    try:
        click.echo(json.dumps(net.inspect(name, state_dir), indent=1))
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None


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
