"""``volume create|ls|rm|inspect|prune``: docker's verbs over ``volumes.py``.

Errors are one line and exit 125 (``DockerGroup``); ``rm`` of a volume a
container uses is refused, and ``prune`` skips such volumes.
"""

from __future__ import annotations

import json

import click

from .dockercli import DockerGroup


@click.group("volume", cls=DockerGroup)
def volume():
    """Manage named volumes (docker volume)."""


@volume.command("create")
@click.option("--label", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--driver", "-d", default="local", help="Only 'local'.")
@click.option("--opt", "-o", "opts", multiple=True,
              help="The local driver's bind form: type=none, o=bind, device=/host/dir.")
@click.argument("name", required=False)
def create(label, driver, opts, name):
    """Create a volume (a random name when none is given); print its name."""
    from . import volumes
    from .names import new_id
    from .errors import PyContainerError
    if driver != "local":
        raise PyContainerError(f"volume create --driver {driver}: only the 'local' driver exists")
    if any("=" not in o for o in opts):
        raise PyContainerError(f"volume create -o {[o for o in opts if '=' not in o][0]!r}: give KEY=VALUE")
    name = name or new_id()
    volumes.check_name(name)
    volumes.create(name, dict(lb.split("=", 1) if "=" in lb else (lb, "") for lb in label),
                   dict(o.split("=", 1) for o in opts))
    click.echo(name)


@volume.command("ls")
@click.option("--quiet", "-q", is_flag=True, help="Only names.")
@click.option("--format", "fmt", default=None, help="json or a template.")
@click.option("--filter", "-f", "filters", multiple=True,
              help="dangling=true|false, driver=local, label=K[=V], name=REGEX (docker's).")
def ls(quiet, fmt, filters):
    """List volumes."""
    from . import volumes
    flt = _volume_filters(filters)
    names = [n for n in volumes.names() if _volume_matches(n, flt)]
    if quiet:
        for n in names:
            click.echo(n)
        return
    if fmt == "json":
        for n in names:
            click.echo(json.dumps(volumes.inspect(n)))
        return
    if fmt:
        from .gotemplate import listing
        for line in listing(fmt, [volumes.inspect(n) for n in names],
                            {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT"}):
            click.echo(line)
        return
    click.echo(f"{'DRIVER':<10}VOLUME NAME")
    for n in names:
        click.echo(f"{'local':<10}{n}")


@volume.command("inspect")
@click.option("--format", "-f", "fmt", default=None, help="A template, e.g. '{{.Mountpoint}}'.")
@click.argument("names", nargs=-1, required=True)
def inspect_(fmt, names):
    """Show volumes as docker's JSON."""
    from . import inspect as insp
    from . import volumes
    out = [volumes.inspect(n) for n in names]
    if fmt:
        for o in out:
            click.echo(insp.format(fmt, o))
    else:
        click.echo(json.dumps(out, indent=4))


@volume.command("rm")
@click.option("--force", "-f", is_flag=True, help="No error for a missing volume.")
@click.argument("names", nargs=-1, required=True)
def rm(force, names):
    """Remove volumes no container uses."""
    from . import volumes
    from .errors import PyContainerError
    for n in names:                    # check all first: nothing changes on a bad one
        if not volumes.exists(n) and not force:
            raise PyContainerError(f"no such volume: {n}")
        if volumes.exists(n) and volumes.users(n):
            raise PyContainerError(f"volume {n} is in use by container(s) "
                                   f"{', '.join(volumes.users(n))}: remove them first")
    for n in names:
        if volumes.exists(n):
            volumes.remove(n)
            click.echo(n)


@volume.command("prune")
@click.option("--force", "-f", is_flag=True, help="Do not ask.")
@click.option("--all", "-a", "all_", is_flag=True,
              help="Named volumes too (without it, as docker 23+: anonymous ones only).")
@click.option("--filter", "filters", multiple=True, help="label=KEY[=VALUE] or all=true (repeatable).")
def prune(force, all_, filters):
    """Remove the anonymous volumes no container uses (-a: every unused volume)."""
    from . import volumes
    from .dockercli import confirm_prune
    from .errors import PyContainerError
    from .image.space import human_size
    labels = []
    for f in filters:
        k, eq, v = f.partition("=")
        if k == "label" and v:
            labels.append(v)
        elif k == "all" and v.lower() in ("1", "true", "0", "false"):
            all_ = all_ or v.lower() in ("1", "true")
        else:
            raise PyContainerError(f"--filter {f!r}: volume prune takes label=KEY[=VALUE] or all=true")
    confirm_prune(f"{'all' if all_ else 'anonymous'} local volumes not used by at least one container",
                  force)
    from .containerdir import du
    before = du(volumes.root())
    gone = volumes.prune(all_, labels)
    freed = max(0, before - du(volumes.root()))
    if gone:
        click.echo("Deleted Volumes:")
        for n in gone:
            click.echo(n)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(freed, False)}")


def _volume_filters(filters) -> dict:
    from .errors import PyContainerError
    from .image.listing import parse_filters
    flt = parse_filters(filters, ("dangling", "driver", "label", "name"))
    for bad in [v for v in flt.get("dangling", []) if v.lower() not in ("true", "false", "1", "0")]:
        raise PyContainerError(f"--filter dangling={bad!r}: give true or false")
    return flt


def _volume_matches(name: str, flt: dict) -> bool:
    """docker's volume ls filters: the same key ORs, different keys AND, labels AND."""
    import re
    from . import volumes
    from .image.listing import filters_match, labels_match
    if not flt:
        return True
    labels = volumes.inspect(name)["Labels"]
    tests = {"dangling": lambda v: (not volumes.users(name)) == (v.lower() in ("true", "1")),
             "driver": lambda v: v == "local", "name": lambda v: bool(re.search(v, name)),
             "label": lambda v: labels_match(labels, v)}
    return filters_match(flt, tests)
