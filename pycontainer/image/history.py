"""An image's history: the steps that made it, from its config's ``history`` (image-spec
config.md: ``created``, ``created_by``, ``comment``, ``empty_layer``), each matched with
the layer it made, for ``history`` (image/cli.py) and the API's ``Image.history()``.

A step with ``empty_layer`` (ENV, CMD, LABEL...) made no layer; every other one made
the next layer of the manifest, in order.
"""

from __future__ import annotations


def rows(attrs: dict) -> list[dict]:
    """The image config's ``history``, newest first, each step with the size of the layer it
    made (0 for ``empty_layer`` steps: ENV, CMD, ...), as docker's ``history``."""
    layers = list(attrs.get("Layers") or [])
    out = []
    for h in attrs.get("History") or []:
        size = 0 if h.get("empty_layer") or not layers else (layers.pop(0).get("size") or 0)
        out.append({"CreatedAt": h.get("created", ""), "CreatedBy": h.get("created_by", ""),
                     "Size": size, "Comment": h.get("comment", "")})
    out.reverse()
    for i, r in enumerate(out):
        r["ID"] = attrs["Id"] if i == 0 else "<missing>"
    if out and not out[0]["CreatedAt"]:
        out[0]["CreatedAt"] = attrs.get("Created", "")    # the newest step made the image
    return out
