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
@click.option("--format", "-f", "fmt", default=None,
              help="json, or a template over docker's fields, e.g. '{{.NCPU}}'.")
@click.pass_context
def info(ctx, fmt):
    """What this host offers containers (docker info): containers and images, the drivers,
    the kernel, CPUs and memory, CDI devices and stale CDI specs."""
    from .. import hostinfo
    from .registry import Registry
    obj = ctx.find_object(dict)
    out = hostinfo.info(getattr(obj, "root", "/run/pycontainer"), os.environ.get("PYCONTAINER_IMAGE_ROOT"))
    reg = Registry()
    out.update(version=out["ServerVersion"], cgroups=out["CgroupMode"],
               cdi={"specDirs": reg.dirs, "devices": reg.names(), "errors": sorted(reg.errors.values()),
                    "conflicts": sorted(reg.conflicts.values()), "stale": reg.stale()})
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    if fmt and fmt != "text":
        from ..inspect import format as render
        click.echo(render(fmt, out))
        return
    from ..image.space import human_size
    for line in ("Server:", f" Containers: {out['Containers']}", f"  Running: {out['ContainersRunning']}",
                 f"  Paused: {out['ContainersPaused']}", f"  Stopped: {out['ContainersStopped']}",
                 f" Images: {out['Images']}", f" Server Version: pycontainer {out['ServerVersion']}",
                 f" Storage Driver: {out['Driver']}", f" Cgroup Driver: {out['CgroupDriver']}",
                 f" Cgroup Version: {out['CgroupVersion']} ({out['CgroupMode']})",
                 f" Default Runtime: {out['DefaultRuntime']}",
                 " Security Options: " + ", ".join(o.split(",")[0][5:] for o in out["SecurityOptions"]),
                 f" Kernel Version: {out['KernelVersion']}", f" Operating System: {out['OperatingSystem']}",
                 f" OSType: {out['OSType']}", f" Architecture: {out['Architecture']}",
                 f" CPUs: {out['NCPU']}", f" Total Memory: {human_size(out['MemTotal'], True)}",
                 f" Name: {out['Name']}", f" Docker Root Dir: {out['DockerRootDir']}"):
        click.echo(line)
    c = out["cdi"]
    click.echo(f"CDI spec dirs: {', '.join(c['specDirs'])}")
    click.echo(f"CDI devices: {', '.join(c['devices']) or 'none'}")
    for key, label in (("errors", "CDI spec error"), ("conflicts", "CDI conflict"),
                       ("stale", "stale CDI spec")):
        for line in c[key]:
            click.echo(f"{label}: {line}")


COMMANDS = [cdi, info]
