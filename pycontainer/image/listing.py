"""Which images ``images`` (and the API's ``images.list()``) show, by docker's rules.

* the build cache's unnamed step images only with ``-a`` (``all``);
* ``images REPOSITORY[:TAG]`` (the API's ``name``): those names only;
* ``--filter`` (the API's ``filters``): ``dangling=true|false`` (no name, or a
  name), ``label=KEY`` or ``label=KEY=VALUE`` (all must match),
  ``reference=PATTERN`` (a glob over ``repo:tag`` or ``repo``; any may match),
  ``before=IMAGE``/``since=IMAGE`` (made before/after it), ``until=TIME`` (made
  before a time or a duration ago: ``24h``).

``prune_match`` is the ``--filter`` of ``image prune`` and ``container prune``:
``until=TIME``, ``label=K[=V]`` and ``label!=K[=V]``.

``fields`` gives a row the names docker's ``--format`` templates use (``.ID``,
``.Repository``, ``.Tag``, ``.Digest``, ``.CreatedAt``, ``.CreatedSince``,
``.Size``). No kernel interface here: read docker's "docker images" reference
("Filtering", "Format the output").
"""

from __future__ import annotations

from ..errors import ImageError

FILTERS = ("dangling", "label", "reference", "before", "since", "until")
PRUNE_FILTERS = ("until", "label", "label!")


def parse_filters(items, known=FILTERS) -> dict:
    """``--filter KEY=VALUE`` items -> {key: [values]}; an unknown key is one line of error."""
    out: dict = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in known:
            raise ImageError(f"--filter {item!r}: give KEY=VALUE with KEY one of {', '.join(known)}")
        if key == "until":                         # a bad time is one error, before any match
            from ..duration import point_in_time
            point_in_time(value, "--filter until")
        out.setdefault(key, []).append(value)
    return out


def _ts(created: str) -> float:
    from ..duration import parse_time
    t = parse_time(created or "")
    return t.timestamp() if t else 0.0


def prune_digests(store, filters: dict) -> set | None:
    """The images (manifest digests) prune's ``filters`` let go; None: no filter."""
    if not filters:
        return None
    return {r["digest"] for r in store.list()
            if prune_match(r["created"], (store.inspect(r["digest"]).get("Config") or {})
                           .get("Labels") or {}, filters)}


def prune_match(created: str, labels: dict, filters: dict) -> bool:
    """docker's prune filters: made before every ``until``, every ``label`` there, no
    ``label!`` there (``K`` or ``K=V``)."""
    from ..duration import point_in_time
    if any(_ts(created) >= point_in_time(u, "--filter until") for u in filters.get("until", [])):
        return False
    if filters.get("label") and not labels_match(labels, filters["label"]):
        return False
    return not any(labels_match(labels, [v]) for v in filters.get("label!", []))


def _truth(value) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).lower()
    if v not in ("true", "false", "1", "0"):
        raise ImageError(f"filter dangling={value!r}: give true or false")
    return v in ("true", "1")


def labels_match(labels: dict, wanted) -> bool:
    """docker's ``label`` filter (images and containers): every "k" is there, every "k=v"
    has that value."""
    for v in [wanted] if isinstance(wanted, str) else wanted:
        k, eq, val = v.partition("=")
        if k not in labels or (eq and labels[k] != val):
            return False
    return True


def filters_match(flt: dict, tests: dict) -> bool:
    """docker's rule for ``--filter``: a key given twice ORs, different keys AND, and several
    labels AND (its MatchKVList); ``tests``: key -> a test of one value."""
    return all((all if k == "label" else any)(tests[k](v) for v in vs) for k, vs in flt.items())


def _as_list(v) -> list:
    return [v] if isinstance(v, (str, bool)) else list(v)


def select(store, rows: list[dict], *, name: str | None = None, all_: bool = False,
           filters: dict | None = None) -> list[dict]:
    """The rows (``Store.list()``'s) to show, newest first, each with ``shown``: its names
    that ``name`` and the reference filter let through (all of them without either), as
    docker lists one line per name."""
    from fnmatch import fnmatchcase

    from .reference import familiar
    filters = {k: _as_list(v) for k, v in (filters or {}).items()}
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ImageError(f"invalid filter {unknown[0]!r} (this store filters by {', '.join(FILTERS)})")
    dangling = {_truth(v) for v in filters.get("dangling", [])}
    after = max([_ts(store.inspect(r)["Created"]) for r in filters.get("since", [])], default=None)
    before = min([_ts(store.inspect(r)["Created"]) for r in filters.get("before", [])], default=None)
    if filters.get("until"):
        from ..duration import point_in_time
        until = min(point_in_time(u, "--filter until") for u in filters["until"])
        before = until if before is None else min(before, until)
    out = []
    def wanted(n: str) -> bool:
        forms = (familiar(n), familiar(n).rsplit(":", 1)[0])
        return (name is None or name in forms) and \
            (not filters.get("reference") or any(fnmatchcase(f, p) for p in filters["reference"]
                                                 for f in forms))
    for row in rows:
        if not (all_ or row["names"] or not row.get("intermediate")):
            continue
        if dangling and (not row["names"]) not in dangling:
            continue
        if after is not None and _ts(row["created"]) <= after or \
                before is not None and _ts(row["created"]) >= before:
            continue
        shown = [n for n in row["names"] if wanted(n)]
        if (name is not None or filters.get("reference")) and not shown:
            continue
        if filters.get("label"):
            cfg = store.inspect(row["names"][0] if row["names"] else row["digest"])
            if not labels_match((cfg.get("Config") or {}).get("Labels") or {}, filters["label"]):
                continue
        out.append(dict(row, shown=shown))
    # one ID is one image: a build's cache entry that made the same image as a named one (or
    # as another entry) is not listed again under <none>; named rows first, then images, then
    # cache entries, so that the row kept is the one `images` without -a shows too
    ids: set = set()
    once = []
    for r in sorted(out, key=lambda r: (not r["names"], bool(r.get("intermediate")))):
        if r["names"] or r["id"] not in ids:
            once.append(r)
            ids.add(r["id"])
    out = once
    out.sort(key=lambda r: _ts(r["created"]), reverse=True)     # newest first, as docker's daemon
    return out


def fields(row: dict, name: str | None, size: str) -> dict:
    """One line of ``images``: what docker's --format templates name (``size``: as shown)."""
    from ..duration import ago, go_string
    from .reference import familiar
    if name:
        base = familiar(name).split("@")[0]
        slash, colon = base.rfind("/"), base.rfind(":")
        repo, tag = (base[:colon], base[colon + 1:]) if colon > slash else (base, "<none>")
    else:
        repo, tag = "<none>", "<none>"
    return {"ID": row["id"][7:19], "Repository": repo, "Tag": tag, "Digest": row["digest"],
            "CreatedAt": go_string(row.get("created", "")),
            "CreatedSince": ago(row["created"]) if row.get("created") else "N/A", "Size": size}
