"""``system df`` and ``system prune``: what images, containers and volumes take, and reclaiming it;
``version``: what this is (docker's and podman's ``version``).

``df`` counts, per type, how many exist, how many are in use (images a
container holds, running containers, volumes a container mounts), their size
on disk (image blobs, containers' writable layers, volumes' data; du-style,
st_blocks) and what a prune would give back. ``prune`` removes stopped
containers, then unnamed images no container uses, then (``--volumes``)
anonymous volumes nothing mounts (docker 23+); ``-a`` also images no container uses.

Read: docker's "docker system df", "docker system prune" and "docker version" pages.
"""

from __future__ import annotations

import os

import click

from . import containerdir as cd
from .dockercli import DockerCommand, DockerGroup, confirm_prune


def image_rows(store) -> tuple[list, list, int]:
    """(the images ``images`` shows, the build's step images it hides, the bytes only those
    hold): docker's "Images" and "Build Cache"."""
    from .image.listing import select
    from .image.space import layer_sharing
    every = store.list()
    images = select(store, every)
    shown = {r["digest"] for r in images}
    cache = [r for r in every if r["digest"] not in shown]
    return images, cache, layer_sharing(store, images + cache)[1] - layer_sharing(store, images)[1]


def usage(root: str) -> list[dict]:
    from . import inspect as insp
    from . import volumes
    from .image.store import Store
    from .image.space import human_size
    store = Store(os.environ.get("PYCONTAINER_IMAGE_ROOT"))
    images, cache, cache_size = image_rows(store)
    held = {h.get("image") for h in store.holds().values()}
    img_active = [r for r in images if r["digest"] in held]
    # docker's SIZE: the bytes on disk, a layer that several images share counted once
    from .image.space import layer_sharing
    img_size, active_size = layer_sharing(store, images)[1], layer_sharing(store, img_active)[1]
    recs = insp.records(root)
    csize = {r["Id"]: insp.layer_size(r) for r in recs}
    running = [r for r in recs if r["State"]["Running"]]
    vols = volumes.names()
    vsize = {n: cd.du(os.path.join(volumes.path(n), "_data")) for n in vols}
    vused = [n for n in vols if volumes.users(n)]

    def row(kind, total, active, size, reclaim):
        pct = f" ({100 * reclaim // size}%)" if size else ""
        return {"Type": kind, "TotalCount": total, "Active": active, "Size": human_size(size, False),
                "Reclaimable": human_size(reclaim, False) + pct}
    return [
        row("Images", len(images), len(img_active), img_size, img_size - active_size),
        row("Containers", len(recs), len(running), sum(csize.values()),
            sum(v for k, v in csize.items() if k not in {r["Id"] for r in running})),
        row("Local Volumes", len(vols), len(vused), sum(vsize.values()),
            sum(v for k, v in vsize.items() if k not in vused)),
        row("Build Cache", len(cache), 0, cache_size, cache_size),
    ]


def verbose_tables(root: str) -> list[str]:
    """``system df -v``: docker's three tables (an image's SHARED SIZE: its layers that another
    image has too; a container's SIZE: its writable layer; a volume's LINKS: its users)."""
    from . import inspect as insp
    from . import pstable, volumes
    from .gotemplate import tabwrite
    from .image.listing import fields
    from .image.space import human_size, layer_sharing
    from .image.store import Store
    store = Store(os.environ.get("PYCONTAINER_IMAGE_ROOT"))
    images, _, cache_size = image_rows(store)            # as `images` shows them, and the cache
    shared_of, _ = layer_sharing(store, images)
    holds = [h.get("image") for h in store.holds().values()]
    out = ["Images space usage:", ""]
    rows = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for r in images:
        shared = shared_of[r["digest"]]
        for n in r["names"] or [None]:
            f = fields(r, n, human_size(r["size"], False, 3))
            rows.append("\t".join([f["Repository"], f["Tag"], f["ID"], f["CreatedSince"], f["Size"],
                                   human_size(shared, False, 3), human_size(r["size"] - shared, False, 3),
                                   str(holds.count(r["digest"]))]))
    out += tabwrite(rows) + ["", "Containers space usage:", ""]
    rows = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for rec in insp.records(root):
        v = pstable.view(rec)
        rw = insp.layer_size(rec)
        rows.append("\t".join([v["ID"], v["Image"], v["Command"], v["LocalVolumes"],
                               human_size(rw, False, 3), v["RunningFor"], v["Status"], v["Names"]]))
    out += tabwrite(rows) + ["", "Local Volumes space usage:", ""]
    rows = ["VOLUME NAME\tLINKS\tSIZE"]
    for n in volumes.names():
        rows.append(f"{n}\t{len(volumes.users(n))}\t"
                    f"{human_size(cd.du(os.path.join(volumes.path(n), '_data')), False, 3)}")
    return out + tabwrite(rows) + ["", f"Build cache usage: {human_size(cache_size, False)}"]


@click.group("system", cls=DockerGroup)
def system():
    """Disk usage and cleanup (docker system)."""


@system.command("df")
@click.option("--format", "fmt", default=None, help="json or a template.")
@click.option("--verbose", "-v", is_flag=True, help="Each image, container and volume.")
@click.pass_context
def df(ctx, fmt, verbose):
    """Show the space images, containers and volumes use."""
    import json
    from . import inspect as insp
    if verbose:
        for line in verbose_tables(ctx.find_object(dict).root):
            click.echo(line)
        return
    rows = usage(ctx.find_object(dict).root)
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
        return
    if fmt:
        for r in rows:
            click.echo(insp.format(fmt, r))
        return
    click.echo(f"{'TYPE':<16}{'TOTAL':<10}{'ACTIVE':<10}{'SIZE':<12}RECLAIMABLE")
    for r in rows:
        click.echo(f"{r['Type']:<16}{r['TotalCount']:<10}{r['Active']:<10}{r['Size']:<12}"
                   f"{r['Reclaimable']}")


@system.command("prune")
@click.option("--force", "-f", is_flag=True, help="Do not ask.")
@click.option("--all", "-a", "all_", is_flag=True, help="Also images no container uses.")
@click.option("--volumes", "with_volumes", is_flag=True, help="Also anonymous volumes no container uses (docker 23+).")
@click.option("--filter", "filters", multiple=True, help="until=TIME (24h), label=K[=V], label!=K[=V].")
@click.pass_context
def prune(ctx, force, all_, with_volumes, filters):
    """Remove stopped containers, unused images (dangling; -a: all) and (--volumes) volumes."""
    from . import volumes
    from .image.listing import PRUNE_FILTERS, parse_filters, prune_digests
    from .image.store import Store
    from .lifecycle import prune as prune_containers
    flt = parse_filters(filters, PRUNE_FILTERS)
    confirm_prune("all stopped containers, " + ("images without a container" if all_ else
                  "dangling images") + (" and anonymous volumes not used by at least one container" if with_volumes else ""), force)
    gone, freed = prune_containers(ctx.find_object(dict).root, flt)
    if gone:
        click.echo("Deleted Containers:\n" + "\n".join(gone) + "\n")
    store = Store(os.environ.get("PYCONTAINER_IMAGE_ROOT"))
    before = cd.du(store.root) + (cd.du(volumes.root()) if with_volumes else 0)
    lines = []
    only = prune_digests(store, flt)
    if all_:
        held = {h.get("image") for h in store.holds().values()}
        for r in store.list():
            if r["digest"] not in held and (only is None or r["digest"] in only):
                lines += store.remove(r["digest"], force=False)
    lines += store.gc(dangling=True, only=only)
    from .image.prune import listing
    lines = listing(lines, prune=True)
    if lines:
        click.echo("Deleted Images:\n" + "\n".join(lines) + "\n")
    if with_volumes:
        vg = volumes.prune()                     # anonymous ones, as docker 23+
        if vg:
            click.echo("Deleted Volumes:\n" + "\n".join(vg) + "\n")
    after = cd.du(store.root) + (cd.du(volumes.root()) if with_volumes else 0)
    from .image.space import human_size
    click.echo(f"Total reclaimed space: {human_size(freed + max(0, before - after), False)}")


@click.command("version", cls=DockerCommand)
@click.option("--format", "-f", "fmt", default=None,
              help="json, or a template over the fields, e.g. '{{.Client.Version}}'.")
def version(fmt):
    """Show the versions (docker/podman version): pycontainer's, the OCI spec's, Python's."""
    import json

    from . import hostinfo
    from . import inspect as insp
    v = hostinfo.version()
    # docker's two halves; here one program is both (no daemon), so scripts that ask for
    # {{.Server.Version}} to see whether the engine answers get the same answer
    info = {"Client": {"Version": v["Version"], "ApiVersion": v["ApiVersion"],
                       **v["Components"][0]["Details"], "Kernel": v["KernelVersion"],
                       "OsArch": f"linux/{v['Arch']}", "Os": "linux", "Arch": v["Arch"]},
            "Server": v}
    if fmt == "json":
        click.echo(json.dumps(info))
        return
    if fmt:
        click.echo(insp.format(fmt, info))
        return
    c = info["Client"]
    click.echo("Client:         pycontainer")
    for k, v in (("Version", c["Version"]), ("OCI Version", c["OCIVersion"]),
                 ("Python Version", c["PythonVersion"]), ("Kernel", c["Kernel"]),
                 ("OS/Arch", c["OsArch"])):
        click.echo(f"{k + ':':<16}{v}")
    click.echo("\nServer:         pycontainer (no daemon: this program)")
    click.echo(f"{'Version:':<16}{info['Server']['Version']}\n{'API version:':<16}{c['ApiVersion']}")
