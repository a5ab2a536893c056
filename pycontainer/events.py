"""docker's events: what happened to containers, images, volumes and networks, as a journal.

docker's daemon keeps its events in memory and streams them to ``docker events``; with no
daemon, each verb that makes a change appends one JSON line to a journal beside the
containers' directories (``events.log``: the Engine API's event, ``{"Type", "Action",
"Actor": {"ID", "Attributes"}, "time", "timeNano", ...}``). A line is one ``write(2)`` on
an ``O_APPEND`` descriptor, shorter than PIPE_BUF, so writers never interleave (write(2):
"the file offset is first set to the end of the file ... atomic"); past 1 MiB the journal
is renamed to ``events.log.1`` (the one before that is dropped). Recording never fails
the verb that records.

``read`` yields the events between two times that pass docker's filters (``type``,
``event``, ``container``, ``image``, ``volume``, ``network``, ``label``); ``follow``
then polls for new lines until ``until`` or an interrupt. ``line`` is the text form of
``docker events``.

Read: docker's "docker system events" reference (the event types and their actions);
write(2), open(2) O_APPEND.
"""

from __future__ import annotations

import json
import os
import time

MAX_BYTES = 1 << 20
FILTERS = ("type", "event", "container", "image", "volume", "network", "label")


DEFAULT_CONTAINERS = "/var/lib/pycontainer/containers"     # image/rootfs.py's, and its variable


def path() -> str:
    """``events.log`` beside the containers' directories."""
    return os.path.join(os.path.dirname(os.environ.get("PYCONTAINER_CONTAINERS_DIR") or
                                        DEFAULT_CONTAINERS), "events.log")


def record(kind: str, action: str, actor: str, **attributes) -> None:
    """Append one event (never raises: an event is not worth failing a verb for)."""
    try:
        ns = time.time_ns()
        attrs = {k: str(v) for k, v in attributes.items() if v is not None}
        ev = {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": attrs},
              "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
        if kind == "container":                        # the Engine API's older keys, too
            ev.update(status=action, id=actor, **({"from": attrs["image"]} if "image" in attrs else {}))
        data = (json.dumps(ev, separators=(",", ":")) + "\n").encode()
        p = path()
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            if os.fstat(fd).st_size > MAX_BYTES:
                os.rename(p, p + ".1")
        finally:
            os.close(fd)
    except OSError:
        pass


class Message(dict):
    """An event as ``--format`` templates see it: docker's Go struct (events.Message), whose
    fields ``.Status``, ``.ID``, ``.From``, ``.Scope``, ``.Time``, ``.TimeNano`` are the JSON
    keys ``status``, ``id``, ``from``, ``scope``, ``time``, ``timeNano``."""
    GO_NAMES = {"Status": "status", "ID": "id", "From": "from", "Scope": "scope", "Time": "time",
                "TimeNano": "timeNano"}


def container(action: str, cid: str, rec: dict | None = None, **extra) -> None:
    """A container's event, with docker's attributes (image, name, its labels)."""
    attrs = {}
    if rec:
        attrs = {**(rec.get("Config") or {}).get("Labels", {}),
                 "image": (rec.get("Config") or {}).get("Image"), "name": rec.get("Name", "").lstrip("/")}
    record("container", action, cid, **attrs, **extra)


def container_o(action: str, cid: str, o: dict, **extra) -> None:
    """A container's event from its options (``api.config``'s: image, name, labels)."""
    labels = dict(o.get("labels") or {})
    labels.update(kv.split("=", 1) if "=" in kv else (kv, "") for kv in o.get("label") or ())
    record("container", action, cid, **labels, image=o.get("image"), name=o.get("name") or cid, **extra)


def parse_filters(items) -> dict:
    from .errors import PyContainerError
    out: dict = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not eq or k not in FILTERS:
            raise PyContainerError(f"--filter {item!r}: give KEY=VALUE with KEY one of {', '.join(FILTERS)}")
        out.setdefault(k, []).append(v)
    return out


def _match(ev: dict, flt: dict) -> bool:
    attrs = ev["Actor"]["Attributes"]
    names = {ev["Actor"]["ID"], ev["Actor"]["ID"][:12], attrs.get("name")}
    for k, values in flt.items():
        if k == "type" and ev["Type"] not in values or k == "event" and ev["Action"] not in values:
            return False
        if k in ("container", "volume", "network") and (ev["Type"] != k or not names & set(values)):
            return False
        if k == "image" and not ({attrs.get("image"), attrs.get("name"), ev["Actor"]["ID"]} & set(values)):
            return False
        if k == "label" and not all(v.partition("=")[0] in attrs and
                                    (not v.partition("=")[1] or
                                     attrs[v.partition("=")[0]] == v.partition("=")[2]) for v in values):
            return False                # (listing.labels_match's rule: importing it would cycle)
    return True


def _lines(p: str, offset: int = 0):
    try:
        with open(p, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1                      # a line being written stays for next time
    return data[:end].splitlines(), offset + end


def read(since: float | None, until: float | None, flt: dict):
    """Events from ``since`` (Unix seconds) to ``until``, oldest first."""
    p = path()
    for chunk in (_lines(p + ".1")[0], _lines(p)[0]):
        for ln in chunk:
            try:
                ev = json.loads(ln)
            except ValueError:
                continue
            t = ev["timeNano"] / 1e9
            if (since is None or t >= since) and (until is None or t <= until) and _match(ev, flt):
                yield ev


def follow(flt: dict, until: float | None = None, every: float = 0.2):
    """New events as they are recorded (from now), until ``until``: the last read comes after
    it, for those recorded in the last interval (docker shows every event up to ``until``)."""
    p = path()
    try:
        offset, ino = os.stat(p).st_size, os.stat(p).st_ino
    except OSError:
        offset, ino = 0, None
    while True:
        last = until is not None and time.time() >= until
        try:
            st = os.stat(p)
        except OSError:
            st = None
        if st is not None and st.st_ino != ino:         # rotated: the new file from its start
            offset, ino = 0, st.st_ino
        lines, offset = _lines(p, offset)
        for ln in lines:
            try:
                ev = json.loads(ln)
            except ValueError:
                continue
            if _match(ev, flt) and (until is None or ev.get("timeNano", 0) <= until * 1e9):
                yield ev
        if last:
            return
        time.sleep(every if until is None else max(0.0, min(every, until - time.time())))


def line(ev: dict) -> str:
    """docker events' text: ``TIME TYPE ACTION ID (k=v, ...)``."""
    ns = ev["timeNano"]
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(ev["Actor"]["Attributes"].items()))
    return f"{when} {ev['Type']} {ev['Action']} {ev['Actor']['ID']}" + (f" ({attrs})" if attrs else "")


def destroyed(container_id: str, cdir: str) -> None:
    """docker's "destroy" of a container whose directory goes now (containerdir.remove), with
    the image and name the directory still knows."""
    opts = {}
    try:
        with open(os.path.join(cdir, "config.json")) as f:
            ann = json.load(f).get("annotations") or {}
        opts = json.loads(ann.get("org.pycontainer.options") or "{}")
        with open(os.path.join(cdir, "name")) as f:
            opts["name"] = f.read().strip()
    except (OSError, ValueError):
        pass
    container_o("destroy", container_id, opts)
