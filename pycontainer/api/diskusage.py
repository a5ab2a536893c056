"""``client.df()``: disk usage as the Engine API's ``GET /system/df`` reports it.

What is counted is what ``system df`` counts (system_cli.py): an image's
size is its compressed blobs as the store holds them (manifest + config +
layers); a container's ``SizeRw`` is what its writable layer (the overlay's
upper dir) takes on disk, ``SizeRootFs`` that plus its image; a volume's
``UsageData`` is what its ``_data`` takes and how many containers mount it.
``LayersSize`` is the layer blobs, each counted once however many images
share it. Sizes are du(1)'s (allocated blocks) for files a container or
volume wrote, the registry's byte counts for blobs.

Read: the Engine API reference, "Get data usage information" (/system/df).
"""

from __future__ import annotations


def _unix(ts: str) -> int:
    from ..duration import parse_time
    t = parse_time(ts) if ts else None
    return int(t.timestamp()) if t else 0


def engine_df(root: str, image_root: str | None) -> dict:
    from .. import containerdir as cd
    from .. import inspect as insp
    from .. import volumes
    from ..image.reference import familiar
    from ..image.space import layer_sharing
    from ..image.store import Store
    store = Store(image_root)
    holds = [h.get("image") for h in store.holds().values()]
    rows = store.list()
    shared, layers_size = layer_sharing(store, rows)
    out_images = [{
        "Id": r["id"], "ParentId": "", "RepoTags": [familiar(n) for n in r["names"]], "RepoDigests": [],
        "Created": _unix(r["created"]), "Size": r["size"], "SharedSize": shared[r["digest"]],
        "Labels": {}, "Containers": holds.count(r["digest"])} for r in rows]
    size_of = {r["id"]: r["size"] for r in rows}
    out_containers = []
    for rec in insp.records(root):
        size = insp.sizes(rec, size_of.get(rec.get("Image") or "", 0))
        out_containers.append({
            "Id": rec["Id"], "Names": [rec["Name"]], "Image": rec["Config"].get("Image") or "",
            "ImageID": rec.get("Image") or "",
            "Command": " ".join(([rec["Path"]] if rec.get("Path") else []) + list(rec.get("Args") or [])),
            "Created": _unix(rec["Created"]), "State": rec["State"]["Status"],
            "Labels": rec["Config"].get("Labels") or {}, "Mounts": rec.get("Mounts") or [],
            **size})
    out_volumes = []
    for n in volumes.names():
        v = volumes.inspect(n)
        out_volumes.append({**v, "UsageData": {"Size": cd.du(v["Mountpoint"]),
                                               "RefCount": len(volumes.users(n))}})
    return {"LayersSize": layers_size, "Images": out_images,
            "Containers": out_containers, "Volumes": out_volumes, "BuildCache": []}
