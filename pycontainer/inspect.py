"""A docker container as ``docker inspect`` shows it, and ``--format`` templates over it.

A docker container outlives its runtime state: the runtime's record
(``<root>/<id>/state.json``, see ``state.py``) exists from ``create`` to
``delete``, but the container's directory
(``/var/lib/pycontainer/containers/<id>``: config.json, the overlay's upper
dir, json.log, exit.json) is the container for docker's verbs. A container
whose program could not be started (docker keeps it as ``Created``) has a
directory and no runtime state; so does one between ``stop`` and ``start``
when the start failed. The directory records its state root in a file
``root``, so each ``--root`` sees only its own.

``record(root, id)`` builds docker's shape (``Id, Name, Created, Path, Args,
State, Config, HostConfig, NetworkSettings, Mounts``) from what exists;
``format(tmpl, obj)`` evaluates the plain-field part of Go's text/template
that scripts use (``{{.State.Status}}``, ``{{json .Config}}``,
``{{index .Labels "k"}}``, ``{{.Name}} {{.Id}}``).

Read: docker's "docker inspect" and "Format command and log output" pages.
"""

from __future__ import annotations

import json
import os

ANN_DIR = "org.pycontainer.dir"
ANN_IMAGE = "org.pycontainer.image"
ANN_OPTIONS = "org.pycontainer.options"
ANN_OVERLAY = "org.pycontainer.overlay"
NEVER = "0001-01-01T00:00:00Z"            # docker's StartedAt/FinishedAt of what never did


def containers_dir() -> str:
    from .image.rootfs import container_dir
    return os.path.dirname(container_dir("x"))


def owned_dir(root: str, cid: str) -> str | None:
    """The container's directory if it belongs to the state root ``root``, else None."""
    d = os.path.join(containers_dir(), cid)
    try:
        with open(os.path.join(d, "root")) as f:
            owner = f.read().strip()
    except (OSError, ValueError):
        return None
    return d if owner == os.path.abspath(root) else None


def list_ids(root: str) -> list[str]:
    """Every container of this root: those with runtime state, and directory-only ones."""
    from . import state as st
    ids = set(st.list_ids(root))
    parent = containers_dir()
    try:
        names = os.listdir(parent)
    except OSError:
        names = []
    for n in names:
        if n not in ids and owned_dir(root, n):
            ids.add(n)
    return sorted(ids)


def records(root: str) -> list[dict]:
    """``record`` of every container of this root, in ID order; one that goes (or cannot
    be read) while we look is left out."""
    from .errors import PyContainerError
    out = []
    for cid in list_ids(root):
        try:
            out.append(record(root, cid))
        except PyContainerError:
            continue
    return out


def find_name(root: str, name: str) -> str | None:
    """The ID of the container whose kept name (given, generated or from ``rename``) is
    ``name``, or None."""
    for cid in list_ids(root):
        d = os.path.join(containers_dir(), cid)
        if name_of(d, cid) == name and name != cid:
            return cid
    return None


def new_name(root: str) -> str:
    """docker's generated name for a container run without one (names.py)."""
    from . import names
    return names.generate(lambda n: name_holder(root, n) is not None)


def name_holder(root: str, name: str) -> str | None:
    """The container of ``root`` that has ``name``: as its ID (a runc-form container, or one
    made before IDs were docker's) or as its kept name; None if none has it."""
    if os.path.isdir(os.path.join(root, name)) or owned_dir(root, name):
        return name
    return find_name(root, name)


def check_name_free(root: str, name: str, cid: str | None = None) -> str:
    """A ``--name`` (the SDK's ``name=``) for container ``cid``: docker's syntax
    (``InvalidName``) and no other container's (docker's Conflict), a ``--rm`` container
    whose runtime died reclaimed first (reclaim.py). The name, without docker's ``/``."""
    from .errors import PyContainerError
    from .state import validate_name
    name = validate_name(name)
    holder = name_holder(root, name)
    if holder is not None and holder != cid:
        from .container import Runtime
        if not Runtime(root).reclaim([holder]):
            raise PyContainerError(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{holder}". You have to remove (or rename) that container to be able to '
                "reuse that name.")
    return name


def name_lock():
    """An exclusive flock(2) on the containers dir itself (a context manager; no file of its
    own, which gc and the listings would take for a container): held while a name is
    checked and kept (``api/config.build``, ``lifecycle.rename``), so two creates of one
    ``--name`` at once leave one container with it, as docker's name registry does.
    Read: flock(2)."""
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def held():
        fd = os.open(containers_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    return held()


def resolve_id(root: str, ref: str) -> str:
    """A full ID, a name or a unique ID prefix -> the ID."""
    from .errors import ContainerNotFound, PyContainerError
    ids = list_ids(root)
    if ref in ids:
        return ref
    named = find_name(root, ref)               # a name given by `rename`
    if named:
        return named
    matches = [i for i in ids if i.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise PyContainerError(f"container {ref!r} is ambiguous: {len(matches)} IDs start with it")
    raise ContainerNotFound(f"No such container: {ref}")       # docker's words (runc's verbs
                                                                # keep runc's: engines match them)


def runtime_id(root: str, ref: str) -> str:
    """The container a verb that runc and docker share (start, exec, kill, pause, resume,
    update) acts on. ``ref`` itself when a container has that ID (runc's rule, on which
    engines rely); else, as docker's verbs, the container made from an image that ``ref``
    names: a name kept by ``rename`` or a unique prefix of its ID (what ``ps`` shows). A
    bundle's container is never found by a prefix: an engine's stale ID reaches no other."""
    from .errors import PyContainerError
    if not ref or "/" in ref or os.path.isdir(os.path.join(root, ref)) or owned_dir(root, ref):
        return ref
    named = find_name(root, ref)
    if named:
        return named
    matches = [i for i in list_ids(root) if i.startswith(ref) and from_image(root, i)]
    if len(matches) > 1:
        raise PyContainerError(f"container {ref!r} is ambiguous: {len(matches)} IDs start with it")
    return matches[0] if matches else ref


def from_image(root: str, cid: str) -> bool:
    """A container made from an image (or only its directory left): docker's verbs apply."""
    from . import state as st
    from .errors import PyContainerError
    try:
        return ANN_DIR in (st.StateDir(root, cid).read().get("annotations") or {})
    except PyContainerError:
        return owned_dir(root, cid) is not None


def config_of(cdir: str) -> dict:
    try:
        with open(os.path.join(cdir, "config.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def options_of(cfg: dict) -> dict:
    """The run options the container was made with (the porcelain's names)."""
    try:
        return json.loads((cfg.get("annotations") or {}).get(ANN_OPTIONS) or "{}")
    except ValueError:
        return {}


def record(root: str, cid: str) -> dict:
    """docker-inspect-shaped record; ContainerNotFound when neither state nor dir exists."""
    from . import containerdir
    from .container import Runtime
    from .errors import ContainerNotFound, PyContainerError
    state = None
    try:
        state = Runtime(root).state(cid)
        ann = state.get("annotations") or {}
        cdir = ann.get(ANN_DIR) or ""
    except ContainerNotFound:
        cdir = owned_dir(root, cid)
        if cdir is None:
            raise
    except PyContainerError:
        raise
    cfg = config_of(cdir) if cdir else {}
    if state is None:
        ann = cfg.get("annotations") or {}
    opts = options_of(cfg)
    ex = containerdir.read_exit(cdir) if cdir else None
    if state is None:
        status = "created" if ex is None or ex.get("started") is False else "exited"
        created = _created_of(cdir)
        rstatus = ""                                 # no runtime state: a directory only
    else:
        rstatus = state["status"]
        status = {"creating": "created", "stopped": "exited"}.get(rstatus, rstatus)
        created = (_created_of(cdir) if cdir else "") or state.get("created", "")   # kept by start
        if status == "exited" and ex is not None and ex.get("started") is False:
            status = "created"
    if ex is not None and status == "exited" and ex.get("restarting"):
        status = "restarting"                        # --restart: waiting out the backoff
    code = (ex or {}).get("exit_code", 0 if not ex and status != "exited" else -1)
    last = _last_start(cdir) if cdir else {}
    from . import containerconfig as cc
    img = cc.image_of(cfg)
    args = cc.program(cfg, opts)
    net = _network_record(root, cid)
    image = ann.get(ANN_IMAGE, "")
    name = name_of(cdir, cid)
    pid = (state or {}).get("pid", 0) if status in ("running", "paused") else 0
    files = (net or {}).get("files") or {}                   # the network's /etc files (network/files.py)
    return {
        "Id": cid, "Name": "/" + name, "Created": created,
        "Path": (args or [""])[0], "Args": args[1:],
        "State": {"Status": status, "Running": status in ("running", "paused"),
                  "Paused": status == "paused", "Restarting": status == "restarting",
                  "OOMKilled": bool((ex or {}).get("oom_killed")), "Dead": False,
                  "Pid": pid,
                  "ExitCode": code, "Error": (ex or {}).get("error", ""),
                  "StartedAt": last.get("started_at") or (state or {}).get("created") or created
                  if status != "created" else NEVER,
                  "FinishedAt": (ex or {}).get("finished_at") or last.get("finished_at") or NEVER,
                  "RuntimeStatus": rstatus, **_health(cdir, cfg)},
        "Image": img.get("Id") or image, "Platform": "linux", "RestartCount": _restart_count(cdir),
        # the files docker writes for the container (here: bound over the image's), as scripts read them
        "ResolvConfPath": files.get("/etc/resolv.conf", ""), "HostnamePath": files.get("/etc/hostname", ""),
        "HostsPath": files.get("/etc/hosts", ""), "ExecIDs": None, "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": (cfg.get("process") or {}).get("apparmorProfile", ""),
        "LogPath": os.path.join(cdir, containerdir.LOG)
        if cdir and (opts.get("log_opts") or {}).get("driver") != "none" else "",
        "Config": cc.config(cfg, opts, img, _labels(cfg, opts), _health_config(cfg)),
        "HostConfig": dict(cc.host_config(cfg, opts, _restart_policy(opts.get("restart")), name),
                           PortBindings=_bindings(net)),
        "Driver": "overlay2", "GraphDriver": cc.graph_driver(cfg, cdir or ""),
        "NetworkSettings": {"IPAddress": (net or {}).get("ip") or "",
                            "Gateway": (net or {}).get("gateway") or "",
                            "Ports": _bindings(net),
                            "IPPrefixLen": _prefix(net), "MacAddress": (net or {}).get("mac") or "",
                            "Networks": _networks(net, opts.get("user_network") or opts.get("network")),
                            "Bridge": "", "HairpinMode": False,
                            # what `nsenter --net=$(docker inspect -f '{{.NetworkSettings.SandboxKey}}')` enters
                            "SandboxKey": f"/proc/{pid}/ns/net" if pid else "",
                            "EndpointID": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                            "IPv6Gateway": "", "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None},
        "Mounts": _mounts(cfg),
        "Dir": cdir, "Bundle": (state or {}).get("bundle", cdir),
    }


_SYSTEM_MOUNTS = {"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"}


def parse_time(ts: str):
    """An RFC 3339 time (nanoseconds allowed) -> an aware datetime, or None (duration.py)."""
    from .duration import parse_time as parse
    return parse(ts)


def _health(cdir: str, cfg: dict) -> dict:
    if not cdir or not (cfg.get("annotations") or {}).get("org.pycontainer.health"):
        return {}
    try:
        with open(os.path.join(cdir, "health.json")) as f:
            return {"Health": json.load(f)}
    except (OSError, ValueError):
        return {"Health": {"Status": "starting", "FailingStreak": 0, "Log": []}}


def _mounts(cfg: dict) -> list[dict]:
    """docker's Mounts: the binds, a named or anonymous volume's as a volume with its Name."""
    out = []
    for m in cfg.get("mounts", []):
        src = m.get("source") or ""
        if m.get("type") != "bind" or not os.path.isabs(src) or m["destination"] in _SYSTEM_MOUNTS:
            continue
        ro = "ro" in (m.get("options") or [])
        rec = {"Type": "bind", "Source": src, "Destination": m["destination"], "RW": not ro,
               "Mode": "ro" if ro else ""}
        if src.endswith("/_data"):
            from . import volumes
            if os.path.dirname(os.path.dirname(src)) == volumes.root():
                rec.update(Type="volume", Name=os.path.basename(os.path.dirname(src)), Driver="local")
        out.append(rec)
    return out


def _networks(net: dict | None, mode: str | None = None) -> dict:
    """NetworkSettings.Networks: each network by docker's name (the default one is "bridge").
    Without a lease (stopped; --net none or host) the network asked for, with no address,
    as docker keeps it; none for a container that shares another's."""
    out = {}
    if net and net.get("ip"):
        out[net.get("network", "pyc")] = net
    out.update((net or {}).get("attached") or {})
    if not out and not (mode or "").startswith("container:"):
        out[mode if mode and mode != "default" else "pyc"] = {}
    return {("bridge" if n == "pyc" else n): {
        "IPAddress": a.get("ip") or "", "Gateway": a.get("gateway") or "", "IPPrefixLen": _prefix(a),
        "Aliases": a.get("aliases"), "MacAddress": a.get("mac") or "", "NetworkID": "", "EndpointID": ""}
        for n, a in out.items()}


def _prefix(net: dict | None) -> int:
    sub = (net or {}).get("subnet") or ""
    return int(sub.rpartition("/")[2]) if sub.rpartition("/")[2].isdigit() else 0


def _labels(cfg: dict, opts: dict) -> dict:
    """The labels of run --label/--label-file and the SDK's labels= (the image's are added by
    containerconfig)."""
    try:
        out = json.loads((cfg.get("annotations") or {}).get("org.pycontainer.labels") or "{}")
    except ValueError:
        out = {}
    out.update(kv.split("=", 1) if "=" in kv else (kv, "") for kv in opts.get("label", []) or [])
    return out


def _health_config(cfg: dict) -> dict | None:
    try:
        return json.loads((cfg.get("annotations") or {}).get("org.pycontainer.health") or "null")
    except ValueError:
        return None


def _restart_policy(value) -> dict:
    """``--restart on-failure:3`` as docker's HostConfig shows it: a name and a retry count."""
    name, _, count = (value or "no").partition(":")
    return {"Name": name, "MaximumRetryCount": int(count) if count.isdigit() else 0}


def _restart_count(cdir: str) -> int:
    try:
        with open(os.path.join(cdir, "restart.json")) as f:
            return int(json.load(f).get("count", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def name_of(cdir: str, cid: str) -> str:
    """The name docker shows: the one rename or the generator kept in its dir, else its ID."""
    try:
        with open(os.path.join(cdir, "name")) as f:
            return f.read().strip() or cid
    except OSError:
        return cid


def _last_start(cdir: str) -> dict:
    """lifecycle's started.json: the time of the last ``start`` after the create, and the
    FinishedAt of the run before it."""
    try:
        with open(os.path.join(cdir, "started.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _created_of(cdir: str) -> str:
    import datetime
    try:
        t = os.stat(os.path.join(cdir, "config.json")).st_mtime
    except OSError:
        return ""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat() \
        .replace("+00:00", "Z")


def _network_record(root: str, cid: str) -> dict | None:
    from . import state as st
    try:
        rec = st.StateDir(root, cid).read()
    except Exception:  # noqa: BLE001 - no runtime state: no network now
        return None
    return rec.get("network")


def _bindings(net: dict | None) -> dict:
    out: dict = {}
    for p in (net or {}).get("ports") or []:
        key = f"{p['container_port']}/{p.get('protocol', 'tcp')}"
        out.setdefault(key, []).append({"HostIp": p.get("host_ip") or "0.0.0.0",
                                        "HostPort": str(p["host_port"])})
    return out


def short_image(image: str) -> str:
    """An image reference as docker shows it: ``docker.io/library/busybox`` -> ``busybox``."""
    for prefix in ("docker.io/library/", "docker.io/", "pycontainer/"):
        image = image.removeprefix(prefix)
    return image


def ancestor_matches(rec: dict, ref: str) -> bool:
    """docker's ``ancestor`` filter: the container's image by ID (a prefix), by name, or by
    name:tag (``busybox`` matches any tag of it, ``busybox:1.36`` that tag only)."""
    short = short_image
    image_id = (rec.get("Image") or "").removeprefix("sha256:")
    if len(ref.removeprefix("sha256:")) >= 4 and image_id.startswith(ref.removeprefix("sha256:")):
        return True
    have, want = short(rec["Config"]["Image"]), short(ref)
    name, _, tag = have.rpartition(":") if ":" in have.rsplit("/", 1)[-1] else (have, "", "latest")
    if ":" in want.rsplit("/", 1)[-1]:
        return want == f"{name}:{tag}"
    return want == name


def ports_text(rec: dict) -> str:
    """docker ps's PORTS column: ``0.0.0.0:8080->80/tcp, ...``."""
    out = []
    for cport, binds in sorted((rec.get("NetworkSettings") or {}).get("Ports", {}).items()):
        for b in binds or []:
            out.append(f"{b['HostIp']}:{b['HostPort']}->{cport}")
    return ", ".join(out)


# --- Go templates ---------------------------------------------------------------------------

def layer_size(rec: dict) -> int:
    """Bytes the container's writable layer (its overlay's upper dir) takes on disk, as du(1)."""
    from .containerdir import du
    return du(os.path.join(rec["Dir"], "upper")) if rec.get("Dir") else 0


def sizes(rec: dict, image_size: int | None = None) -> dict:
    """docker's SizeRw and SizeRootFs (``inspect --size``, ``ps -s``, ``/system/df``): the
    writable layer, and that plus its image (``image_size``, else the store's; 0 for an
    image removed since, whose size is unknown)."""
    rw = layer_size(rec)
    if image_size is None:
        from .errors import PyContainerError
        from .image.store import Store
        try:
            image_size = Store().inspect(rec["Image"])["Size"]
        except (PyContainerError, KeyError):
            image_size = 0
    return {"SizeRw": rw, "SizeRootFs": rw + image_size}


def format(tmpl: str, obj) -> str:  # noqa: A001 - docker's flag name
    """Render docker's ``--format`` template over ``obj`` (gotemplate.py: Go's text/template,
    ``range``, ``if``, ``with``, variables, pipelines and docker's functions)."""
    from .gotemplate import render
    return render(tmpl, obj)
