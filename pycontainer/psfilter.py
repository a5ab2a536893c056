"""Which containers ``docker ps`` lists: ``--all``, ``-n``, and ``--filter KEY=VALUE``.

The same key given twice ORs, different keys AND (docker's rule). The keys
are docker's: ``id`` (a prefix), ``name`` (a regular expression, as
docker's: ``name=^web$``), ``status`` (created|restarting|running|paused|
exited|...), ``exited`` (a code), ``label`` (``k`` or ``k=v``), ``ancestor``
(an image: ID, name or name:tag), ``before``/``since`` (a container: made
before or after it), ``network``, ``volume`` (a name or a mount point),
``health`` (starting|healthy|unhealthy|none), ``publish``/``expose`` (a
port or a range, ``/proto``). ``pstable.py`` prints what ``rows`` returns;
the API's ``containers.list(filters=...)`` (docker-py's dict form, through
``from_sdk``) returns the same containers.

Read: docker's "docker ps" reference ("Filtering").
"""

from __future__ import annotations

from .image.listing import filters_match, labels_match
from .image.runconfig import port_range
from .inspect import ancestor_matches

FILTER_KEYS = ("id", "name", "status", "exited", "label", "ancestor", "before", "since", "network",
               "volume", "health", "publish", "expose")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse_filters(items) -> dict:
    """The CLI's ``KEY=VALUE`` items -> {key: [values]}, each checked (one-line errors)."""
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
        "label": lambda v: labels_match(rec["Config"].get("Labels") or {}, v),
        "ancestor": lambda v: ancestor_matches(rec, v),
        "publish": lambda v: _port_matches(v, rec["NetworkSettings"].get("Ports")),
        "expose": lambda v: _port_matches(v, rec["Config"].get("ExposedPorts")),
    }
    return filters_match(flt, tests)


def from_sdk(filters: dict | None) -> dict:
    """docker-py's ``filters={"status": "exited", "label": ["a=b"], "exited": 0}`` -> the
    same dict as ``parse_filters`` makes (a key's value: one, or a list that ORs)."""
    items = []
    for k, v in (filters or {}).items():
        for one in (v if isinstance(v, (list, tuple, set)) else [v]):
            items.append(f"{k}={str(one).lower() if isinstance(one, bool) else one}")
    return parse_filters(items)


def rows(root: str, *, all_: bool, filters: dict, last: int | None) -> list[dict]:
    """The containers' inspect records, newest first: the running ones (every one with
    ``all_``, a status/exited filter, or ``last``: the newest N of all), that match."""
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
