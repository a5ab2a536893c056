"""docker run's convenience flags, turned into the options ``api.config.build`` understands.

* ``-e NAME`` (no ``=``) passes the caller's value of NAME, and nothing when
  the caller has none (docker's rule); ``--env-file FILE`` reads ``KEY=VALUE``
  lines and bare ``NAME`` lines the same way (``#`` comments and blank lines
  skipped), before ``-e`` (which wins).
* ``--label KEY=VALUE`` is kept with the container (``inspect``'s
  ``Config.Labels``, ``ps --filter label=``).
* ``--stop-signal``/``--stop-timeout`` are what ``stop`` and ``restart``
  use when not told otherwise.
* ``--cidfile FILE``: refused when FILE exists (docker: "Container ID file
  found, make sure the other container isn't running or delete FILE"); the ID
  is written once the container exists.
* ``--init`` runs the host's tini/catatonit (static; bind-mounted read-only at
  ``/run/pycontainer-init``) as pid 1, which forwards signals and reaps:
  what docker (tini as docker-init) and podman (catatonit) do, so no init of
  our own to maintain.
* ``--restart`` is applied by the monitor after the program exits
  (``lifecycle.after_exit``: docker's backoff; ``stop``/``kill`` stop it).
* ``--platform OS/ARCH[/VARIANT]`` is checked against this machine: the
  runtime runs native binaries only.
* ``-v NAME:/path``, ``-v /path`` (anonymous) and ``--mount`` go to ``volumes.py``;
  ``--volumes-from NAME[:ro|:rw]`` repeats another container's (``volumes_from``).
* ``--log-opt max-size=N[k|m|g] --log-opt max-file=N``: the json-file log's
  rotation (containerdir.Log, applied by the monitor); ``--log-driver none``
  keeps no log at all (``{"driver": "none"}`` in the same annotation; ``logs``
  then says so, as docker's).
* ``--ipc``/``--pid``/``--uts``/``--cgroupns``: nsmodes.py.
* ``--sysctl KEY=VALUE`` -> ``linux.sysctl`` (the OCI layer allows only those
  of a namespace the container has of its own, as runc); ``--oom-score-adj``
  -> ``process.oomScoreAdj``; ``--domainname`` -> ``domainname``;
  ``--annotation KEY=VALUE`` -> ``annotations`` (podman's, docker 24's);
  ``--expose PORT[/PROTO]`` adds to what ``-P`` publishes; ``--kernel-memory``
  is accepted and ignored with a warning (the kernel dropped kernel memory
  limits in 5.16; docker warns the same).

Every bad value is a ``PyContainerError`` naming the flag, before anything
is made. Read: docker's "docker run" reference for each flag.
"""

from __future__ import annotations

import json
import os

from .errors import PyContainerError

def user_network(o: dict) -> None:
    """``--network NAME`` (the SDK's ``network=``) of a user-defined network: a bridge request
    on it (``o["user_network"]``); any other name than none/host/bridge/container: must exist."""
    net = o.get("network")
    if net and net not in ("none", "host", "bridge") and ":" not in net and "/" not in net:
        from .network import userdefined
        if userdefined.get(net) is None:
            raise PyContainerError(f"network {net} not found: create it with `network create {net}`")
        o["user_network"], o["network"] = net, "bridge"


def apply(o: dict, environ=None) -> dict:
    """Rewrite docker-run options in ``o`` (in place) to build()'s; -> ``o``."""
    environ = os.environ if environ is None else environ
    env: list[str] = []
    for path in o.pop("env_file", None) or []:
        env += read_env_file(path, environ)
    for e in o.get("env") or []:
        env += _one(e, environ, "-e")
    o["env"] = env
    from_files = [lab for path in o.pop("label_file", None) or [] for lab in _read_labels(path)]
    if from_files:                                         # --label-file: before -l, which wins
        o["label"] = from_files + list(o.get("label") or [])
    check_engine(o)
    for lab in o.get("label") or []:
        if not lab.partition("=")[0]:
            raise PyContainerError(f"--label {lab!r}: give KEY=VALUE")
    sig = o.get("stop_signal")
    if sig is not None:
        from .signals import parse_signal
        try:
            parse_signal(sig)
        except Exception:  # noqa: BLE001 - parse_signal's own message is not docker's
            raise PyContainerError(f"--stop-signal {sig!r}: not a signal name or number") from None
    if o.get("stop_timeout") is not None and o["stop_timeout"] < -1:
        raise PyContainerError(f"--stop-timeout {o['stop_timeout']}: must be -1 or more")
    if o.get("cidfile") and os.path.lexists(o["cidfile"]):
        raise PyContainerError(f"--cidfile {o['cidfile']}: the file exists: make sure the other "
                               "container is not running, or delete the file")
    if o.get("platform"):
        check_platform(o["platform"])
    if o.get("log_opt"):
        o["log_opts"] = _log_opts(o.pop("log_opt"))
    driver = o.pop("log_driver", None)
    if driver not in (None, "json-file", "none"):
        raise PyContainerError(f"--log-driver {driver}: json-file (the default) or none; no other "
                               "driver here")
    if driver == "none":
        if o.get("log_opts"):
            raise PyContainerError("--log-opt: the none log driver takes no options")
        o["log_opts"] = {"driver": "none"}          # no json.log: detach.py, runform, terminal
    if isinstance(o.get("storage_opt"), (list, tuple)):     # --storage-opt size=N (the API's dict)
        opts = {}
        for item in o.pop("storage_opt"):
            k, eq, v = item.partition("=")
            if not eq or not v:
                raise PyContainerError(f"--storage-opt {item!r}: give KEY=VALUE (size=10g)")
            opts[k] = v
        if opts:
            o["storage_opt"] = opts
    if o.get("uidmap") or o.get("gidmap") or o.get("userns") not in (None, "", "host"):
        from . import userns
        userns.check_flags(o)
    if any(o.get(k) for k in ("health_cmd", "health_interval", "health_timeout",
                              "health_start_period")) or o.get("health_retries") is not None:
        from . import health
        health.check_flags(o)                  # durations checked before anything is made
    rp = o.get("restart")
    if rp is not None:
        check_restart(rp)
        if o.get("remove") and rp.partition(":")[0] != "no":
            raise PyContainerError("conflicting options: --restart and --rm")
    user_network(o)
    if (o.get("ip") or o.get("network_alias")) and not o.get("user_network"):
        raise PyContainerError("--ip and --network-alias need a user-defined network (--network NAME)")
    if o.get("volumes") or o.get("mount"):
        from . import volumes
        o["volumes"], named = volumes.split_volume_flags(o.get("volumes"))
        o["mount_specs"] = named + [volumes.parse_mount(m) for m in o.pop("mount", None) or []]
    return o


def check_engine(o: dict) -> None:
    """--volume-driver, --runtime, --isolation (the SDK's names too) name what every container
    here already gets (local, runc, default): taken and dropped; anything else is refused."""
    o.pop("disable_content_trust", None)                   # docker's; no signatures here
    if o.pop("volume_driver", None) not in (None, "", "local"):
        raise PyContainerError("--volume-driver: only local (volumes.py)")
    iso = o.pop("isolation", None)
    if iso not in (None, "", "default"):
        raise PyContainerError(f"--isolation {iso!r}: Linux has only 'default'")
    rt = o.pop("runtime", None)
    if rt not in (None, "runc", "pycontainer", "io.containerd.runc.v2"):
        hint = " (GPUs: --gpus all, or --device nvidia.com/gpu=all)" if "nvidia" in rt else ""
        raise PyContainerError(f"--runtime {rt}: only 'runc' here (pycontainer is the runtime){hint}")


def check_restart(rp: str) -> None:
    """--restart no | on-failure[:N] | always | unless-stopped (run, create, update)."""
    name, colon, most = rp.partition(":")
    if name not in ("no", "on-failure", "always", "unless-stopped") or \
            (colon and (name != "on-failure" or not most.isdigit())):
        raise PyContainerError(f"--restart {rp!r}: use no, on-failure[:N], always or "
                               "unless-stopped")


def check_process(o: dict) -> None:
    """--sysctl, --oom-score-adj, --annotation, --expose, --kernel-memory (and the SDK's
    names for them): checked by api.config.build, for the CLI and the API alike, before
    anything is made."""
    for flag, key in (("--sysctl", "sysctl"), ("--annotation", "annotation")):
        for item in o.get(key) or ():
            if not item.partition("=")[0] or "=" not in item:
                raise PyContainerError(f"{flag} {item!r}: give KEY=VALUE")
            if key == "annotation" and item.startswith("org.pycontainer."):
                raise PyContainerError(f"--annotation {item.partition('=')[0]}: the org.pycontainer. "
                                       "keys are the runtime's own")
    adj = o.get("oom_score_adj")
    if adj is not None and not -1000 <= int(adj) <= 1000:
        raise PyContainerError(f"--oom-score-adj {adj}: must be between -1000 and 1000")
    from .image.runconfig import port_range
    for port in o.get("expose") or ():
        if not port_range(port):
            raise PyContainerError(f"--expose {port!r}: give PORT[-END][/tcp|udp|sctp]")
    if o.pop("kernel_memory", None):
        from . import log
        log.warning("--kernel-memory is ignored: the kernel no longer limits kernel memory "
                    "apart (it is counted in --memory)")


def log_opts_of(conf: dict) -> dict:
    """The SDK's log_config Config ({"max-size": "1m"}) as --log-opt values, checked."""
    return _log_opts(f"{k}={v}" for k, v in conf.items())


def _log_opts(items) -> dict:
    """--log-opt KEY=VALUE (json-file's max-size and max-file), checked now."""
    opts = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not eq or not v:
            raise PyContainerError(f"--log-opt {item!r}: give KEY=VALUE")
        if k not in ("max-size", "max-file"):
            raise PyContainerError(f"--log-opt {k}: not an option of the json-file log "
                                   "(max-size, max-file)")
        opts[k] = v
    from .containerdir import log_limits
    log_limits(opts)
    return opts


def _one(item: str, environ, flag: str) -> list[str]:
    k, eq, _v = item.partition("=")
    if not k or any(c.isspace() for c in k):
        raise PyContainerError(f"{flag} {item!r}: invalid environment variable name")
    if eq:
        return [item]
    return [f"{k}={environ[k]}"] if k in environ else []


def read_env_file(path: str, environ) -> list[str]:
    """--env-file FILE: KEY=VALUE lines (a bare KEY takes the caller's value), # comments."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PyContainerError(f"--env-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        try:
            out += _one(line, environ, f"--env-file {path}:{n}:")
        except PyContainerError as exc:
            raise PyContainerError(str(exc)) from None
    return out


def _read_labels(path: str) -> list[str]:
    """--label-file FILE: one KEY=VALUE a line; blank lines and # comments skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PyContainerError(f"--label-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def check_platform(value: str) -> None:
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise PyContainerError(f"--platform {value!r}: want OS/ARCH[/VARIANT], e.g. linux/amd64")
    from .image.reference import host_platform          # uname's machine as GOARCH names it
    arch = host_platform()["architecture"]
    if parts[0] != "linux" or parts[1] != arch:
        raise PyContainerError(f"--platform {value}: this machine runs linux/{arch} programs "
                               "only (no emulation)")


def write_cidfile(o: dict, cid: str) -> None:
    path = o.get("cidfile")
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise PyContainerError(f"--cidfile {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(cid)


# --- what build() writes into config.json for these flags -----------------------------------

def to_spec(cfg: dict, o: dict, img) -> None:
    """Apply named volumes/--mount, --tmpfs, --shm-size, --ulimit, --add-host, --dns,
    --dns-search, -P to ``cfg``; ``img`` has ``.config`` and ``.layers``."""
    image_config = getattr(img, "config", img) or {}
    if o.get("mount_specs"):
        from . import volumes
        cfg["mounts"] += volumes.to_spec_mounts(o["mount_specs"], getattr(img, "layers", []))
    if o.get("mount_specs") or o.get("volumes_from"):
        _note_anonymous_volumes(cfg)
    for t in o.get("tmpfs") or []:
        dst, _, opts = t.partition(":")
        if not dst.startswith("/") or ".." in dst.split("/"):
            raise PyContainerError(f"--tmpfs {t!r}: the path must be absolute")
        options = [x for x in opts.split(",") if x] if opts else ["noexec", "nosuid", "nodev"]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != dst]
        cfg["mounts"].append({"destination": dst, "type": "tmpfs", "source": "tmpfs",
                              "options": options})
    if o.get("sysctl"):
        cfg["linux"]["sysctl"] = dict(item.split("=", 1) for item in o["sysctl"])
    if o.get("oom_score_adj") is not None:
        cfg["process"]["oomScoreAdj"] = int(o["oom_score_adj"])
    if o.get("domainname"):
        cfg["domainname"] = o["domainname"]
    for item in o.get("annotation") or ():
        k, _, v = item.partition("=")
        cfg["annotations"][k] = v
    if o.get("log_opts"):
        from .containerdir import LOG_OPTS
        cfg["annotations"][LOG_OPTS] = json.dumps(o["log_opts"])
    from . import health
    check = health.config(o, image_config)
    if check:
        cfg["annotations"]["org.pycontainer.health"] = json.dumps(check)
    if o.get("init"):
        host_init = find_init()
        cfg["mounts"].append({"destination": INIT_PATH, "type": "bind", "source": host_init,
                              "options": ["bind", "ro", "nosuid", "nodev"]})
        cfg["process"]["args"] = [INIT_PATH, "--", *cfg["process"]["args"]]
    if o.get("shm_size"):
        size = _bytes(o["shm_size"], "--shm-size")
        for m in cfg["mounts"]:
            if m["destination"] == "/dev/shm":
                m["options"] = [x for x in m["options"] if not x.startswith("size=")] + [f"size={size}"]
    if o.get("ulimit"):
        rl = {r["type"]: r for r in cfg["process"].get("rlimits", [])}
        for u in o["ulimit"]:
            name, soft, hard = _ulimit(u)
            rl[name] = {"type": name, "soft": soft, "hard": hard}
        cfg["process"]["rlimits"] = list(rl.values())
    net_ann = (cfg.get("annotations") or {}).get("org.pycontainer.network")
    wants = {"extra_hosts": o.get("add_host"), "dns": o.get("dns"),
             "dns_search": o.get("dns_search"), "dns_option": o.get("dns_option"),
             "publish_all": o.get("publish_all"),
             "user_network": o.get("user_network")}
    mode = json.loads(net_ann).get("mode") if net_ann else "host"     # "bridge", ["bridge", null]
    if wants["publish_all"] and (mode[0] if isinstance(mode, list) else mode) != "bridge":
        from . import log                                # docker warns for host, podman for none
        log.warning(f"Published ports are discarded when using {o.get('network') or 'host'} network mode")
        wants["publish_all"] = None
    if any(wants.values()):
        if net_ann is None:
            raise PyContainerError("--add-host, --dns, --dns-search, --dns-option and -P need a network "
                                   "namespace of the container's own (not --network host)")
        req = json.loads(net_ann)
        if o.get("user_network"):
            _join_user_network(req, o, cfg)
        if o.get("add_host"):
            req["extra_hosts"] = dict(req.get("extra_hosts") or {}, **added_hosts(o["add_host"]))
        if o.get("dns"):
            req["dns"] = [_ip(d, "--dns") for d in o["dns"]]
        if o.get("dns_search"):
            req["dns_search"] = list(o["dns_search"])
        if o.get("dns_option"):                          # resolv.conf(5)'s "options" line
            req["dns_options"] = list(o["dns_option"])
        if wants["publish_all"]:
            from .image.runconfig import exposed_ports, port_range
            from .network.nat import free_port
            taken = {(p["container_port"], p["protocol"]) for p in req.get("ports") or []}
            extra = [f"{n}/{proto}" for p in o.get("expose") or ()                 # 9000-9001/udp: each
                     for lo, hi, proto in [port_range(p)] for n in range(lo, hi + 1)]
            for p in dict.fromkeys(exposed_ports(image_config) + extra):
                num, _, proto = p.partition("/")
                if (int(num), proto) not in taken:
                    req.setdefault("ports", []).append(
                        {"host_ip": "", "host_port": free_port(proto), "container_port": int(num),
                         "protocol": proto})
        from . import network
        network.parse_request(dict(req))                 # the same checks as the first time
        cfg["annotations"]["org.pycontainer.network"] = json.dumps(req)


def _note_anonymous_volumes(cfg: dict) -> None:
    """Name the container's anonymous volumes (its own and --volumes-from's) in its dir, for
    --rm and rm -v (containerdir.ANON_VOLUMES: a delete without any reads no config)."""
    from . import containerdir, volumes
    names = volumes.anonymous_in(cfg["mounts"])
    cdir = cfg["annotations"].get(containerdir.ANN_DIR)
    if names and cdir:
        with open(os.path.join(cdir, containerdir.ANON_VOLUMES), "w") as f:
            f.write("\n".join(names) + "\n")


def _join_user_network(req: dict, o: dict, cfg: dict) -> None:
    """--network NAME [--ip] [--network-alias]: its bridge and subnet, and /etc/hosts lines
    for the members already there (the others learn ours when we start: lifecycle)."""
    from .network import userdefined
    name = o["user_network"]
    req.update(userdefined.request(name))
    if o.get("ip"):
        req["ip"] = _ip(o["ip"], "--ip")
    cid = os.path.basename(cfg["annotations"].get("org.pycontainer.dir", ""))
    req["extra_hosts"] = {**userdefined.peers(name, cid), **(req.get("extra_hosts") or {})}
    if cid:
        userdefined.set_aliases(name, cid, [o.get("name") or cid, *(o.get("network_alias") or [])])


def volumes_from(root: str, refs) -> list[dict]:
    """``--volumes-from NAME[:ro|:rw]``: the OCI mounts of what NAME was given with -v and
    --mount (volumes, anonymous ones included, and host binds; not its tmpfs), at the same
    paths and in its mode unless ``:ro``/``:rw`` says otherwise (docker's rule)."""
    from . import inspect as insp
    out = []
    for ref in refs or ():
        name, colon, mode = ref.rpartition(":") if ref.endswith((":ro", ":rw")) else (ref, "", "")
        try:
            cid = insp.resolve_id(root, name)
        except PyContainerError:
            raise PyContainerError(f"--volumes-from {ref}: no such container") from None
        cfg = insp.config_of(insp.owned_dir(root, cid) or "")
        o = insp.options_of(cfg)
        wanted = {v.split(":")[1] for v in o.get("volumes") or () if v.count(":") in (1, 2)}
        wanted |= {m["target"] for m in o.get("mount_specs") or () if m.get("type") != "tmpfs"}
        for m in cfg.get("mounts") or ():
            if m.get("type") != "bind" or m.get("destination") not in wanted:
                continue
            opts = [x for x in m.get("options") or () if x not in ("ro", "rw")]
            rw = mode or ("ro" if "ro" in (m.get("options") or ()) else "rw")
            out.append(dict(m, options=opts[:1] + [rw] + opts[1:]))
    return out


INIT_PATH = "/run/pycontainer-init"
INITS = ("/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/bin/tini", "/usr/bin/catatonit",
         "/usr/libexec/podman/catatonit")


def find_init() -> str:
    """The host's small init for --init (docker ships tini as docker-init, podman catatonit);
    ``$PYCONTAINER_INIT`` names another. It must be static: it runs in any image."""
    for p in ([os.environ["PYCONTAINER_INIT"]] if os.environ.get("PYCONTAINER_INIT") else []) + \
            list(INITS):
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return os.path.realpath(p)
    raise PyContainerError("--init: no init program on this host: install tini or catatonit, "
                           "or set PYCONTAINER_INIT to a static one")


def _bytes(text: str, flag: str) -> int:
    t = str(text).strip().lower()
    mult = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    num = t[:-1] if t and t[-1] in mult else t
    if not num.isdigit() or int(num) <= 0:
        raise PyContainerError(f"{flag} {text!r}: give a size like 64m or 1g")
    return int(num) * mult.get(t[-1], 1)


def _ulimit(u: str) -> tuple[str, int, int]:
    import resource
    name, eq, vals = u.partition("=")
    soft, _, hard = vals.partition(":")
    rname = "RLIMIT_" + name.upper()
    if not eq or not hasattr(resource, rname) or not soft.lstrip("-").isdigit() or \
            (hard and not hard.lstrip("-").isdigit()):
        raise PyContainerError(f"--ulimit {u!r}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    s, h = int(soft), int(hard or soft)
    inf = 2 ** 64 - 1
    s, h = (inf if s == -1 else s), (inf if h == -1 else h)
    if s < 0 or h < 0 or s > h:
        raise PyContainerError(f"--ulimit {u!r}: the soft limit must not exceed the hard one")
    return rname, s, h


def _ip(text: str, flag: str) -> str:
    import ipaddress
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise PyContainerError(f"{flag} {text!r}: not an IP address") from None


def links(cfg: dict, o: dict, root: str, cid: str) -> None:
    """docker's legacy ``--link NAME[:ALIAS]`` (default bridge only): the linked container's
    address in /etc/hosts as ALIAS and NAME (via --add-host), and its exposed ports as the
    variables docker sets (``ALIAS_PORT=tcp://IP:PORT``, ``ALIAS_PORT_80_TCP_ADDR``, ...; not
    its ``ALIAS_ENV_*``: another container's environment is not copied in)."""
    from .inspect import record, resolve_id
    if o.get("user_network") or (o.get("network") or "bridge") != "bridge":
        raise PyContainerError("--link works on the default bridge network only (on a "
                               "user-defined network, containers find each other by name)")
    env = cfg["process"].setdefault("env", [])
    have = {e.partition("=")[0] for e in env}
    for spec in o["link"]:
        name, _, alias = spec.partition(":")
        rec = record(root, resolve_id(root, name))
        ip = rec["NetworkSettings"].get("IPAddress") or ""
        if not rec["State"]["Running"] or not ip:
            raise PyContainerError(f"--link {spec}: {name} is not running on the default bridge")
        alias = alias or rec["Name"].lstrip("/")
        o["add_host"] = list(o.get("add_host") or []) + [f"{alias}:{ip}", f"{rec['Name'].lstrip('/')}:{ip}"]
        prefix = "".join(c if c.isalnum() else "_" for c in alias).upper()
        new = {f"{prefix}_NAME": f"/{o.get('name') or cid}/{alias}"}
        ports = sorted(rec["Config"].get("ExposedPorts") or {},
                       key=lambda k: (int(k.split("/")[0]), k))
        for i, key in enumerate(ports):
            port, _, proto = key.partition("/")
            url, base = f"{proto}://{ip}:{port}", f"{prefix}_PORT_{port}_{proto.upper()}"
            new.update({base: url, f"{base}_ADDR": ip, f"{base}_PORT": port, f"{base}_PROTO": proto})
            if i == 0:
                new[f"{prefix}_PORT"] = url
        env += [f"{k}={v}" for k, v in new.items() if k not in have]


def added_hosts(items) -> dict:
    """--add-host NAME:IP (or docker 25's NAME=IP, an IPv6 one in brackets) ... -> {name: ip}
    (also what a network change keeps: netconnect). docker's ``host-gateway`` is the host's
    address on the default bridge (docker0's there; pyc0's gateway here)."""
    out = {}
    for h in items:
        name, sep, ip = h.partition("=") if "=" in h else h.partition(":")
        if not sep or not name:
            raise PyContainerError(f"--add-host {h!r}: use NAME:IP (or NAME=IP)")
        if ip == "host-gateway":
            import ipaddress
            from .network.request import DEFAULTS
            ip = str(ipaddress.IPv4Network(DEFAULTS["subnet"]).network_address + 1)
        elif ip.startswith("[") and ip.endswith("]"):
            ip = ip[1:-1]
        out[name] = _ip(ip, "--add-host")
    return out
