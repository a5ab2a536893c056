"""``pycontainer cdi list``, ``pycontainer cdi generate --vendor nvidia``, ``pycontainer info``.

``cdi list`` prints the fully-qualified names of the CDI devices found in the
spec directories (broken specs and conflicts are warned about on stderr, as
``podman`` does); ``cdi generate`` writes a spec for this host's NVIDIA GPUs
(nvidia.py); ``info`` reports the runtime's view of the host, including
which CDI devices exist and which specs name device nodes that are gone.
"""

from __future__ import annotations

import json
import os
import sys

import click

from ..dockercli import UsageCommand, UsageGroup
from ..errors import DeviceError


@click.group("cdi", cls=UsageGroup)
def cdi():
    """Container Device Interface: the devices the spec dirs describe."""


@cdi.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_(fmt):
    """Print the CDI device names (vendor/class=name)."""
    from .registry import Registry
    reg = Registry()
    for msg in list(reg.errors.values()) + list(reg.conflicts.values()):
        click.echo(f"warning: {msg}", err=True)
    if fmt == "json":
        click.echo(json.dumps(reg.names()))
        return
    for n in reg.names():
        click.echo(n)


@cdi.command("generate")
@click.option("--vendor", required=True, type=click.Choice(["nvidia"]),
              help="Whose devices to describe.")
@click.option("--output", "-o", default=None,
              help="Write here (.yaml or .json) instead of stdout (YAML).")
def generate(vendor, output):
    """Write a CDI spec for this host's devices (what nvidia-ctk cdi generate makes)."""
    from . import nvidia, spec as cdispec, yamlsubset
    raw = nvidia.generate()
    cdispec.check(json.loads(json.dumps(raw)))          # what we write must read back
    text = json.dumps(raw, indent=2) + "\n" if output and output.endswith(".json") \
        else yamlsubset.dumps(raw)
    if not output:
        sys.stdout.write(text)
        return
    d = os.path.dirname(os.path.abspath(output))
    try:
        os.makedirs(d, exist_ok=True)
        from .. import atomicfile
        atomicfile.write(output, text)
    except OSError as exc:
        raise DeviceError(f"cdi generate --output {output}: {exc.strerror}", errno=exc.errno) from None
    n = sum(1 for d in raw["devices"] if d["name"] != "all")
    click.echo(f"wrote {output}: {raw['kind']} with {n} device name(s) and 'all'", err=True)


@click.command("info", cls=UsageCommand)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def info(fmt):
    """What this host offers containers: cgroups, CDI devices, stale CDI specs."""
    from .. import __version__, cgroups
    from .registry import Registry
    reg = Registry()
    out = {"version": __version__, "cgroups": cgroups.detect(),
           "cdi": {"specDirs": reg.dirs, "devices": reg.names(),
                   "errors": sorted(reg.errors.values()),
                   "conflicts": sorted(reg.conflicts.values()), "stale": reg.stale()}}
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"pycontainer {out['version']}\ncgroups: {out['cgroups']}")
    c = out["cdi"]
    click.echo(f"CDI spec dirs: {', '.join(c['specDirs'])}")
    click.echo(f"CDI devices: {', '.join(c['devices']) or 'none'}")
    for key, label in (("errors", "CDI spec error"), ("conflicts", "CDI conflict"),
                       ("stale", "stale CDI spec")):
        for line in c[key]:
            click.echo(f"{label}: {line}")


COMMANDS = [cdi, info]
