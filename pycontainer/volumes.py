"""Named volumes: directories under the data root that outlive containers (docker's "local" driver).

A volume is ``/var/lib/pycontainer/volumes/<name>/_data`` (docker's layout)
plus ``meta.json`` (created time, labels). A container gets it as a bind
mount (mount(2) ``MS_BIND``, made by the init like any ``-v``); nothing is
mounted on the host. ``-v NAME:/path[:ro]`` and ``--mount type=volume,...``
create a missing volume, and a *new* (empty) volume is first filled with what
the image has at ``/path`` (docker's "populate" rule), read from the image's
unpacked layers bottom-up with overlayfs' whiteouts applied.

In use = named by a mount in the config.json of any container that exists
(any state root): ``rm`` and ``prune`` leave such a volume alone.

``volume create -o type=none -o o=bind -o device=/srv/data NAME`` (the local
driver's bind form, which compose files use to name a host directory): the
container's mount is a bind of that directory, not of ``_data``, and it is
never populated from the image nor deleted with the volume. The driver's other
forms (tmpfs, nfs: a mount(2) on the host) are refused in one line.

An anonymous volume (``-v /path``, ``--mount type=volume,target=/path``) gets
a random name and docker's label ``com.docker.volume.anonymous``; it goes with
its container when that is removed with ``--rm`` or ``rm -v``, unless another
container (``--volumes-from``) still uses it: ``remove_anonymous``.

Read: docker's "Volumes" and "docker volume" pages; mount(2) (MS_BIND).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat

from .errors import PyContainerError
from .image.whiteouts import is_whiteout

DEFAULT_ROOT = "/var/lib/pycontainer/volumes"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def root() -> str:
    return os.environ.get("PYCONTAINER_VOLUMES_DIR") or DEFAULT_ROOT


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise PyContainerError(f"invalid volume name {name!r}: use [A-Za-z0-9][A-Za-z0-9_.-]*, "
                               "at most 128 characters")
    return name


def path(name: str) -> str:
    return os.path.join(root(), check_name(name))


def exists(name: str) -> bool:
    return os.path.isdir(os.path.join(path(name), "_data"))


def check_options(opts: dict | None) -> dict:
    """The local driver's options: only its bind form (type=none, o=bind, device=DIR)."""
    if not opts:
        return {}
    o = {str(k): str(v) for k, v in opts.items()}
    if set(o) - {"type", "o", "device"} or o.get("type") != "none" or \
            "bind" not in o.get("o", "").split(","):
        raise PyContainerError(f"volume options {o}: only the local driver's bind form is supported "
                               "(-o type=none -o o=bind -o device=/host/dir)")
    if not os.path.isabs(o.get("device", "")) or not os.path.isdir(o["device"]):
        raise PyContainerError(f"volume option device={o.get('device', '')!r}: give an existing "
                               "directory (an absolute path)")
    return o


def source(name: str) -> str:
    """The directory a container's bind mount of the volume shows: its device= or _data."""
    return (inspect(name)["Options"] or {}).get("device") or os.path.join(path(name), "_data")


def create(name: str, labels: dict | None = None, options: dict | None = None) -> tuple[str, bool]:
    """Create the volume if missing; -> (the directory a container gets, created now)."""
    import time
    options = check_options(options)
    d = path(name)
    if exists(name):
        if options and options != inspect(name)["Options"]:
            raise PyContainerError(f"volume {name} already exists with other options")
        return source(name), False
    os.makedirs(root(), 0o700, exist_ok=True)
    tmp = d + ".tmp-" + str(os.getpid())
    os.makedirs(os.path.join(tmp, "_data"), 0o755)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"Name": name, "Driver": "local", "Labels": labels or {}, "Options": options,
                   "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f)
    try:
        os.rename(tmp, d)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not exists(name):
            raise PyContainerError(f"volume {name}: cannot create {d}") from None
        return source(name), False
    from .events import record
    record("volume", "create", name, driver="local")
    return source(name), True


def inspect(name: str) -> dict:
    if not exists(name):
        raise PyContainerError(f"no such volume: {name}")
    d = path(name)
    try:
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        meta = {"Name": name, "Driver": "local", "Labels": {}}
    return {"CreatedAt": meta.get("CreatedAt", ""), "Driver": "local",
            "Labels": meta.get("Labels") or {}, "Mountpoint": os.path.join(d, "_data"),
            "Name": name, "Options": meta.get("Options") or {}, "Scope": "local"}


def names() -> list[str]:
    try:
        return sorted(n for n in os.listdir(root()) if _NAME.match(n) and exists(n))
    except OSError:
        return []


def users(name: str) -> list[str]:
    """IDs of the containers (any root) whose config mounts this volume."""
    from .image.rootfs import container_dir
    data = {os.path.join(path(name), "_data"), source(name)}
    out = []
    parent = os.path.dirname(container_dir("x"))
    for cid in os.listdir(parent) if os.path.isdir(parent) else []:
        try:
            with open(os.path.join(parent, cid, "config.json")) as f:
                mounts = json.load(f).get("mounts", [])
        except (OSError, ValueError):
            continue
        if any(m.get("source") in data for m in mounts):
            out.append(cid)
    return sorted(out)


ANONYMOUS = "com.docker.volume.anonymous"       # docker 23's label on an anonymous volume


def anonymous_in(mounts) -> list[str]:
    """The anonymous volumes among OCI ``mounts`` (binds of ``root()/NAME/_data``)."""
    out = []
    for m in mounts or ():
        vdir, data = os.path.split((m.get("source") or "").rstrip("/"))
        if data != "_data" or os.path.dirname(vdir) != root():
            continue
        name = os.path.basename(vdir)
        try:
            with open(os.path.join(vdir, "meta.json")) as f:
                if ANONYMOUS in (json.load(f).get("Labels") or {}):
                    out.append(name)
        except (OSError, ValueError, AttributeError):
            continue
    return out


def remove_anonymous(names) -> None:
    """Remove these anonymous volumes of a removed container; one another container still
    mounts (--volumes-from) stays, as docker's."""
    for name in names:
        try:
            remove(name)
        except PyContainerError:
            pass


def remove(name: str, force: bool = False) -> None:
    if not exists(name):
        raise PyContainerError(f"no such volume: {name}")
    u = users(name)
    if u:
        raise PyContainerError(f"volume {name} is in use by container(s) {', '.join(u)}: "
                               "remove them first")
    shutil.rmtree(path(name))
    from .events import record
    record("volume", "destroy", name, driver="local")


def prune(all_: bool = False, labels=()) -> list[str]:
    """Remove the volumes no container mounts: only anonymous ones unless ``all_`` (docker
    23's rule: a named volume is data someone named; ``volume prune -a`` takes it too),
    and of those only the ones matching every ``labels`` filter (KEY or KEY=VALUE).
    -> their names."""
    gone = []
    for n in names():
        meta = inspect(n).get("Labels") or {}
        if not all_ and ANONYMOUS not in meta:
            continue
        if labels:
            from .image.listing import labels_match
            if not labels_match(meta, list(labels)):
                continue
        if not users(n):
            shutil.rmtree(path(n), ignore_errors=True)
            gone.append(n)
            from .events import record
            record("volume", "destroy", n, driver="local")
    return gone


# --- -v NAME:/dst and --mount -------------------------------------------------------------

def parse_mount(text: str) -> dict:
    """``--mount type=bind|volume|tmpfs,src=,dst=,readonly`` (and docker's bind-propagation,
    volume-nocopy, consistency) -> {type, source, target, readonly, options[, propagation,
    nocopy]}."""
    out = {"type": "volume", "source": "", "target": "", "readonly": False, "options": []}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        k = k.strip().lower()
        if k in ("type",):
            out["type"] = v
        elif k in ("source", "src"):
            out["source"] = v
        elif k in ("target", "destination", "dst"):
            out["target"] = v
        elif k in ("readonly", "ro"):
            out["readonly"] = v.lower() in ("", "1", "true")
        elif k in ("tmpfs-size",):
            out["options"].append(f"size={v}")
        elif k in ("tmpfs-mode",):
            out["options"].append(f"mode={v}")
        elif k == "bind-propagation":
            if v not in PROPAGATIONS:
                raise PyContainerError(f"--mount {text!r}: bind-propagation {v!r}: want one of "
                                       f"{', '.join(PROPAGATIONS)}")
            out["propagation"] = _propagation(f"--mount {text!r}", v)
        elif k == "volume-nocopy":
            out["nocopy"] = v.lower() in ("", "1", "true")
        elif k == "consistency":               # macOS's; docker ignores it on Linux
            continue
        elif k == "volume-driver":
            if v != "local":
                raise PyContainerError(f"--mount {text!r}: volume-driver: only local")
            continue
        else:
            raise PyContainerError(f"--mount {text!r}: unknown option {k!r} (type, source, "
                                   "target, readonly, tmpfs-size, tmpfs-mode, bind-propagation, "
                                   "volume-nocopy, volume-driver)")
        if eq == "" and k not in ("readonly", "ro", "volume-nocopy"):
            raise PyContainerError(f"--mount {text!r}: {k} needs a value")
    if out["type"] not in ("bind", "volume", "tmpfs"):
        raise PyContainerError(f"--mount {text!r}: type must be bind, volume or tmpfs")
    if not out["target"].startswith("/"):
        raise PyContainerError(f"--mount {text!r}: target must be an absolute path")
    if out["type"] == "bind" and not out["source"]:
        raise PyContainerError(f"--mount {text!r}: a bind needs a source (a host path)")
    if out["type"] == "bind":
        out["source"] = os.path.abspath(out["source"])     # src=./dir: from here, as docker 23+
    if out["type"] == "bind" and not os.path.exists(out["source"]):
        raise PyContainerError(f"--mount {text!r}: {out['source']} does not exist")
    if out["type"] == "volume":
        check_name(out["source"]) if out["source"] else None
    if out["type"] == "tmpfs" and out["source"]:
        raise PyContainerError(f"--mount {text!r}: a tmpfs has no source")
    if out.get("propagation") and out["type"] != "bind":
        raise PyContainerError(f"--mount {text!r}: bind-propagation is for type=bind")
    if out.get("nocopy") and out["type"] != "volume":
        raise PyContainerError(f"--mount {text!r}: volume-nocopy is for type=volume")
    return out


PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared")


def volume_mode(v: str, mode: str, *, bind: bool) -> tuple[bool, str, bool]:
    """The MODE of ``-v SRC:DST:MODE`` as docker reads it (moby's linuxValidMountMode): a
    comma list of at most one of each of ro|rw, z|Z (SELinux relabelling: this host has no
    SELinux, so nothing to do, as docker there), a propagation (binds only), nocopy (named
    volumes only) and consistent|cached|delegated (macOS's, ignored on Linux).
    -> (read-only, propagation or "", nocopy); shared/rshared are refused (``_propagation``)."""
    kinds = {"rw": "rw", "ro": "rw", "z": "label", "Z": "label", "nocopy": "copy",
             "consistent": "consistency", "cached": "consistency", "delegated": "consistency",
             **{p: "propagation" for p in PROPAGATIONS}}
    seen: dict[str, str] = {}
    for o in mode.split(",") if mode else []:
        if o not in kinds or kinds[o] in seen:
            raise PyContainerError(f"-v {v!r}: invalid mode {mode!r} (a list of at most one each "
                                   "of ro|rw, z|Z, a propagation such as rslave, nocopy)")
        seen[kinds[o]] = o
    prop = seen.get("propagation", "")
    if prop and not bind:
        raise PyContainerError(f"-v {v!r}: a propagation ({prop}) is for a bind mount of a host "
                               "path, not a volume")
    if "copy" in seen and bind:
        raise PyContainerError(f"-v {v!r}: nocopy is for a named volume, not a bind mount")
    return seen.get("rw") == "ro", _propagation(f"-v {v!r}", prop), "copy" in seen


def _propagation(what: str, prop: str) -> str:
    """A bind's propagation, less shared/rshared: the container's / is made rslave before
    the rootfs exists (rootfs.set_propagation), so nothing would propagate back to the host."""
    if prop in ("shared", "rshared"):
        raise PyContainerError(f"{what}: {prop} propagation back to the host is not supported "
                               "(the container's / is rslave): use rslave")
    return prop


def relative_host_path(source: str) -> bool:
    """``.``, ``..``, ``./dir`` or ``../dir``: a host path from the current directory
    (docker's CLI makes it absolute); any other name without a slash is a volume's."""
    return source in (".", "..") or source.startswith(("./", "../"))


def split_volume_flags(specs) -> tuple[list[str], list[dict]]:
    """-v values -> (host bind specs for build(), named-volume mounts)."""
    binds, named = [], []
    for v in specs or []:
        parts = v.split(":")
        if len(parts) > 1 and relative_host_path(parts[0]):   # -v ./dir:/x, as docker 23+
            v = os.path.abspath(parts[0]) + v[len(parts[0]):]
            parts = v.split(":")
        if len(parts) == 1 and v.startswith("/"):       # -v /path: an anonymous volume
            named.append({"type": "volume", "source": "", "target": v, "readonly": False,
                          "options": []})
            continue
        if parts and parts[0] and not parts[0].startswith("/") and len(parts) in (2, 3):
            readonly, _, nocopy = volume_mode(v, parts[2] if len(parts) == 3 else "", bind=False)
            if not parts[1].startswith("/"):
                raise PyContainerError(f"-v {v!r}: the container path must be absolute")
            named.append({"type": "volume", "source": check_name(parts[0]), "target": parts[1],
                          "readonly": readonly, "options": [], "nocopy": nocopy})
        else:
            binds.append(v)
    return binds, named


def to_spec_mounts(mounts: list[dict], layers: list[str]) -> list[dict]:
    """OCI mounts for parsed --mount / named -v entries; volumes made and seeded here."""
    out = []
    for m in mounts:
        ro = ["ro"] if m["readonly"] else ["rw"]
        if m["type"] == "tmpfs":
            out.append({"destination": m["target"], "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev", "noexec"] + m["options"]})
            continue
        src = m["source"]
        if m["type"] == "volume":
            from .names import new_id
            name = src or new_id()                   # an anonymous volume: docker's 64 hex digits
            src, new = create(name, None if m["source"] else {ANONYMOUS: ""})
            if new and src.endswith("/_data") and not m.get("nocopy"):   # not a device= dir
                seed(layers, m["target"], src)
        out.append({"destination": m["target"], "type": "bind", "source": src,
                    "options": ["rbind", *ro, m.get("propagation") or "rprivate"]})
    return out


def seed(layers: list[str], target: str, dest: str) -> None:
    """Copy what the image has at ``target`` into the empty ``dest`` (bottom layer first)."""
    parts = [p for p in target.split("/") if p and p != "."]
    if ".." in parts:
        return
    for layer in layers:
        src = layer
        ok = True
        for p in parts:
            src = os.path.join(src, p)
            try:
                st = os.lstat(src)
            except OSError:
                ok = False
                break
            if is_whiteout(st, src):     # whiteout: nothing below
                _clear(dest)
                ok = False
                break
            if not stat.S_ISDIR(st.st_mode):
                ok = False
                break
        if not ok:
            continue
        try:
            if os.getxattr(src, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                _clear(dest)
        except OSError:
            pass
        _copy_layer(src, dest)


def _clear(d: str) -> None:
    for n in os.listdir(d):
        p = os.path.join(d, n)
        shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)


def _copy_layer(src: str, dest: str) -> None:
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dest, name)
        st = os.lstat(s)
        if is_whiteout(st, s):
            if os.path.lexists(d):
                shutil.rmtree(d) if os.path.isdir(d) and not os.path.islink(d) else os.unlink(d)
            continue
        if stat.S_ISDIR(st.st_mode):
            if os.path.lexists(d) and not os.path.isdir(d):
                os.unlink(d)
            os.makedirs(d, exist_ok=True)
            os.chmod(d, stat.S_IMODE(st.st_mode))
            os.lchown(d, st.st_uid, st.st_gid)
            _copy_layer(s, d)
        elif stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
            if os.path.lexists(d):
                shutil.rmtree(d) if os.path.isdir(d) and not os.path.islink(d) else os.unlink(d)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(s), d)
            else:
                shutil.copy2(s, d, follow_symlinks=False)
            os.lchown(d, st.st_uid, st.st_gid)
