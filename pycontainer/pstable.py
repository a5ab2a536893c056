"""``docker ps`` without a container ID: the table, ``--filter``, ``--format``, ``-q``, ``-l``, ``-n``.

Containers are listed newest first (docker's order), with docker's columns
and wording: ``Up 5 minutes``, ``Up 2 seconds (Paused)``, ``Exited (0) 2
minutes ago``, ``Created``, and the PORTS column (``0.0.0.0:8080->80/tcp``).
Which containers (``--all``, ``-n``, ``--filter``): ``psfilter.py``. ``--format`` takes ``table``, ``json`` or a template (``inspect.format``)
over docker's ps fields (``.ID .Image .Command .CreatedAt .RunningFor .Status
.Ports .Names .Labels .State``).

Read: docker's "docker ps" reference ("Filtering", "Format the output").
"""

from __future__ import annotations

import json

import click

from .duration import ago, go_string, human as duration
from .inspect import NEVER, short_image
from .psfilter import parse_filters, rows

def show(root: str, *, all_: bool, quiet: bool, fmt: str | None, filters=(), latest=False,
         last: int | None = None, no_trunc: bool = False, size: bool = False) -> None:
    flt = parse_filters(filters)
    recs = rows(root, all_=all_, filters=flt, last=1 if latest else last)
    if quiet:
        for r in recs:
            click.echo(r["Id"] if no_trunc else r["Id"][:12])
        return
    views = [view(r, no_trunc, size or "Size" in (fmt or "")) for r in recs]
    if fmt == "json":                                  # docker's: a JSON object a line
        for v in views:
            click.echo(json.dumps(v))
        return
    if fmt and fmt != "table":
        from .gotemplate import listing
        for line in listing(fmt, views, _HEADS):
            click.echo(line)
        return
    cols = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names") + (("Size",) if size else ())
    heads = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES") + \
        (("SIZE",) if size else ())
    table = [heads] + [tuple(v[c] for c in cols) for v in views]
    widths = [max(len(r[c]) for r in table) for c in range(len(cols))]
    for r in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


_HEADS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
          "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
          "State": "STATE", "Labels": "LABELS", "Size": "SIZE", "Networks": "NETWORKS",
          "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES"}


def size_text(rec: dict) -> str:
    """ps -s's SIZE: the writable layer's bytes, and with the image's (docker's "virtual")."""
    from .image.space import human_size
    from .inspect import sizes
    s = sizes(rec)
    rw = human_size(s["SizeRw"], False, 3)
    if s["SizeRootFs"] == s["SizeRw"]:       # an image removed since (rmi -f): its size unknown
        return rw
    return f"{rw} (virtual {human_size(s['SizeRootFs'], False, 3)})"


def view(rec: dict, no_trunc: bool = False, size: bool = False) -> dict:
    """docker ps's fields for one container (``size``: its SIZE too, which reads its files)."""
    from . import inspect as insp
    cmd = " ".join(([rec["Path"]] if rec.get("Path") else []) + list(rec.get("Args") or []))
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    labels = rec["Config"].get("Labels") or {}
    return {"ID": rec["Id"] if no_trunc else rec["Id"][:12],
            "Image": short_image(rec["Config"]["Image"]) or "-", "Command": f'"{cmd}"',
            "CreatedAt": go_string(rec["Created"]), "RunningFor": ago(rec["Created"]),
            "Status": status_text(rec), "Ports": insp.ports_text(rec), "Names": rec["Name"].lstrip("/"),
            "State": rec["State"]["Status"],
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "Networks": ",".join(rec["NetworkSettings"].get("Networks") or ()),
            "Mounts": ",".join(_mount_name(m) for m in rec.get("Mounts") or ()),
            "LocalVolumes": str(sum(m.get("Type") == "volume" for m in rec.get("Mounts") or ())),
            **({"Size": size_text(rec)} if size else {})}


def _mount_name(m: dict) -> str:
    """docker ps's MOUNTS: a volume's name, else the source path (trimmed as docker's)."""
    src = m.get("Name") or m.get("Source") or ""
    return src if m.get("Name") or len(src) <= 15 else src[:14] + "…"


def status_text(rec: dict) -> str:
    """docker's STATUS wording."""
    s = rec["State"]
    st = s["Status"]
    if st in ("running", "paused"):
        up = "Up " + duration(rec["State"].get("StartedAt") or rec["Created"])
        health = (s.get("Health") or {}).get("Status")
        if health:
            up += " (health: starting)" if health == "starting" else f" ({health})"
        return up + " (Paused)" if st == "paused" else up
    finished = s.get("FinishedAt") if s.get("FinishedAt") != NEVER else ""
    if st == "restarting":
        return f"Restarting ({s['ExitCode']}) {ago(finished or rec['Created'])}"
    if st == "created":
        return "Created"
    code = s["ExitCode"]
    text = f"Exited ({code})" if code is not None and code >= 0 else "Exited (unknown)"
    if finished:
        text += " " + ago(finished)
    return text                      # docker's State.String(): an OOM kill shows as 137 alone
