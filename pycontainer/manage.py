"""docker's container verbs beyond run/ps/logs: inspect, restart, unpause, rename, port, top, stats,
and ``container prune|ls|inspect|rm|start|stop|restart``.

Each is a thin click command (``cls=DockerCommand``: errors are one line and
exit 125) over ``inspect.py`` (the docker-shaped record), ``lifecycle.py``
(start again, remove) and ``Runtime`` (pause, resume, pids, stats).

* ``stats --no-stream`` reads the cgroup twice, 0.5 s apart (cgroup v1 and
  v2, ``cgroups/stats.py``): CPU % is the cgroup's CPU time over wall time
  (docker's formula without the per-CPU factor: 100% = one CPU), MEM USAGE
  is usage less inactive file cache (docker's "cache" correction), LIMIT the
  cgroup's limit or the host's memory, NET I/O from the container's
  ``/proc/PID/net/dev`` (every interface but lo), BLOCK I/O the bytes read
  and written, PIDS ``pids.current``.
* ``top CONTAINER [ps OPTIONS]`` runs the host's ps(1) with the options and
  keeps the container's processes (its cgroup's ``cgroup.procs``).
* ``rename OLD NEW`` changes the name docker shows and resolves; the ID
  (which names the state dir, cgroup and lease) stays.

Read: docker's reference pages for each verb; cgroup-v2.rst (cpu.stat,
memory.stat), proc(5) (/proc/PID/net/dev).
"""

from __future__ import annotations

import json
import os
import sys
import time

import click

from .api import operations as ops
from .dockercli import DockerCommand, DockerGroup
from .errors import ContainerNotFound, PyContainerError
from .image.space import human_size
from .inspect import resolve_id


def _root(ctx) -> str:
    return ctx.find_object(dict).root


def _echo_all(ctx, refs, fn) -> None:
    """docker's multi-container verbs: each one, its name on success; status 1 if any failed."""
    from .dockercli import each

    def one(ref):
        fn(resolve_id(_root(ctx), ref))
        click.echo(ref)
    each(refs, one, single_raises=False)


@click.command("inspect", cls=DockerCommand)
@click.option("--format", "-f", "fmt", default=None, help="Go template, e.g. '{{.State.Status}}'.")
@click.option("--type", "kind", default=None, metavar="container|image|volume|network")
@click.option("--size", "-s", is_flag=True, help="A container's SizeRw and SizeRootFs too.")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect_cmd(ctx, fmt, kind, size, names):
    """Show containers (or images) as docker's JSON, or --format a template over it."""
    from . import inspect as insp
    if kind not in (None, "container", "image", "volume", "network"):   # docker's RunE: status 1
        raise PyContainerError(f"{kind!r} is not a valid value for --type")
    out, missing = [], []
    for ref in names:
        try:
            if kind not in (None, "container"):
                raise ContainerNotFound(ref)
            out.append(insp.record(_root(ctx), resolve_id(_root(ctx), ref)))
            if size:
                out[-1].update(insp.sizes(out[-1]))
        except ContainerNotFound:
            try:
                if kind == "container":
                    raise PyContainerError(f"No such container: {ref}") from None
                out.append(_other_object(ref, kind))
            except PyContainerError as exc:
                missing.append(str(exc))
    if fmt:
        from .gotemplate import TemplateParseError
        try:
            texts = [insp.format(fmt, o) for o in out]  # all or nothing: errors before output
        except TemplateParseError as exc:               # docker/cli's inspect: status 64
            from . import log
            log.error(str(exc))
            raise SystemExit(64) from None
        for t in texts:
            click.echo(t)
    else:
        click.echo(json.dumps(out, indent=4))           # docker's "[]" when nothing was found
    if missing:                                         # docker: what was found, then each miss
        from . import log
        for m in missing:
            log.error(m)
        raise SystemExit(1)


def _other_object(ref: str, kind: str | None) -> dict:
    """docker inspect's search after containers: images, then volumes, then networks."""
    from . import volumes
    from .image.store import Store
    if kind in (None, "image"):
        try:
            return Store(os.environ.get("PYCONTAINER_IMAGE_ROOT")).inspect(ref)
        except PyContainerError:
            pass
    if kind in (None, "volume"):
        try:
            if volumes.exists(ref):
                return volumes.inspect(ref)
        except PyContainerError:
            pass
    if kind in (None, "network"):
        from . import network
        from .network import userdefined
        if userdefined.get(ref) is not None or ref == "bridge":
            n = network.inspect("pyc" if ref == "bridge" else ref)
            return dict(n, Name=ref, Driver="bridge",
                        IPAM={"Config": [{"Subnet": n["subnet"], "Gateway": n["gateway"]}]})
    raise PyContainerError(f"No such object: {ref}")


@click.command("restart", cls=DockerCommand)
@click.option("--time", "-t", "timeout", default=None, type=float,
              help="Seconds between the stop signal and SIGKILL [default: --stop-timeout or 10].")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart(ctx, timeout, containers):
    """Stop (as docker stop), then start the same container again."""
    from . import lifecycle

    def one(cid):
        ops.stop_container(_root(ctx), cid, timeout)
        lifecycle.start(_root(ctx), cid)
    _echo_all(ctx, containers, one)


@click.command("unpause", cls=DockerCommand)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause(ctx, containers):
    """Thaw paused containers (docker's name for runc's resume)."""
    from . import events
    from .container import Runtime

    def thaw(cid):
        Runtime(_root(ctx)).resume(cid)
        events.container("unpause", cid, ops.inspect(_root(ctx), cid))
    _echo_all(ctx, containers, thaw)


@click.command("rename", cls=DockerCommand)
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx, container, new_name):
    """Give a container a new name (its ID stays)."""
    from . import lifecycle
    root = _root(ctx)
    lifecycle.rename(root, resolve_id(root, container), new_name)


@click.command("port", cls=DockerCommand)
@click.argument("container")
@click.argument("private", required=False)
@click.pass_context
def port(ctx, container, private):
    """Published ports, as "80/tcp -> 0.0.0.0:8080" (or the host side of PRIVATE[/PROTO])."""
    rec = ops.inspect(_root(ctx), resolve_id(_root(ctx), container))
    ports = rec["NetworkSettings"]["Ports"]
    if private:
        key = private if "/" in private else f"{private}/tcp"
        if key not in ports:
            raise PyContainerError(f"no public port '{key}' published for {container}")
        for b in ports[key]:
            click.echo(f"{b['HostIp']}:{b['HostPort']}")
        return
    for key, binds in sorted(ports.items()):
        for b in binds:
            click.echo(f"{key} -> {b['HostIp']}:{b['HostPort']}")


@click.command("top", cls=DockerCommand, context_settings={"ignore_unknown_options": True})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def top(ctx, container, ps_args):
    """The container's processes, as ps(1) shows them (ps options pass through)."""
    from .container import Runtime
    root = _root(ctx)
    cid = resolve_id(root, container)
    rec = ops.inspect(root, cid)
    if rec["State"]["Status"] not in ("running", "paused"):
        raise PyContainerError(f"top {container}: the container is {rec['State']['Status']}")
    from .pstop import table
    title, rows = table(Runtime(root).pids(cid), ps_args)
    if title:
        click.echo(title)
    for line in rows:
        click.echo(line)


@click.command("cp", cls=DockerCommand)
@click.option("--archive", "-a", is_flag=True, help="Keep owners and modes (uid/gid).")
@click.argument("src")
@click.argument("dest")
@click.pass_context
def cp(ctx, archive, src, dest):
    """Copy between a container (running or stopped) and the host: CONTAINER:SRC DEST or
    SRC CONTAINER:DEST ('-' for a tar stream on stdin/stdout)."""
    from . import filecopy
    root = _root(ctx)

    def split(arg):
        if arg.startswith(("/", ".", "-")) or ":" not in arg:
            return None, arg
        ref, _, path = arg.partition(":")
        return ref, path
    (cs, sp), (cd, dp) = split(src), split(dest)
    if (cs is None) == (cd is None):
        raise PyContainerError("cp: exactly one of SRC and DEST must be CONTAINER:PATH")
    ref = cs or cd
    target = copy_target(ops.inspect(root, resolve_id(root, ref)), ref)
    if cs:
        filecopy.from_container(target, sp, dp, archive)
    else:
        filecopy.to_container(target, sp, dp, archive)


def copy_target(rec: dict, ref: str, verb: str = "cp"):
    """What filecopy reads or writes in: the init's pid of a created, running or paused
    container; a stopped one's overlay (filecopy.Stopped), mounted privately by the child."""
    target = rec["State"]["Pid"]
    if target and rec["State"]["Status"] in ("running", "paused", "created"):
        return target
    if not rec.get("Dir"):
        raise PyContainerError(f"{verb} {ref}: not a container made from an image (an OCI bundle's "
                               "files are in its rootfs directory)")
    from .filecopy import Stopped
    from .lifecycle import overlay_plan
    plan = overlay_plan(rec)
    if plan is None or not plan.upper:
        raise PyContainerError(f"{verb} {ref}: the container is {rec['State']['Status']} and has no "
                               "writable layer to copy with; start it first")
    return Stopped(plan, os.path.join(rec["Dir"], "rootfs"))


# --- stats ------------------------------------------------------------------------------------

def sample(root: str, cid: str) -> dict:
    from .container import Runtime
    rt = Runtime(root)
    s = rt.stats(cid)
    pid = rt.state(cid).get("pid", 0)
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in list(f)[2:]:
                name, _, rest = line.partition(":")
                if name.strip() == "lo":
                    continue
                v = rest.split()
                rx, tx = rx + int(v[0]), tx + int(v[8])
    except (OSError, ValueError, IndexError):
        pass
    mem = s.get("memory") or {}
    raw = mem.get("raw") or {}
    usage = (mem.get("usage") or {}).get("usage", 0)
    usage -= raw.get("inactive_file", raw.get("total_inactive_file", 0)) or 0
    from .hostinfo import mem_total
    limit = (mem.get("usage") or {}).get("limit", 0) or mem_total()
    blk = (s.get("blkio") or {}).get("ioServiceBytesRecursive") or []
    rd = sum(e["value"] for e in blk if e.get("op", "").lower() in ("rbytes", "read"))
    wr = sum(e["value"] for e in blk if e.get("op", "").lower() in ("wbytes", "write"))
    return {"t": time.monotonic_ns(), "cpu": ((s.get("cpu") or {}).get("usage") or {}).get("total", 0),
            "mem": max(usage, 0), "limit": limit, "rx": rx, "tx": tx, "rd": rd, "wr": wr,
            "pids": (s.get("pids") or {}).get("current", 0)}


def stats_row(rec: dict, a: dict, b: dict) -> dict:
    dt = max(b["t"] - a["t"], 1)
    cpu = 100.0 * (b["cpu"] - a["cpu"]) / dt
    mp = 100.0 * b["mem"] / b["limit"] if b["limit"] else 0.0
    return {"Container": rec["Id"][:12], "ID": rec["Id"][:12], "Name": rec["Name"].lstrip("/"),
            "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{human_size(b['mem'], True)} / {human_size(b['limit'], True)}",
            "MemPerc": f"{mp:.2f}%",
            "NetIO": f"{human_size(b['rx'], False)} / {human_size(b['tx'], False)}",
            "BlockIO": f"{human_size(b['rd'], False)} / {human_size(b['wr'], False)}",
            "PIDs": str(b["pids"])}


@click.command("stats", cls=DockerCommand)
@click.option("--no-stream", is_flag=True, help="One sample, then exit.")
@click.option("--all", "-a", "all_", is_flag=True, help="Stopped containers too.")
@click.option("--format", "fmt", default=None, help="json or a template over the row fields.")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats(ctx, no_stream, all_, fmt, containers):
    """CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS from the cgroup files."""
    from . import inspect as insp
    root = _root(ctx)
    ids = [resolve_id(root, c) for c in containers] or insp.list_ids(root)
    while True:
        recs = [ops.inspect(root, c) for c in ids]
        live = [r for r in recs if r["State"]["Status"] in ("running", "paused")]
        if containers and len(live) < len(recs):
            r = next(r for r in recs if r not in live)
            raise PyContainerError(f"stats {r['Id']}: the container is {r['State']['Status']}")
        first = {r["Id"]: sample(root, r["Id"]) for r in live}
        time.sleep(0.5)
        rows = [stats_row(r, first[r["Id"]], sample(root, r["Id"])) for r in live]
        if not no_stream:
            click.echo("\x1b[2J\x1b[H", nl=False)
        _print_stats(rows, fmt)
        sys.stdout.flush()
        if no_stream:
            return


_STATS_HEADS = {"Container": "CONTAINER ID", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
                "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def _print_stats(rows, fmt) -> None:
    if fmt:                                 # json, a template, or docker's "table TEMPLATE"
        from .gotemplate import listing
        for line in listing(fmt, rows, _STATS_HEADS):
            click.echo(line)
        return
    cols = ("Container", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
    heads = tuple(_STATS_HEADS[c] for c in cols)
    table = [heads] + [tuple(r[c] for c in cols) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    for t in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())


@click.command("release-network", cls=DockerCommand, hidden=True)
@click.argument("container")
@click.pass_context
def release_network(ctx, container):
    """(for the monitor) Give back a stopped container's IP and ports; apply --restart."""
    from . import lifecycle
    lifecycle.after_exit(_root(ctx), container)


@click.command("health-loop", cls=DockerCommand, hidden=True)
@click.argument("container")
@click.pass_context
def health_loop(ctx, container):
    """(background) Run the container's health check until it stops."""
    from . import health
    from . import inspect as insp
    cdir = insp.owned_dir(_root(ctx), container)
    check = (insp.config_of(cdir).get("annotations") or {}).get("org.pycontainer.health") \
        if cdir else None
    if check:
        health.loop(_root(ctx), container, json.loads(check), cdir)


# --- container prune and the `container` group --------------------------------------------------

@click.group("container", cls=DockerGroup)
def container():
    """Manage containers (docker container ...)."""


@container.command("prune")
@click.option("--force", "-f", is_flag=True, help="Do not ask.")
@click.option("--filter", "filters", multiple=True, help="until=TIME (24h), label=K[=V], label!=K[=V].")
@click.pass_context
def container_prune(ctx, force, filters):
    """Remove all stopped containers."""
    from .dockercli import confirm_prune
    from .image.listing import PRUNE_FILTERS, parse_filters
    flt = parse_filters(filters, PRUNE_FILTERS)
    confirm_prune("all stopped containers", force)
    from .lifecycle import prune
    gone, freed = prune(_root(ctx), flt)
    if gone:
        click.echo("Deleted Containers:")
        for cid in gone:
            click.echo(cid)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(freed, False)}")


COMMANDS = [cp, inspect_cmd, restart, unpause, rename, port, top, stats, container, release_network, health_loop]
