"""``events``: runc's (``events ID``: a container's cgroup statistics and OOM events) and
docker's (``events``: the journal of events.py, with --since/--until/--filter/--format).

runc's form reads the container's cgroup (cgroups/events.py: memory.events, the OOM
notifications, the stats every --interval); docker's streams what the verbs recorded,
from --since (or now) until --until (or an interrupt). One verb, as with ``ps``: an ID
means runc's. Read: runc's ``events`` and docker's "docker system events" references.
"""

from __future__ import annotations

import json
import sys

import click


@click.command("events")
@click.option("--stats", "stats_once", is_flag=True, help="runc: print the statistics once and exit.")
@click.option("--interval", default=5.0, type=float, show_default=True, help="runc: seconds between stats.")
@click.option("--since", default=None, help="docker: events from this time (2026-11-30T06:00:00Z, 10m).")
@click.option("--until", default=None, help="docker: events up to this time, then exit.")
@click.option("--filter", "-f", "filters", multiple=True,
              help="docker: type=, event=, container=, image=, volume=, network=, label=.")
@click.option("--format", "fmt", default=None, help="docker: json or a Go template.")
@click.argument("container_id", required=False)
@click.pass_context
def events(ctx, stats_once, interval, since, until, filters, fmt, container_id):
    """runc's `events ID`: a container's statistics and OOM events as JSON lines; without an
    ID, docker's: what happened to containers, images, volumes and networks."""
    root = ctx.find_object(dict).root
    if container_id is None:
        from . import dockercli
        dockercli.guard(_docker, since, until, filters, fmt)
        return
    from .container import Runtime
    from .inspect import runtime_id
    rt = Runtime(root)
    container_id = runtime_id(root, container_id)
    if stats_once:
        click.echo(json.dumps({"type": "stats", "id": container_id, "data": rt.stats(container_id)}))
        return
    from .cgroups import events as ev
    rec = rt.record(container_id)
    for e in ev.watch(rt.cgroup_of(rec), container_id, interval,
                      stop=lambda: rt.state(container_id)["status"] == "stopped"):
        click.echo(json.dumps(e), nl=True)
        sys.stdout.flush()


def _docker(since, until, filters, fmt):
    from . import events as ev
    from .duration import point_in_time
    flt = ev.parse_filters(filters)
    lo, hi = point_in_time(since, "events --since"), point_in_time(until, "events --until")

    def show(e):
        if fmt == "json":
            click.echo(json.dumps(e))
        elif fmt:
            from .inspect import format as render
            click.echo(render(fmt, ev.Message(e)))
        else:
            click.echo(ev.line(e))
        sys.stdout.flush()
    try:
        if lo is not None:
            for e in ev.read(lo, hi, flt):
                show(e)
        import time
        if hi is None or hi > time.time():
            for e in ev.follow(flt, hi):
                show(e)
    except KeyboardInterrupt:
        pass
