"""``docker ps`` without a container ID: the table, ``--filter``, ``--format``, ``-q``, ``-l``, ``-n``.

Containers are listed newest first (docker's order), with docker's columns
and wording: ``Up 5 minutes``, ``Up 2 seconds (Paused)``, ``Exited (0) 2
minutes ago``, ``Created``, and the PORTS column (``0.0.0.0:8080->80/tcp``).
Filters (``-f KEY=VALUE``, repeatable; the same key ORs, different keys AND):
``id``, ``name`` (a regular expression, as docker's: ``name=^web$``),
``status`` (created|running|paused|exited|restarting), ``exited`` (a code),
``label`` (``k`` or ``k=v``), ``ancestor`` (an image name), ``before`` and
``since`` (a container: made before or after it), ``network``, ``volume``
(a name or a mount point), ``health`` (starting|healthy|unhealthy|none). ``--format`` takes ``table``, ``json`` or a template (``inspect.format``)
over docker's ps fields (``.ID .Image .Command .CreatedAt .RunningFor .Status
.Ports .Names .Labels .State``).

Read: docker's "docker ps" reference ("Filtering", "Format the output").
"""

from __future__ import annotations

import datetime
import json

import click

from .image.runconfig import port_range
from .inspect import NEVER, ancestor_matches, short_image

FILTER_KEYS = ("id", "name", "status", "exited", "label", "ancestor", "before", "since", "network",
               "volume", "health", "publish", "expose")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse_filters(items) -> dict:
    from .errors import PyContainerError
    out: dict = {}
    for f in items or ():
        k, eq, v = f.partition("=")
        if not eq or k not in FILTER_KEYS:
            raise PyContainerError(f"invalid filter {f!r}: use KEY=VALUE with KEY one of "
                                   + ", ".join(FILTER_KEYS))
        if k == "status" and v not in STATUSES:
            raise PyContainerError(f"invalid filter 'status={v}': one of {', '.join(STATUSES)}")
        if k == "exited" and not v.lstrip("-").isdigit():
            raise PyContainerError(f"invalid filter 'exited={v}': give an exit code")
        if k in ("publish", "expose") and not port_range(v):
            raise PyContainerError(f"invalid filter '{k}={v}': give PORT[/PROTO] or START-END[/PROTO]")
        if k == "health" and v not in ("starting", "healthy", "unhealthy", "none"):
            raise PyContainerError(f"invalid filter 'health={v}': starting, healthy, unhealthy or none")
        out.setdefault(k, []).append(v)
    return out


def _port_matches(v: str, keys) -> bool:
    """docker's publish=/expose= filters: one of ``keys`` ("80/tcp") in the range ``v``."""
    lo, hi, proto = port_range(v)
    return any(k.partition("/")[2] == proto and lo <= int(k.partition("/")[0]) <= hi
               for k in keys or () if k.partition("/")[0].isdigit())


def _name_matches(pattern: str, name: str) -> bool:
    """docker matches a name filter as a regular expression (with or without its "/")."""
    import re
    try:
        return bool(re.search(pattern, name) or re.search(pattern, "/" + name))
    except re.error:
        return pattern in name


def _created_of(out: list, ref: str) -> str:
    from .errors import PyContainerError
    exact = [r for r in out if ref in (r["Id"], r["Name"].lstrip("/"))]
    found = exact or [r for r in out if r["Id"].startswith(ref)]
    if len(found) == 1:
        return found[0]["Created"]
    raise PyContainerError(f"invalid filter: no such container {ref!r}" if not found else
                           f"invalid filter: {ref!r} is ambiguous")


def _match(rec: dict, flt: dict) -> bool:
    s = rec["State"]
    nets = set(rec["NetworkSettings"].get("Networks") or {}) | {rec["HostConfig"]["NetworkMode"]}
    tests = {
        "id": lambda v: rec["Id"].startswith(v),
        "name": lambda v: _name_matches(v, rec["Name"].lstrip("/")),
        "before": lambda v: rec["Created"] < v, "since": lambda v: rec["Created"] > v,
        "network": lambda v: v in nets or v == "bridge" and "pyc" in nets,
        "volume": lambda v: any(v in (m["Destination"], m["Source"]) or f"/volumes/{v}/_data" in m["Source"]
                                for m in rec.get("Mounts") or ()),
        "health": lambda v: (s.get("Health") or {}).get("Status", "none") == v,
        "status": lambda v: s["Status"] == v,
        "exited": lambda v: s["Status"] == "exited" and s["ExitCode"] == int(v),
        "label": lambda v: (v.partition("=")[0] in rec["Config"]["Labels"] and
                            ("=" not in v or rec["Config"]["Labels"][v.partition("=")[0]] ==
                             v.partition("=")[2])),
        "ancestor": lambda v: ancestor_matches(rec, v),
        "publish": lambda v: _port_matches(v, rec["NetworkSettings"].get("Ports")),
        "expose": lambda v: _port_matches(v, rec["Config"].get("ExposedPorts")),
    }
    return all(any(tests[k](v) for v in vs) for k, vs in flt.items())


def rows(root: str, *, all_: bool, filters: dict, last: int | None) -> list[dict]:
    from . import inspect as insp
    from .container import Runtime
    Runtime(root).reclaim()          # --rm containers whose runtime died go, as docker's would
    out = insp.records(root)
    out.sort(key=lambda r: r["Created"], reverse=True)
    for key in ("before", "since"):                  # a container -> its creation time
        if key in filters:
            filters = {**filters, key: [_created_of(out, ref) for ref in filters[key]]}
    if last is not None:
        out = out[:last]
    elif not all_ and "status" not in filters and "exited" not in filters:
        out = [r for r in out if r["State"]["Status"] in ("running", "paused", "restarting")]
    return [r for r in out if _match(r, filters)]


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
    import os
    from .containerdir import du
    from .image.store import Store
    from .image.space import human_size
    rw = du(os.path.join(rec.get("Dir") or "", "upper")) if rec.get("Dir") else 0
    try:
        image = Store(None).inspect(rec["Image"])["Size"]
    except Exception:  # noqa: BLE001 - an image removed since (rmi -f): its size unknown
        return human_size(rw, False, 3)
    return f"{human_size(rw, False, 3)} (virtual {human_size(rw + image, False, 3)})"


def view(rec: dict, no_trunc: bool = False, size: bool = False) -> dict:
    """docker ps's fields for one container (``size``: its SIZE too, which reads its files)."""
    from . import inspect as insp
    cmd = " ".join(([rec["Path"]] if rec.get("Path") else []) + list(rec.get("Args") or []))
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    labels = rec["Config"].get("Labels") or {}
    mode = rec["HostConfig"]["NetworkMode"]
    return {"ID": rec["Id"] if no_trunc else rec["Id"][:12],
            "Image": short_image(rec["Config"]["Image"]) or "-", "Command": f'"{cmd}"',
            "CreatedAt": rec["Created"], "RunningFor": ago(rec["Created"]),
            "Status": status_text(rec), "Ports": insp.ports_text(rec), "Names": rec["Name"].lstrip("/"),
            "State": rec["State"]["Status"],
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "Networks": ",".join(rec["NetworkSettings"].get("Networks") or ())
            or (mode if mode in ("host", "none") else ""),
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
    if s.get("OOMKilled"):
        text += " (OOM killed)"
    return text


def duration(ts: str) -> str:
    """docker's go-units HumanDuration: ``Less than a second``, ``5 seconds``, ``About a minute``."""
    from .inspect import parse_time
    t = parse_time(ts)
    if t is None:
        return "-"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{int(s)} seconds"
    m = int(s // 60)
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{int(m)} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    d = h // 24
    if h < 24 * 7 * 2:
        return f"{d} days"
    if h < 24 * 30 * 2:
        return f"{d // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{d // 30} months"
    return f"{d // 365} years"


def ago(ts: str) -> str:
    d = duration(ts)
    return d if d == "-" else d + " ago"
