"""``update``: new cgroup limits for a container, as runc's and as docker's.

runc's ``update [flags] ID`` (or ``-r FILE``, LinuxResources JSON, what podman
sends) writes the limits to the running container's cgroup
(``Runtime.update`` -> cgroups/*.py). docker's ``update [flags] NAME...``
(a container made from an image, ``--cpus``, ``--restart`` or several names)
does the same and also keeps them in the container's config.json for its next
start, with the new ``--restart`` policy (``lifecycle.update``); errors are
one line, exit 1 (what docker's daemon refuses: dockercli.py).

Read: runc-update(8), ``docker update`` reference; cgroup-v2.rst (cpu.max,
memory.max) and the v1 controllers' files.
"""

from __future__ import annotations

import click


@click.command("update")
@click.option("--resources", "-r", "resources_file", default=None,
              help="LinuxResources JSON from FILE, or - for stdin (what podman sends).")
@click.option("--memory", "-m", default=None)
@click.option("--memory-swap", default=None)
@click.option("--memory-reservation", default=None)
@click.option("--kernel-memory", default=None, hidden=True)
@click.option("--kernel-memory-tcp", default=None, hidden=True)
@click.option("--cpu-share", "--cpu-shares", "cpu_share", default=None)
@click.option("--cpu-period", default=None)
@click.option("--cpu-quota", default=None)
@click.option("--cpu-rt-period", default=None)
@click.option("--cpu-rt-runtime", default=None)
@click.option("--cpuset-cpus", default=None)
@click.option("--cpuset-mems", default=None)
@click.option("--pids-limit", default=None)
@click.option("--blkio-weight", default=None)
@click.option("--cpus", default=None, help="docker's: CPUs (0.5 = half of one).")
@click.option("--restart", default=None, help="docker's: the new restart policy.")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.pass_context
def update(ctx, resources_file, cpus, restart, containers, **flags):
    """Change the resource limits of a running container (runc update), or of containers
    made from images, their restart policy too, kept for their next start (docker update)."""
    from . import porcelain
    from .cgroups import convert
    obj = ctx.find_object(dict)
    root = obj.root
    from .inspect import runtime_id
    if len(containers) == 1 and cpus is None and restart is None and \
            not porcelain.is_image_container(root, runtime_id(root, containers[0])):
        obj.runtime.update(containers[0], convert.runc_update(flags, resources_file))
        return
    from . import dockercli
    dockercli.guard(_docker_update, root, containers, flags, resources_file, cpus, restart)


def _docker_update(root, containers, flags, resources_file, cpus, restart):
    from . import lifecycle, run_flags
    from .cgroups import convert
    from .errors import ValueKindError
    from .inspect import resolve_id
    try:
        res = convert.runc_update(flags, resources_file)
        if cpus is not None:
            res.setdefault("cpu", {}).update(convert.docker_resources(cpus=cpus)["cpu"])
    except ValueKindError as exc:       # `-m lots`: docker's flag parser refuses it, 125
        raise click.BadOptionUsage(str(exc).split()[0], str(exc)) from None
    if restart is not None:
        run_flags.check_restart(restart)
    for ref in containers:
        lifecycle.update(root, resolve_id(root, ref), res, restart, cpus=cpus)
        click.echo(ref)
