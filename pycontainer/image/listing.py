"""Which images ``images`` (and the API's ``images.list()``) show, by docker's rules.

* the build cache's unnamed step images only with ``-a`` (``all``);
* ``images REPOSITORY[:TAG]`` (the API's ``name``): those names only;
* ``--filter`` (the API's ``filters``): ``dangling=true|false`` (no name, or a
  name), ``label=KEY`` or ``label=KEY=VALUE`` (all must match),
  ``reference=PATTERN`` (a glob over ``repo:tag`` or ``repo``; any may match).

``fields`` gives a row the names docker's ``--format`` templates use (``.ID``,
``.Repository``, ``.Tag``, ``.Digest``, ``.CreatedAt``, ``.CreatedSince``,
``.Size``). No kernel interface here: read docker's "docker images" reference
("Filtering", "Format the output").
"""

from __future__ import annotations

from ..errors import ImageError

FILTERS = ("dangling", "label", "reference")


def parse_filters(items) -> dict:
    """``--filter KEY=VALUE`` items -> {key: [values]}; an unknown key is one line of error."""
    out: dict = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in FILTERS:
            raise ImageError(f"--filter {item!r}: give KEY=VALUE with KEY one of {', '.join(FILTERS)}")
        out.setdefault(key, []).append(value)
    return out


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


def _as_list(v) -> list:
    return [v] if isinstance(v, (str, bool)) else list(v)


def select(store, rows: list[dict], *, name: str | None = None, all_: bool = False,
           filters: dict | None = None) -> list[dict]:
    """The rows (``Store.list()``'s) to show, each with ``shown``: its names that ``name``
    and the reference filter let through (all of them without either), as docker lists
    one line per name."""
    from fnmatch import fnmatchcase

    from .reference import familiar
    filters = {k: _as_list(v) for k, v in (filters or {}).items()}
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ImageError(f"invalid filter {unknown[0]!r} (this store filters by {', '.join(FILTERS)})")
    dangling = {_truth(v) for v in filters.get("dangling", [])}
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
        shown = [n for n in row["names"] if wanted(n)]
        if (name is not None or filters.get("reference")) and not shown:
            continue
        if filters.get("label"):
            cfg = store.inspect(row["names"][0] if row["names"] else row["digest"])
            if not labels_match((cfg.get("Config") or {}).get("Labels") or {}, filters["label"]):
                continue
        out.append(dict(row, shown=shown))
    return out


def fields(row: dict, name: str | None, size: str) -> dict:
    """One line of ``images``: what docker's --format templates name (``size``: as shown)."""
    from ..pstable import ago
    from .reference import familiar
    if name:
        base = familiar(name).split("@")[0]
        slash, colon = base.rfind("/"), base.rfind(":")
        repo, tag = (base[:colon], base[colon + 1:]) if colon > slash else (base, "<none>")
    else:
        repo, tag = "<none>", "<none>"
    return {"ID": row["id"][7:19], "Repository": repo, "Tag": tag, "Digest": row["digest"],
            "CreatedAt": row.get("created", ""),
            "CreatedSince": ago(row["created"]) if row.get("created") else "N/A", "Size": size}
