"""docker inspect's ``Config``, ``HostConfig`` and ``GraphDriver`` of a container.

docker keeps a container's settings in two structures: ``Config``, what the image and
``run`` say the program is (Cmd and Entrypoint apart, Env, User, Labels, ExposedPorts,
Volumes, Healthcheck), and ``HostConfig``, what the host gives it (binds, limits, the
namespaces it shares, DNS, restart policy). Scripts and the docker SDK read both
(``{{.HostConfig.NanoCpus}}``, ``attrs['Config']['Labels']``), and a Go template stops at
a field that is not there, so every key docker always has is here, zero-valued as docker's.

Both come from the container's config.json, the hand-off to the OCI layer: its
``linux.resources`` (what ``update`` changes: limits are read there, not from the flags),
its ``process``, and its annotations: the docker options (``org.pycontainer.options``) and
what the image's config says that OCI has no field for (``org.pycontainer.imageconfig``,
written at create by ``image_part``: the image may be retagged or pulled again later).

Read: docker's "docker inspect" page and the Engine API's ContainerConfig and HostConfig.
"""

from __future__ import annotations

import json

ANN_IMAGECONFIG = "org.pycontainer.imageconfig"
INIT = "/run/pycontainer-init"          # --init's program, before the container's own args


def image_part(image_id: str, image_config: dict, o: dict) -> dict:
    """What the annotation keeps at create: the image's ID, labels, ports and volumes, and
    the Entrypoint and Cmd that docker's rules chose (an --entrypoint drops the image's
    Cmd; a COMMAND replaces it)."""
    c = image_config.get("config") or {}
    ep = o.get("entrypoint")
    if ep is not None:
        entrypoint = (list(ep) if isinstance(ep, (list, tuple)) else [ep]) if ep else None
        cmd = list(o.get("command") or []) or None
    else:
        entrypoint = list(c.get("Entrypoint") or []) or None
        cmd = list(o.get("command") or c.get("Cmd") or []) or None
    return {"Id": image_id, "Labels": c.get("Labels") or {}, "ExposedPorts": c.get("ExposedPorts") or {},
            "Volumes": c.get("Volumes") or None, "User": c.get("User") or "",
            "StopSignal": c.get("StopSignal") or "",
            "Entrypoint": entrypoint, "Cmd": cmd}


def image_of(cfg: dict) -> dict:
    try:
        return json.loads((cfg.get("annotations") or {}).get(ANN_IMAGECONFIG) or "{}")
    except ValueError:
        return {}


def program(cfg: dict, opts: dict) -> list[str]:
    """The container's own argv: config.json's args without --init's program."""
    args = list((cfg.get("process") or {}).get("args") or [])
    if opts.get("init") and args[:2] == [INIT, "--"]:
        return args[2:]
    return args


def _port_key(p: str) -> str:
    port, _, proto = str(p).partition("/")
    return f"{port.rsplit(':', 1)[-1]}/{proto or 'tcp'}"


def config(cfg: dict, opts: dict, image: dict, labels: dict, health: dict | None) -> dict:
    """docker's ``Config``."""
    proc = cfg.get("process") or {}
    args = program(cfg, opts)
    ep, cmd = image.get("Entrypoint"), image.get("Cmd")
    if (ep or []) + (cmd or []) != args:            # made before the annotation: all of it is Cmd
        ep, cmd = None, args
    exposed = dict.fromkeys(image.get("ExposedPorts") or {}, {})
    for p in list(opts.get("expose") or []) + [s.rsplit(":", 1)[-1] for s in opts.get("publish") or []]:
        for one in _expand(p):
            exposed[one] = {}
    volumes = dict(image.get("Volumes") or {})
    volumes.update({m["target"]: {} for m in opts.get("mount_specs") or []    # -v /path (anonymous)
                    if m.get("type") == "volume" and not m.get("source")})
    interactive = bool(opts.get("interactive"))
    attach = opts.get("attach") or ("stdin", "stdout", "stderr")       # run -a, else all
    out = {"Hostname": cfg.get("hostname", ""), "Domainname": opts.get("domainname") or "",
           "User": opts["user"] if opts.get("user") is not None else image.get("User", _user(proc)),
           "AttachStdin": interactive and not opts.get("detach") and "stdin" in attach,
           "AttachStdout": not opts.get("detach") and "stdout" in attach,
           "AttachStderr": not opts.get("detach") and "stderr" in attach,
           "ExposedPorts": exposed or None, "Tty": bool(proc.get("terminal")),
           "OpenStdin": interactive, "StdinOnce": interactive,
           "Env": proc.get("env", []), "Cmd": cmd, "Image": opts.get("image") or "",
           "Volumes": volumes or None, "WorkingDir": proc.get("cwd", "/"), "Entrypoint": ep,
           "OnBuild": None, "Labels": {**(image.get("Labels") or {}), **labels},
           "StopSignal": opts.get("stop_signal") or image.get("StopSignal") or "SIGTERM",
           "StopTimeout": opts.get("stop_timeout")}
    if health:
        out["Healthcheck"] = {"Test": ["CMD"] + list(health.get("cmd") or []),
                              "Interval": int(health.get("interval", 0) * 1e9),
                              "Timeout": int(health.get("timeout", 0) * 1e9),
                              "StartPeriod": int(health.get("start_period", 0) * 1e9),
                              "Retries": int(health.get("retries", 0))}
    return out


def _expand(port: str) -> list[str]:
    """``8000-8002/udp`` -> each port's key."""
    from .image.runconfig import port_range
    key = _port_key(port)
    r = port_range(key)
    return [f"{n}/{r[2]}" for n in range(r[0], r[1] + 1)] if r else [key]


def _user(proc: dict) -> str:
    u = proc.get("user") or {}
    if not u.get("uid") and not u.get("gid"):
        return ""
    return f"{u.get('uid', 0)}:{u.get('gid', 0)}"


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def host_config(cfg: dict, opts: dict, restart_policy: dict, name: str = "") -> dict:
    """docker's ``HostConfig``: limits from linux.resources (as ``update`` left them)."""
    res = (cfg.get("linux") or {}).get("resources") or {}
    mem, cpu = res.get("memory") or {}, res.get("cpu") or {}
    quota, period = _int(cpu.get("quota")), _int(cpu.get("period"))
    nano = quota * 1_000_000_000 // period if quota > 0 and period > 0 and opts.get("cpus") else 0
    ulimits, given = [], {u.partition("=")[0] for u in opts.get("ulimit") or []}
    for r in (cfg.get("process") or {}).get("rlimits") or []:
        if r["type"].removeprefix("RLIMIT_").lower() in given:      # not the runtime's defaults
            ulimits.append({"Name": r["type"].removeprefix("RLIMIT_").lower(),
                            "Soft": r.get("soft", 0), "Hard": r.get("hard", 0)})
    devices = []
    for d in opts.get("device") or []:
        parts = d.split(":")
        devices.append({"PathOnHost": parts[0], "PathInContainer": parts[1] if len(parts) > 1 and
                        parts[1].startswith("/") else parts[0],
                        "CgroupPermissions": parts[-1] if len(parts) > 1 and
                        not parts[-1].startswith("/") else "rwm"})
    tmpfs = {}
    for t in opts.get("tmpfs") or []:
        dest, _, o = t.partition(":")
        tmpfs[dest] = o
    mode = opts.get("user_network") or opts.get("network") or "bridge"    # docker: its name
    binds = [v for v in opts.get("volumes") or [] if ":" in v] + \
        [f"{m['source']}:{m['target']}" + (":ro" if m.get("readonly") else "")
         for m in opts.get("mount_specs") or [] if m.get("type") == "volume" and m.get("source")]
    return {"Binds": binds or None,
            "NetworkMode": "bridge" if mode == "default" else mode,
            "PortBindings": None, "RestartPolicy": restart_policy,
            "AutoRemove": bool(opts.get("remove")), "VolumeDriver": "",
            "VolumesFrom": opts.get("volumes_from") or None,
            "CapAdd": opts.get("cap_add"), "CapDrop": opts.get("cap_drop"),
            "CgroupnsMode": opts.get("cgroupns") or "", "Dns": opts.get("dns") or [],
            "DnsOptions": opts.get("dns_option") or [], "DnsSearch": opts.get("dns_search") or [],
            "ExtraHosts": opts.get("add_host") or None, "GroupAdd": opts.get("group_add") or None,
            "IpcMode": opts.get("ipc") or "private", "Cgroup": "",
            "Links": [f"/{n}:/{name}/{a or n}" for n, _, a in
                      (lk.partition(":") for lk in opts.get("link") or [])] or None,
            "OomScoreAdj": _int(opts.get("oom_score_adj")), "PidMode": opts.get("pid") or "",
            "Privileged": bool(opts.get("privileged")), "PublishAllPorts": bool(opts.get("publish_all")),
            "ReadonlyRootfs": bool((cfg.get("root") or {}).get("readonly")),
            "SecurityOpt": opts.get("security_opt") or None, "UTSMode": opts.get("uts") or "",
            "UsernsMode": opts.get("userns") or "", "ShmSize": _shm(cfg),
            "Sysctls": (cfg.get("linux") or {}).get("sysctl") or None, "Runtime": "pycontainer",
            "Isolation": "", "CpuShares": _shares(cpu.get("shares")), "Memory": _int(mem.get("limit")),
            "NanoCpus": nano, "CgroupParent": opts.get("cgroup_parent") or "",
            "BlkioWeight": _int((res.get("blockIO") or {}).get("weight")),
            "CpuPeriod": 0 if opts.get("cpus") else period, "CpuQuota": 0 if opts.get("cpus") else quota,
            "CpusetCpus": cpu.get("cpus") or "", "CpusetMems": cpu.get("mems") or "",
            "Devices": devices, "DeviceCgroupRules": opts.get("device_cgroup_rule") or None,
            "MemoryReservation": _int(mem.get("reservation")), "MemorySwap": _int(mem.get("swap")),
            "MemorySwappiness": mem.get("swappiness"),
            "OomKillDisable": bool(mem.get("disableOOMKiller")),
            "PidsLimit": _int((res.get("pids") or {}).get("limit")) or None,
            "Ulimits": ulimits or None, "Init": bool(opts.get("init")) or None,
            "Tmpfs": tmpfs or None, "LogConfig": {"Type": (opts.get("log_opts") or {}).get("driver")
                                                  or "json-file",
                                                  "Config": {k: v for k, v in (opts.get("log_opts") or {})
                                                             .items() if k != "driver"}}}


def _shares(v) -> int:
    return _int(v) if v else 0


def _shm(cfg: dict) -> int:
    for m in cfg.get("mounts") or []:
        if m.get("destination") == "/dev/shm":
            for o in m.get("options") or []:
                if o.startswith("size="):
                    return _bytes(o[5:])
    return 64 * 1024 * 1024


def _bytes(s: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    s = s.strip().lower()
    if s and s[-1] in units:
        return _int(s[:-1]) * units[s[-1]]
    return _int(s)


def graph_driver(cfg: dict, cdir: str) -> dict:
    """``GraphDriver``: the overlay's directories (org.pycontainer.overlay)."""
    import os
    try:
        plan = json.loads((cfg.get("annotations") or {}).get("org.pycontainer.overlay") or "{}")
    except ValueError:
        plan = {}
    if not plan:
        return {"Name": "", "Data": None}
    return {"Name": "overlay2",
            "Data": {"LowerDir": ":".join(reversed(plan.get("lower") or [])),
                     "UpperDir": plan.get("upper") or os.path.join(cdir, "upper"),
                     "WorkDir": plan.get("work") or os.path.join(cdir, "work"),
                     "MergedDir": os.path.join(cdir, "rootfs")}}
