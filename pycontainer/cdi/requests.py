"""What ``run`` and the API ask for: ``--device``, ``--gpus``, cgroup rules, extra groups.

The docker/podman spellings, turned into edits of config.json:

* ``--device HOST[:CONTAINER[:PERMS]]`` (docker): the host node (or every
  node under a host directory) is made in the container with its type and
  major:minor, and allowed in the device cgroup with PERMS (r, w, m).
* ``--device VENDOR/CLASS=NAME`` (podman, CDI; ``=all`` included): the
  device's CDI edits (registry.py, edits.py).
* ``--gpus all|N|device=ID[,ID]`` (docker): the ``nvidia.com/gpu`` CDI kind:
  ``nvidia.com/gpu=all``, ``=0..N-1``, ``=ID``.
* ``--device-cgroup-rule 'c 10:200 rwm'``: one more allow rule.
* ``--group-add GID|keep-groups``: supplementary groups (``keep-groups``:
  the caller's own, as podman).
* ``--privileged`` (docker): every device node of the host's /dev (runc's
  ``HostDevices``: not under pts, shm, fd, mqueue, .lxc, .lxd-mounts or .udev,
  not console, no FIFOs) and one allow-all cgroup rule; a ``--device`` whose
  container path is its host path is already there (docker skips it too).
* the API's ``device_requests=[DeviceRequest(...)]`` (docker SDK): driver
  ``nvidia`` (or empty with capability ``gpu``) as ``--gpus``, driver
  ``cdi`` with fully-qualified ``device_ids``.

``plan()`` checks and resolves everything before the image is touched;
``apply()`` writes the result into the config.
"""

from __future__ import annotations

import os
import stat

from ..errors import DeviceError
from . import edits as cdiedits

GPU_KIND = "nvidia.com/gpu"
GENERATE_HINT = "pycontainer cdi generate --vendor nvidia --output /etc/cdi/nvidia.yaml"


class DeviceRequest(dict):
    """docker.types.DeviceRequest: driver, count, device_ids, capabilities, options."""

    def __init__(self, driver: str = "", count: int = 0, device_ids=None, capabilities=None,
                 options=None):
        super().__init__(Driver=driver, Count=count, DeviceIDs=list(device_ids or []),
                         Capabilities=[list(c) for c in capabilities or []],
                         Options=dict(options or {}))

    driver = property(lambda self: self["Driver"])
    count = property(lambda self: self["Count"])
    device_ids = property(lambda self: self["DeviceIDs"])
    capabilities = property(lambda self: self["Capabilities"])


def wanted(o: dict) -> bool:
    return any(o.get(k) for k in ("device", "gpus", "device_requests", "device_cgroup_rule",
                                  "group_add", "privileged"))


def plan(o: dict, registry=None) -> dict:
    """Check and resolve the options' device requests -> a plan for ``apply``."""
    nodes, cdi_names, rules, gids = [], [], [], []
    privileged = bool(o.get("privileged"))
    if privileged:                   # moby's WithDevices: the host's nodes, allowed all
        nodes = every_host_device()
        rules.append({"allow": True, "access": "rwm"})
    for d in _list(o.get("device")):
        if "=" in d.split(":")[0] and not d.startswith("/"):
            cdi_names.append(d)
        elif not privileged:
            nodes.extend(host_devices(d))
        else:
            host, dest, _ = _mapping(d)
            if host != dest:                        # one at its own path is there already
                nodes.extend((dev, "") for dev, _ in host_devices(d))
    gpu_names = gpus(o["gpus"]) if o.get("gpus") else []
    for r in _list(o.get("device_requests")):
        names = _request(r)
        if names and names[0] != "count" and not names[0].startswith(GPU_KIND + "="):
            cdi_names += names                     # driver="cdi": any vendor's device names
        else:
            gpu_names += names
    for r in _list(o.get("device_cgroup_rule")):
        rules.append(cgroup_rule(r))
    for g in _list(o.get("group_add")):
        gids.extend(group_add(g))
    resolved = []
    if cdi_names or gpu_names:
        if registry is None:
            from .registry import Registry
            registry = Registry(o.get("cdi_spec_dirs"))   # the caller's dirs (the API's helper
                                                          # was started with another environment)
        if gpu_names and GPU_KIND not in registry.kinds():
            registry.check()
            raise DeviceError(f"--gpus: no CDI spec for {GPU_KIND} in {', '.join(registry.dirs)}; "
                              f"make one with: {GENERATE_HINT}")
        if "count" in gpu_names:                       # the first N GPUs by index
            have = sorted((k for k in registry.devices if k.startswith(GPU_KIND + "=")
                           and k.split("=")[1].isdigit()), key=lambda k: int(k.split("=")[1]))
            names = []
            while "count" in gpu_names:
                i = gpu_names.index("count")
                n = gpu_names[i + 1]
                if n > len(have):
                    raise DeviceError(f"--gpus {n}: only {len(have)} GPU(s) in the CDI specs")
                names += have[:n]
                del gpu_names[i:i + 2]
            gpu_names = names + gpu_names
        resolved = registry.resolve(cdi_names + gpu_names)
        cdiedits.apply_devices({}, resolved)          # a missing host node fails here, early
    return {"nodes": nodes, "cdi": resolved, "rules": rules, "gids": gids}


def apply(cfg: dict, p: dict) -> None:
    linux = cfg.setdefault("linux", {})
    for dev, access in p["nodes"]:
        cdiedits.add_device(linux, dev, access)
    cdiedits.apply_devices(cfg, p["cdi"])
    for r in p["rules"]:
        cdiedits.add_rule(linux, r)
    if p["gids"]:
        cdiedits.add_gids(cfg.setdefault("process", {}), p["gids"])


def _list(v) -> list:
    if not v:
        return []
    return [v] if isinstance(v, (str, dict)) else list(v)


def host_devices(spec: str) -> list[tuple[dict, str]]:
    """``HOST[:CONTAINER[:PERMS]]`` -> [(linux.devices entry, access)]."""
    host, dest, perms = _mapping(spec)
    real = os.path.realpath(host)
    if os.path.isdir(real):
        out = []
        for top, _dirs, files in os.walk(real):
            for f in sorted(files):
                p = os.path.join(top, f)
                try:
                    out.append(_one(p, os.path.join(dest, os.path.relpath(p, real)), perms, spec))
                except DeviceError:
                    continue                   # not a device node: docker skips it too
        return out
    return [_one(real, dest, perms, spec)]


def _mapping(spec: str) -> tuple[str, str, str]:
    """``HOST[:CONTAINER[:PERMS]]`` -> (host, container, perms), checked."""
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise DeviceError(f"--device {spec}: want HOST[:CONTAINER[:PERMS]]")
    host, dest, perms = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if _perms(parts[1]):
            perms = parts[1]
        else:
            dest = parts[1]
    elif len(parts) == 3:
        dest, perms = parts[1], parts[2]
    if not _perms(perms):
        raise DeviceError(f"--device {spec}: bad permissions {perms!r} (want some of r, w, m)")
    if not os.path.isabs(dest):
        raise DeviceError(f"--device {spec}: the container path {dest!r} must be absolute")
    return host, dest, perms


SKIP_DIRS = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")


def every_host_device(top: str = "/dev") -> list[tuple[dict, str]]:
    """Every block and character device under ``top``, as runc's HostDevices finds them
    (the directories of SKIP_DIRS and ``console`` left out, symlinks not followed), each
    with its host mode and owner. No cgroup access of their own: --privileged allows all."""
    out = []
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError as exc:
        raise DeviceError(f"--privileged: list {top}: {exc.strerror}") from None
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            if e.name not in SKIP_DIRS:
                out += every_host_device(e.path)
            continue
        try:
            st = os.lstat(e.path)
        except OSError:
            continue                            # gone meanwhile
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else None
        if kind and e.name != "console":
            out.append(({"path": e.path, "type": kind, "major": os.major(st.st_rdev),
                         "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
                         "uid": st.st_uid, "gid": st.st_gid}, ""))
    return out


def _one(host: str, dest: str, perms: str, spec: str) -> tuple[dict, str]:
    try:
        kind, major, minor, mode = cdiedits.host_node(host)
    except OSError as exc:
        raise DeviceError(f"--device {spec}: {host}: {exc.strerror}") from None
    except ValueError:
        raise DeviceError(f"--device {spec}: {host} is not a device node") from None
    if kind == "p":
        raise DeviceError(f"--device {spec}: {host} is a FIFO, not a device node")
    return ({"path": dest, "type": kind, "major": major, "minor": minor, "fileMode": mode,
             "uid": 0, "gid": 0}, perms)


def _perms(s: str) -> bool:
    return bool(s) and not set(s) - set("rwm") and len(set(s)) == len(s)


def gpus(value: str) -> list:
    """docker's --gpus: ``all``, ``N``, ``device=0,1``, or ``count=N``/``device=..`` CSV."""
    import csv
    v = str(value).strip()
    if v == "all":
        return [f"{GPU_KIND}=all"]
    if v.isdigit():
        return ["count", int(v)] if int(v) > 0 else []
    fields = next(csv.reader([v]), [])
    names: list = []
    for f in fields:
        key, eq, val = f.partition("=")
        if key == "device" and eq:
            names += [f"{GPU_KIND}={i.strip()}" for i in val.split(",") if i.strip()]
        elif key == "count" and eq:
            names += [f"{GPU_KIND}=all"] if val == "all" else (["count", int(val)]
                                                               if val.isdigit() else [])
        elif key in ("capabilities", "driver", "options") and eq:
            continue
        elif names and names[0] != "count" and not eq:       # "device=0,1" split by csv
            names.append(f"{GPU_KIND}={f.strip()}")
        else:
            raise DeviceError(f"--gpus {value}: want all, a count, or device=ID[,ID]")
    if not names:
        raise DeviceError(f"--gpus {value}: want all, a count, or device=ID[,ID]")
    return names


def _request(r) -> list:
    """A docker SDK DeviceRequest (dict or object) -> CDI names or ["count", N]."""
    get = (lambda k, a: r.get(k, r.get(a))) if isinstance(r, dict) else \
        (lambda k, a: getattr(r, a, None))
    driver = (get("Driver", "driver") or "").lower()
    count = get("Count", "count") or 0
    ids = list(get("DeviceIDs", "device_ids") or [])
    caps = [c for group in get("Capabilities", "capabilities") or [] for c in group]
    if driver == "cdi":
        if not ids:
            raise DeviceError("DeviceRequest(driver='cdi') needs device_ids (vendor/class=name)")
        return ids
    if driver not in ("", "nvidia") or (driver == "" and "gpu" not in caps):
        raise DeviceError(f"DeviceRequest: driver {driver!r} with capabilities {caps}: "
                          "only 'nvidia' (or capability 'gpu') and 'cdi' are supported")
    if ids:
        return [f"{GPU_KIND}={i}" for i in ids]
    if count == -1:
        return [f"{GPU_KIND}=all"]
    return ["count", int(count)] if count else []


def cgroup_rule(rule: str) -> dict:
    """``'c 10:200 rwm'`` (type a/b/c, ``*`` for any number) -> an OCI allow rule."""
    parts = rule.split()
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or parts[1].count(":") != 1 \
            or not _perms(parts[2]):
        raise DeviceError(f"--device-cgroup-rule {rule!r}: want 'TYPE MAJOR:MINOR PERMS', "
                          "e.g. 'c 10:200 rwm'")
    nums = []
    for n in parts[1].split(":"):
        if n == "*":
            nums.append(None)
        elif n.isdigit():
            nums.append(int(n))
        else:
            raise DeviceError(f"--device-cgroup-rule {rule!r}: {n!r} is not a number or *")
    out = {"allow": True, "type": parts[0], "access": parts[2]}
    if nums[0] is not None:
        out["major"] = nums[0]
    if nums[1] is not None:
        out["minor"] = nums[1]
    return out


def group_add(g) -> list[int]:
    s = str(g)
    if s == "keep-groups":
        return [x for x in os.getgroups() if x]
    if s.isdigit() and int(s) < 2 ** 32:
        return [int(s)]
    raise DeviceError(f"--group-add {s}: give a numeric GID or keep-groups")

