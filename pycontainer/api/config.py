"""Options -> a container directory with config.json: what ``run IMAGE`` and the API build.

``options_from_kwargs`` maps the docker SDK's keyword arguments to the
porcelain's option names (``mem_limit`` -> ``memory``, ``network_mode`` ->
``network``...); ``build`` turns those options and an image into the
container's directory: the overlay plan (image/rootfs.py), the OCI process
from the image config (image/runconfig.py), docker's capabilities, seccomp
profile, resources and network request, all written as config.json, the one
hand-off to the OCI runtime (container.py).
"""

from __future__ import annotations

import json
import os

from .. import containerdir, trace
from ..errors import PyContainerError

ANN_IMAGE = "org.pycontainer.image"
ANN_LABELS = "org.pycontainer.labels"           # docker's labels, as JSON
DEFAULT_ROOT = "/run/pycontainer"


def options_from_kwargs(image: str, command=None, **kw) -> dict:
    """docker SDK ``containers.run/create`` keyword arguments -> build() options."""
    import shlex
    o: dict = {"image": image}
    if command is not None:
        o["command"] = shlex.split(command) if isinstance(command, str) else list(command)
    ep = kw.pop("entrypoint", None)
    if ep is not None:
        o["entrypoint"] = ep if isinstance(ep, str) else ep[0]
        if not isinstance(ep, str) and len(ep) > 1:
            o["command"] = list(ep[1:]) + o.get("command", [])
    env = kw.pop("environment", None) or []
    o["env"] = [f"{k}={v}" for k, v in env.items()] if isinstance(env, dict) else list(env)
    vols = kw.pop("volumes", None) or []
    if isinstance(vols, dict):
        vols = [f"{h}:{v['bind']}:{v.get('mode', 'rw')}" for h, v in vols.items()]
    o["volumes"] = list(vols)
    ports = kw.pop("ports", None) or {}
    o["publish"] = sdk_ports(ports) if isinstance(ports, dict) else list(ports)
    rename = {"name": "name", "hostname": "hostname", "working_dir": "workdir", "user": "user",
              "network_mode": "network", "network": "network", "mem_limit": "memory",
              "memswap_limit": "memory_swap", "cpu_shares": "cpu_shares", "cpuset_cpus": "cpuset_cpus",
              "pids_limit": "pids_limit", "blkio_weight": "blkio_weight", "cap_add": "cap_add",
              "cap_drop": "cap_drop", "privileged": "privileged", "read_only": "read_only",
              "tty": "tty", "stdin_open": "interactive", "cpus": "cpus", "devices": "device",
              "device_requests": "device_requests", "device_cgroup_rules": "device_cgroup_rule",
              "group_add": "group_add", "storage_opt": "storage_opt", "ipc_mode": "ipc",
              "pid_mode": "pid", "uts_mode": "uts", "cgroupns": "cgroupns", "domainname": "domainname",
              "oom_score_adj": "oom_score_adj", "cpu_period": "cpu_period", "cpu_quota": "cpu_quota",
              "cpuset_mems": "cpuset_mems", "mem_reservation": "memory_reservation",
              "mem_swappiness": "memory_swappiness", "oom_kill_disable": "oom_kill_disable",
              "volumes_from": "volumes_from", "cgroup_parent": "cgroup_parent",
              "mac_address": "mac_address"}
    for k, v in list(kw.items()):
        if k in rename:
            if v is not None:
                o[rename[k]] = v
            kw.pop(k)
    nano = kw.pop("nano_cpus", None)
    if nano:
        o["cpus"] = str(nano / 1e9)
    allow_ptrace = kw.pop("allow_ptrace", None)
    if allow_ptrace is not None:
        o["allow_ptrace"] = bool(allow_ptrace)
    for k in ("lifetime", "idle_timeout"):     # seconds; api/operations.py expire_after
        v = kw.pop(k, None)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
                raise PyContainerError(f"{k}={v!r}: give a positive number of seconds")
            o[k] = v
    egress = kw.pop("egress", None)
    if egress is not None:
        from ..network.egress import POLICIES
        if egress not in POLICIES:
            raise PyContainerError(f"egress={egress!r}: use one of {', '.join(POLICIES)}")
        o["egress"] = egress
    allow = kw.pop("egress_allow", None)
    if allow:
        from ..network.egress import parse_allow
        parse_allow(allow)                       # a bad entry is a usage error before anything runs
        o["egress_allow"] = [str(a) for a in allow]
    lc = kw.pop("log_config", None)             # docker-py's LogConfig: {"Type", "Config"}
    if lc:
        kind = lc.get("Type") or lc.get("type") or "json-file"
        conf = lc.get("Config") or lc.get("config") or {}
        if kind not in ("json-file", "none") or (kind == "none" and conf):
            raise PyContainerError(f"log_config {lc!r}: json-file (max-size, max-file) or none")
        from ..run_flags import log_opts_of
        o["log_opts"] = {"driver": "none"} if kind == "none" else log_opts_of(conf)
    sysctls = kw.pop("sysctls", None) or {}
    if sysctls:
        o["sysctl"] = [f"{k}={v}" for k, v in sysctls.items()]
    labels = kw.pop("labels", None) or {}
    if labels:
        o["labels"] = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) \
            else {str(k): "" for k in labels}
    from .sdkargs import take                   # ulimits=, tmpfs=, mounts=, healthcheck=, ...
    take(kw, o)
    for k in ("detach", "remove", "auto_remove", "stdout", "stderr", "stream"):
        kw.pop(k, None)
    if kw:
        raise PyContainerError(f"unsupported option(s): {', '.join(sorted(kw))}")
    if any(o.get(k) for k in DEVICE_OPTIONS):
        from ..cdi.registry import spec_dirs        # resolved here, in the caller's environment
        o["cdi_spec_dirs"] = spec_dirs()
    for k in ("memory", "memory_swap", "cpu_shares", "pids_limit", "blkio_weight", "cpus"):
        if k in o:
            o[k] = str(o[k])
    if o.get("network"):                        # docker-py's network="mynet": a user-defined one
        from ..run_flags import user_network
        user_network(o)
    return o


DEVICE_OPTIONS = ("device", "gpus", "device_requests", "device_cgroup_rule", "group_add")
NS_FLAGS = ("ipc", "pid", "uts", "cgroupns")      # nsmodes.py's (not imported without them)


def build(cid: str, o: dict, *, image_root=None, pull: str = "missing",
          root: str | None = None, progress=None) -> tuple[str, object]:
    """Image + options -> the container's directory with config.json; (cdir, overlay plan).
    ``progress``: what a pull of the image reports to (image/registry.py's Progress).

    On failure nothing is left (directory removed, image hold released).
    """
    from .. import inspect as insp
    from .. import spec as spec_mod
    from ..cgroups import convert
    from ..image import rootfs as img_rootfs, runconfig
    from ..image.store import Store
    from ..state import validate_id
    validate_id(cid)
    from .. import run_flags
    run_flags.check_process(o)
    if any(not str(v).startswith("/") or ":" not in str(v) for v in o.get("volumes") or ()):
        # the SDK's volumes={"name": {"bind": ...}} / ["name:/path"]: named and anonymous
        # volumes, as run_flags.apply splits the CLI's -v
        from .. import volumes as vols
        o["volumes"], named = vols.split_volume_flags(o.get("volumes"))
        o["mount_specs"] = named + list(o.get("mount_specs") or [])
    if any(o.get(k) for k in NS_FLAGS):
        from .. import nsmodes
        nsmodes.check(o)
    with trace.step("docker options -> linux.resources", "--memory/--cpus/--pids-limit/..."):
        resources = convert.docker_resources(
            memory=o.get("memory"), memory_swap=o.get("memory_swap"), cpus=o.get("cpus"),
            cpu_shares=o.get("cpu_shares"), cpuset_cpus=o.get("cpuset_cpus"), pids_limit=o.get("pids_limit"),
            blkio_weight=o.get("blkio_weight"), cpu_period=o.get("cpu_period"),
            blkio_weight_device=o.get("blkio_weight_device") or None,
            cpu_quota=o.get("cpu_quota"), cpuset_mems=o.get("cpuset_mems"),
            memory_reservation=o.get("memory_reservation"),
            memory_swappiness=o.get("memory_swappiness"), oom_kill_disable=bool(o.get("oom_kill_disable")),
            device_read_bps=o.get("device_read_bps") or None, device_write_bps=o.get("device_write_bps") or None,
            device_read_iops=o.get("device_read_iops") or None,
            device_write_iops=o.get("device_write_iops") or None)
    with trace.step("docker options -> mounts, capabilities", "-v/--cap-add/--cap-drop/--privileged",
                    volumes=list(o.get("volumes", ()))):
        mounts = [volume(v) for v in o.get("volumes", ())]
        caps = capabilities(o.get("cap_add", ()), o.get("cap_drop", ()), o.get("privileged"))
    # docker: a container on the host's network takes the host's name (initializeNetworking)
    hostname = o.get("hostname") or (os.uname().nodename if o.get("network") == "host" else cid[:12])
    with trace.step("docker options -> network request", "--network/-p/--hostname",
                    network=o.get("network") or "bridge", publish=list(o.get("publish", ()))):
        mode = o.get("network")
        if mode and mode.startswith("container:"):   # a name or a short ID: the OCI layer takes IDs
            from ..inspect import resolve_id
            mode = "container:" + resolve_id(root or DEFAULT_ROOT, mode.split(":", 1)[1])
        net = network_request(mode, o.get("publish", ()), hostname, o.get("egress_group"))
        if o.get("mac_address"):
            if net is None or getattr(net.get("mode"), "kind", None) != "bridge":
                raise PyContainerError("--mac-address needs a network of the container's own "
                                       "(the default bridge or a user-defined one)")
            from .. import network
            net = network.parse_request(dict(net, mac=o["mac_address"]))     # checked now
    devplan = None
    if any(o.get(k) for k in DEVICE_OPTIONS) or o.get("privileged"):    # pycontainer/cdi
        from ..cdi import requests as devreq
        with trace.step("resolve devices", "--device/--gpus/--privileged"):
            devplan = devreq.plan(o)                   # resolved before the image is touched
    store = Store(image_root)
    cdir = containerdir.path(cid)
    img, plan = img_rootfs.prepare(cid, o["image"], store=store, containers_dir=os.path.dirname(cdir),
                                   pull=pull, durable_hold=not o.get("remove"), progress=progress)
    try:
        make_sources(mounts)
        size = storage_size(o.get("storage_opt"))
        if size:
            plan.limit_size(cdir, size)
        with trace.step("image config -> process", "IMAGE [COMMAND] -e -w -u --entrypoint",
                        image=img.name):
            proc = runconfig.process(img.config, layers=img.layers, command=o.get("command") or None,
                                     entrypoint=o.get("entrypoint"), env=list(o.get("env", ())),
                                     workdir=o.get("workdir"), user=o.get("user"),
                                     hostname=hostname, tty=bool(o.get("tty")))
        runconfig.make_workdir(img.layers, plan.upper, proc["cwd"])       # docker creates -w
        os.mkdir(os.path.join(cdir, "rootfs"), 0o755)
        cfg = spec_mod.default_spec(proc["args"], terminal=bool(o.get("tty")))
        cfg["process"].update({k: v for k, v in proc.items() if k != "args"})
        cfg["process"]["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
        if o.get("tty") and o.get("console_size"):
            cfg["process"]["consoleSize"] = o["console_size"]
        cfg["root"] = {"path": "rootfs", "readonly": bool(o.get("read_only"))}
        cfg["hostname"] = hostname
        cfg["mounts"] += mounts
        if o.get("volumes_from"):                  # another container's -v/--mount, same paths
            taken = {m["destination"] for m in cfg["mounts"]}
            cfg["mounts"] += [m for m in run_flags.volumes_from(root or DEFAULT_ROOT, o["volumes_from"])
                              if m["destination"] not in taken]
        if o.get("privileged"):                    # moby's oci_linux.go, privileged
            cfg["linux"].pop("maskedPaths", None)
            cfg["linux"].pop("readonlyPaths", None)
            cfg["process"]["noNewPrivileges"] = False
            for m in cfg["mounts"]:                # /sys and the cgroup tree writable
                if m.get("type") in ("sysfs", "cgroup") and "ro" in m.get("options", ()):
                    m["options"] = [x for x in m["options"] if x != "ro"]
            plan.flags = 0                         # the rootfs without nodev: mknod works anywhere
        from ..security import securityopt          # docker's seccomp profile (issue #7), NNP...
        with trace.step("--security-opt -> linux.seccomp, noNewPrivileges",
                        "--security-opt seccomp=/no-new-privileges=/systempaths=; --privileged"):
            securityopt.apply(cfg, o.get("security_opt", ()), privileged=bool(o.get("privileged")))
        if o.get("allow_ptrace") is False:
            deny_syscalls(cfg, NO_PTRACE)
        if resources:
            cfg["linux"]["resources"].update(resources)
        if devplan:
            devreq.apply(cfg, devplan)
        from ..image.overlay import ANNOTATION as ANN_OVERLAY   # start/inspect, files of a stopped one
        cfg["annotations"] = {containerdir.ANN_DIR: cdir, ANN_IMAGE: img.name,
                              ANN_OVERLAY: plan.to_json(),
                              "org.pycontainer.options": json.dumps(
                                  {k: v for k, v in o.items() if k != "console_size"})}
        from ..containerconfig import ANN_IMAGECONFIG, image_part     # docker's Config: Cmd, Labels...
        cfg["annotations"][ANN_IMAGECONFIG] = json.dumps(image_part(img.id, img.config, o))
        labels = dict(o.get("labels") or {})          # the SDK's labels= and the porcelain's --label
        labels.update(kv.split("=", 1) if "=" in kv else (kv, "") for kv in o.get("label") or ())
        if labels:
            cfg["annotations"][ANN_LABELS] = json.dumps(labels)
        if net is not None:
            cfg["annotations"]["org.pycontainer.network"] = json.dumps(net)
        with trace.step("docker run flags -> config", "--tmpfs/--ulimit/--dns/--add-host/..."):
            if o.get("link"):
                run_flags.links(cfg, o, root or DEFAULT_ROOT, cid)
            run_flags.to_spec(cfg, o, img)
        if o.get("cgroup_parent"):                  # docker: the container's cgroup is PARENT/ID
            from ..cgroups import resolve_path
            from ..errors import CgroupError
            path = o["cgroup_parent"].rstrip("/") + "/" + cid
            try:
                resolve_path(path, cid)            # runc's rules, checked now (125, nothing made)
            except CgroupError as exc:
                raise PyContainerError(f"--cgroup-parent {o['cgroup_parent']!r}: "
                                       f"{str(exc).split(': ', 1)[-1]}") from None
            cfg["linux"]["cgroupsPath"] = path
        if net is not None and net.get("mode") == "host":
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
        if any(o.get(k) for k in NS_FLAGS):
            from .. import nsmodes
            with trace.step("docker options -> linux.namespaces", "--ipc/--pid/--uts/--cgroupns"):
                nsmodes.apply(cfg, o, root)
        with trace.step("write config.json", "(every option: the hand-off to the OCI runtime)",
                        file=os.path.join(cdir, containerdir.CONFIG)), \
                open(os.path.join(cdir, containerdir.CONFIG), "w") as f:
            json.dump(cfg, f, indent=1)
        with insp.name_lock():         # the name checked and kept in one step (two creates at once)
            if o.get("name") and o["name"] != cid:       # given or generated (runform, the API)
                insp.check_name_free(root or DEFAULT_ROOT, o["name"], cid)
                with open(os.path.join(cdir, "name"), "w") as f:
                    f.write(o["name"])
            if root:                   # whose container this is (gc of another root skips it)
                with open(os.path.join(cdir, containerdir.ROOT), "w") as f:
                    f.write(os.path.abspath(root))
    except BaseException:
        anonymous = containerdir.anonymous_volumes(cdir)   # made for it: they go with it
        containerdir.remove(cid)
        if anonymous:
            from .. import volumes
            volumes.remove_anonymous(anonymous)
        raise
    return cdir, plan


NO_PTRACE = ("ptrace", "process_vm_readv", "process_vm_writev")


def deny_syscalls(cfg: dict, names) -> None:
    """Take ``names`` out of the seccomp profile's allow rules, so the profile's default action
    (EPERM in docker's) refuses them: a sandbox (``allow_ptrace=False``) cannot ptrace even its
    own processes, which docker's profile allows on kernels >= 4.8."""
    sec = (cfg.get("linux") or {}).get("seccomp")
    if not sec:
        return
    rules = []
    for rule in sec.get("syscalls", []):
        if rule.get("action") == "SCMP_ACT_ALLOW":
            rule = dict(rule, names=[n for n in rule.get("names", []) if n not in names])
            if not rule["names"]:
                continue
        rules.append(rule)
    sec["syscalls"] = rules


def storage_size(opts) -> int:
    """docker's ``storage_opt={"size": "100m"}`` -> bytes (0: no limit)."""
    if not opts:
        return 0
    from ..cgroups.convert import parse_size
    unknown = set(opts) - {"size"}
    if unknown:
        raise PyContainerError(f"storage_opt {', '.join(sorted(unknown))}: only size is supported")
    size = parse_size(opts["size"], "storage_opt size")
    if size < 1 << 20:
        raise PyContainerError(f"storage_opt size={opts['size']!r}: give at least 1m")
    return size


def volume(v: str) -> dict:
    from ..errors import SpecError
    from ..volumes import volume_mode
    parts = v.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise SpecError(f"-v {v!r}: use HOST:CONTAINER[:MODE] (MODE: ro|rw, z|Z, rslave, ...)")
    src, dst = parts[0], parts[1]
    if not os.path.isabs(src) or not os.path.isabs(dst):
        raise SpecError(f"-v {v!r}: both paths must be absolute")
    readonly, prop, _ = volume_mode(v, parts[2] if len(parts) == 3 else "", bind=True)
    if os.path.lexists(src) and not os.path.exists(src):
        raise SpecError(f"-v {v!r}: {src} is a dangling symbolic link")
    return {"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", "ro" if readonly else "rw", prop or "rprivate"]}


def make_sources(mounts: list[dict]) -> None:
    """docker's -v makes a missing source directory (--mount does not): once the image is
    there, so that a bad image or option leaves no directory behind."""
    from ..errors import SpecError
    for m in mounts:
        if not os.path.lexists(m["source"]):
            try:
                os.makedirs(m["source"], 0o755)
            except OSError as exc:
                raise SpecError(f"-v {m['source']}:{m['destination']}: {m['source']} does not exist "
                                f"and cannot be made: {exc.strerror}") from None


def capabilities(add, drop, privileged) -> list[str]:
    """docker's rules (moby oci/caps TweakCapabilities): ``--privileged`` and ``--cap-add ALL``
    give every capability the runtime itself holds (minus --cap-drop), ``--cap-drop ALL``
    keeps only --cap-add, otherwise docker's 14 minus --cap-drop plus --cap-add."""
    from .. import spec as spec_mod
    from ..capabilities import cap_number
    from ..errors import SpecError

    def norm(flag, names):
        out = []
        for c in names or ():
            if c.upper() == "ALL":
                out.append("ALL")
            elif cap_number(c) is None:
                raise SpecError(f"{flag} {c}: unknown capability")
            else:
                out.append("CAP_" + c.upper().removeprefix("CAP_"))
        return out
    add, drop = norm("--cap-add", add), norm("--cap-drop", drop)
    if privileged:
        return all_caps()
    if "ALL" in add:
        return sorted(c for c in all_caps() if c not in drop)
    if "ALL" in drop:
        return sorted(set(add) - {"ALL"})
    return sorted({c for c in spec_mod.DEFAULT_CAPS if c not in drop} | set(add))


def all_caps() -> list[str]:
    """Every capability in the runtime's own bounding set (a capability it lacks cannot be given)."""
    from ..capabilities import CAPS
    try:
        with open("/proc/self/status") as f:
            bnd = int(next(ln.split()[1] for ln in f if ln.startswith("CapBnd:")), 16)
    except (OSError, StopIteration, ValueError):
        return sorted(CAPS)
    return sorted(n for n, bit in CAPS.items() if bnd >> bit & 1)


def sdk_ports(ports: dict) -> list[str]:
    """docker-py's ``ports``: {"80/tcp": 8080 | None (any free port) | ("127.0.0.1", 8080) |
    ("127.0.0.1",) | [8080, 8081]} -> -p's forms."""
    out = []
    for c, hosts in ports.items():
        c = str(c) if "/" in str(c) else f"{c}/tcp"
        for h in hosts if isinstance(hosts, list) else [hosts]:
            if isinstance(h, tuple):
                out.append(f"{h[0]}:{h[1] if len(h) > 1 and h[1] is not None else ''}:{c}")
            else:
                out.append(c if h is None else f"{h}:{c}")
    return out


def network_request(mode, publish, hostname: str, egress_group: int | None = None):
    from .. import network
    req = {"mode": mode or "bridge", "hostname": hostname}
    kind = network.parse_mode(req["mode"]).kind
    if publish and kind != "bridge":      # docker warns for host, podman for none and container:
        from .. import log
        log.warning(f"Published ports are discarded when using {kind} network mode")
        publish = ()
    if publish:
        from ..network.nat import parse_port
        req["ports"] = [parse_port(p, any_port=True) for p in port_ranges(publish)]
        for p in req["ports"]:
            if p["host_port"] == 0:       # -p 80, -p IP::80: a free host port, as docker's
                from ..network.nat import free_port
                p["host_port"] = free_port(p["protocol"], p["host_ip"])
    if egress_group is not None:          # the host veth in a shared egress policy's group
        req["egress_group"] = egress_group
    return network.parse_request(req)


def port_ranges(publish) -> list:
    """docker's ranges in -p (its nat.ParsePortSpec): ``8080-8082:80-82`` maps one to one,
    ``80-82`` and ``IP::80-82`` give each a free host port, and ``8080-8090:80`` takes the first
    host port of the range that is free. -> the specs, one port each (dicts pass through)."""
    from ..errors import NetworkError
    out = []
    for spec in publish:
        text = spec if isinstance(spec, str) else ""
        body, slash, proto = text.partition("/")
        parts = body.rsplit(":", 2) if "-" in body else []
        if not parts:
            out.append(spec)
            continue
        ctr, host = parts[-1], parts[-2] if len(parts) > 1 else ""
        ip = parts[0] + ":" if len(parts) == 3 else ""
        try:
            c0, _, c1 = ctr.partition("-")
            crange = range(int(c0), int(c1 or c0) + 1)
            h0, _, h1 = host.partition("-")
            hrange = range(int(h0), int(h1 or h0) + 1) if host else None
        except ValueError:
            out.append(spec)                     # parse_port names what is wrong
            continue
        tail = slash + proto
        if not crange or hrange is not None and not hrange:
            raise NetworkError(f"port {text!r}: a range must go up (80-82, not 82-80)",
                               stage="network")
        if hrange is not None and len(hrange) != len(crange):
            if len(crange) != 1:
                raise NetworkError(f"port {text!r}: invalid ranges for container and host ports "
                                   f"({ctr} and {host}): give ranges of one size", stage="network")
            free = next((h for h in hrange if _free(h, proto or "tcp", parts[0] if ip else "")), None)
            if free is None:
                raise NetworkError(f"port {text!r}: no host port of {host} is free", stage="network")
            out.append(f"{ip}{free}:{crange[0]}{tail}")
            continue
        for i, c in enumerate(crange):
            out.append(f"{ip}{hrange[i] if hrange else ''}:{c}{tail}" if ip or hrange else f"{c}{tail}")
    return out


def _free(port: int, proto: str, host_ip: str) -> bool:
    from ..errors import NetworkError
    from ..network.nat import check_free           # the bind(2) probe publishing uses
    try:
        check_free([{"host_ip": host_ip, "host_port": port, "protocol": proto}])
        return True
    except NetworkError:
        return False
