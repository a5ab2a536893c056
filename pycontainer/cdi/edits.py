"""Apply CDI ``containerEdits`` to an OCI config.json (a dict), as the reference does.

pkg/cdi/container-edits.go ``Apply``: ``env`` entries are set in
``process.env`` (an existing KEY is replaced); each ``deviceNodes`` entry
becomes a ``linux.devices`` node (type, major:minor and mode read from the
host node when the spec leaves them out - stat(2), makedev(3)) plus an
allow rule in ``linux.resources.devices`` with its ``permissions``
(default ``rwm``, ``none`` for no access); ``mounts`` replace a mount at the
same destination and are then ordered by depth; ``hooks`` are appended to
the OCI hook list of their name; ``additionalGids`` (but 0) join
``process.user.additionalGids``. The runtime then creates the nodes
(devices.py) and enforces the rules (cgroups: v1 files or the v2 eBPF program).
"""

from __future__ import annotations

import os
import stat

from ..errors import DeviceError


def host_node(path: str) -> tuple[str, int, int, int]:
    """(type, major, minor, mode) of a device node on the host; OSError/ValueError."""
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    elif stat.S_ISFIFO(st.st_mode):
        kind = "p"
    else:
        raise ValueError("not a device node")
    return kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)


def node(d: dict, where: str) -> tuple[dict, str]:
    """A CDI deviceNode -> (OCI linux.devices entry, cgroup access); fills from the host."""
    d = dict(d)
    kind, major, minor = d.get("type", ""), d.get("major", 0), d.get("minor", 0)
    minimal = kind != "" and (major != 0 or kind == "p")
    host = d.get("hostPath") or d["path"]
    try:
        hkind, hmajor, hminor, hmode = host_node(host)
    except (OSError, ValueError) as exc:
        if not minimal:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise DeviceError(f"{where}: device node {host}: {why}") from None
    else:
        if d.get("fileMode") is None:
            d["fileMode"] = hmode
        if not minimal:
            if kind in ("", "u") and hkind == "c":
                kind = kind or hkind
            elif kind == "":
                kind = hkind
            if (kind if kind != "u" else "c") != hkind:
                raise DeviceError(f"{where}: device {d['path']} ({host}): type {kind} in the spec, "
                                  f"{hkind} on the host")
            if kind != "p" and major == 0:
                major, minor = hmajor, hminor
    out = {"path": d["path"], "type": kind, "major": major, "minor": minor}
    for k in ("fileMode", "uid", "gid"):
        if d.get(k) is not None:
            out[k] = d[k]
    access = d.get("permissions") or "rwm"
    return out, "" if access == "none" else access


def apply(cfg: dict, edits: dict | None, where: str) -> None:
    """Apply one containerEdits object to ``cfg`` in place."""
    if not edits:
        return
    proc = cfg.setdefault("process", {})
    linux = cfg.setdefault("linux", {})
    set_env(proc, edits.get("env") or [])
    user = proc.get("user") or {}
    for d in edits.get("deviceNodes") or []:
        dev, access = node(d, where)
        for k in ("uid", "gid"):
            if k not in dev and user.get(k, 0) > 0:
                dev[k] = user[k]
        add_device(linux, dev, access)
    if edits.get("mounts"):
        mounts = cfg.setdefault("mounts", [])
        for m in edits["mounts"]:
            mounts[:] = [x for x in mounts if x.get("destination") != m["containerPath"]]
            opts = list(m.get("options") or [])
            mtype = m.get("type") or "bind"
            if mtype == "bind" and not {"bind", "rbind"} & set(opts):
                opts.insert(0, "rbind")
            mounts.append({"destination": m["containerPath"], "source": m["hostPath"],
                           "type": mtype, "options": opts})
        mounts.sort(key=lambda x: os.path.normpath(x["destination"]).count("/"))
    for h in edits.get("hooks") or []:
        hook = {"path": h["path"]}
        for k in ("args", "env", "timeout"):
            if h.get(k) is not None and h.get(k) != []:
                hook[k] = h[k]
        cfg.setdefault("hooks", {}).setdefault(h["hookName"], []).append(hook)
    if edits.get("intelRdt"):
        linux["intelRdt"] = {k: v for k, v in edits["intelRdt"].items() if k != "enableMonitoring"}
    for n in edits.get("netDevices") or []:
        linux.setdefault("netDevices", {})[n["hostInterfaceName"]] = {"name": n["name"]}
    add_gids(proc, edits.get("additionalGids") or [])


def set_env(proc: dict, env: list[str]) -> None:
    cur = proc.setdefault("env", [])
    for e in env:
        key = e.split("=", 1)[0] + "="
        for i, old in enumerate(cur):
            if old.startswith(key):
                cur[i] = e
                break
        else:
            cur.append(e)


def add_device(linux: dict, dev: dict, access: str) -> None:
    """A linux.devices node (replacing one at the same path) and its allow rule."""
    devs = linux.setdefault("devices", [])
    devs[:] = [x for x in devs if x.get("path") != dev["path"]]
    devs.append(dev)
    if dev["type"] in ("b", "c", "u") and access:
        add_rule(linux, {"allow": True, "type": "c" if dev["type"] == "u" else dev["type"],
                         "major": dev["major"], "minor": dev["minor"], "access": access})


def add_rule(linux: dict, rule: dict) -> None:
    linux.setdefault("resources", {}).setdefault("devices", []).append(rule)


def add_gids(proc: dict, gids) -> None:
    user = proc.setdefault("user", {"uid": 0, "gid": 0})
    have = user.setdefault("additionalGids", [])
    for g in gids:
        if g and g not in have:
            have.append(g)


def apply_devices(cfg: dict, resolved: list[tuple]) -> None:
    """Spec-wide edits once per spec, then each device's, in request order."""
    seen = set()
    for spec, dev in resolved:
        if id(spec) not in seen:
            seen.add(id(spec))
            apply(cfg, spec.raw.get("containerEdits"), f"CDI spec {spec.path}")
        apply(cfg, dev.get("containerEdits"), f"CDI spec {spec.path}: device "
                                               f"{spec.qualified(dev['name'])}")
