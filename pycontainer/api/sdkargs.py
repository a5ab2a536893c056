"""The docker SDK's host-config keyword arguments, as the options ``config.build`` reads.

docker-py's ``containers.run``/``create`` take what the CLI spells as flags in Python
shapes: ``ulimits=[Ulimit(name="nofile", soft=1024, hard=2048)]``, ``tmpfs={"/tmp":
"size=64m"}``, ``extra_hosts={"db": "10.0.0.2"}``, ``restart_policy={"Name": "on-failure",
"MaximumRetryCount": 3}``, ``healthcheck={"test": [...], "interval": NANOSECONDS}``,
``mounts=[Mount(target, source, type="bind", read_only=True)]``. ``take`` turns each
into the CLI's option (``--ulimit nofile=1024:2048``, ``--tmpfs /tmp:size=64m``, ...) and
checks it as the CLI does, so that both forms reach the OCI config by one path and a bad
value is one error before anything is made. ``types.py`` has the SDK's helper classes.

Read: docker-py's ``docker/models/containers.py`` (RUN_HOST_CONFIG_KWARGS) and
``docker/types/containers.py``; the Engine API's HostConfig.
"""

from __future__ import annotations

from ..errors import PyContainerError

_NS = 1_000_000_000


def _get(obj, *keys, default=None):
    """A field of a docker-py type (a dict with the API's capitalised keys) or a plain dict."""
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            return obj[k]
    return default


def _pairs(value, what: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            k, sep, v = str(item).partition(":")
            if not sep:
                raise PyContainerError(f"{what}={value!r}: give NAME:VALUE items or a dict")
            out.append((k, v))
        return out
    raise PyContainerError(f"{what}={value!r}: give a dict or a list")


def _seconds(ns, what: str) -> str:
    if isinstance(ns, bool) or not isinstance(ns, int) or ns < 0:
        raise PyContainerError(f"healthcheck {what}={ns!r}: give nanoseconds (an int >= 0)")
    return f"{ns / _NS}s"


def _healthcheck(hc, o: dict) -> None:
    test = _get(hc, "test", "Test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test:
        if test[0] == "NONE":
            o["no_healthcheck"] = True
        elif test[0] == "CMD-SHELL":
            o["health_cmd"] = " ".join(test[1:])
        elif test[0] == "CMD":
            import shlex
            o["health_cmd"] = shlex.join(test[1:])
        else:
            raise PyContainerError(f"healthcheck test {test!r}: want CMD, CMD-SHELL or NONE first")
    for key, flag in (("interval", "health_interval"), ("timeout", "health_timeout"),
                      ("start_period", "health_start_period")):
        v = _get(hc, key, key.title().replace("_", ""))
        if v:
            o[flag] = _seconds(v, key)
    retries = _get(hc, "retries", "Retries")
    if retries is not None:
        o["health_retries"] = int(retries)


def _mount(m) -> str:
    target = _get(m, "Target", "target")
    if not target:
        raise PyContainerError(f"mounts: {m!r} has no Target")
    kind = _get(m, "Type", "type", default="volume")
    parts = [f"type={kind}", f"target={target}"]
    source = _get(m, "Source", "source")
    if source:
        parts.append(f"source={source}")
    if _get(m, "ReadOnly", "read_only"):
        parts.append("readonly")
    tmpfs = _get(m, "TmpfsOptions", default={}) or {}
    if tmpfs.get("SizeBytes"):
        parts.append(f"tmpfs-size={tmpfs['SizeBytes']}")
    if tmpfs.get("Mode"):
        parts.append(f"tmpfs-mode={tmpfs['Mode']:o}")
    return ",".join(parts)


def restart_of(rp) -> str:
    """``{"Name": "on-failure", "MaximumRetryCount": 3}`` -> ``on-failure:3``, checked as
    --restart is."""
    from ..run_flags import check_restart
    name = _get(rp, "Name", "name", default="no") or "no"
    count = _get(rp, "MaximumRetryCount", "maximum_retry_count", default=0)
    restart = f"{name}:{count}" if name == "on-failure" and count else name
    check_restart(restart)
    return restart


def take(kw: dict, o: dict) -> None:
    """Pop docker-py's host-config arguments from ``kw`` into CLI-form options in ``o``."""
    if kw.pop("network_disabled", False):
        o["network"] = "none"
    if kw.get("ulimits"):
        o["ulimit"] = [f"{_get(u, 'Name', 'name')}={_get(u, 'Soft', 'soft')}:{_get(u, 'Hard', 'hard')}"
                       for u in kw.pop("ulimits")]
    tmpfs = kw.pop("tmpfs", None)
    if tmpfs:
        o["tmpfs"] = [f"{d}:{opts}" if opts else d for d, opts in tmpfs.items()] \
            if isinstance(tmpfs, dict) else list(tmpfs)
    for sdk, flag in (("dns", "dns"), ("dns_search", "dns_search"), ("dns_opt", "dns_option"),
                      ("security_opt", "security_opt"), ("device_cgroup_rules", "device_cgroup_rule")):
        v = kw.pop(sdk, None)
        if v:
            o[flag] = [str(x) for x in v]
    hosts = kw.pop("extra_hosts", None)
    if hosts:
        o["add_host"] = [f"{h}:{ip}" for h, ip in _pairs(hosts, "extra_hosts")]
    for sdk, flag in (("init", "init"), ("publish_all_ports", "publish_all")):
        if kw.pop(sdk, None):
            o[flag] = True
    for sdk, flag in (("shm_size", "shm_size"), ("stop_signal", "stop_signal"),
                      ("userns_mode", "userns"), ("platform", "platform")):
        v = kw.pop(sdk, None)
        if v is not None:
            o[flag] = str(v)
    rp = kw.pop("restart_policy", None)
    if rp:
        o["restart"] = restart_of(rp)
    hc = kw.pop("healthcheck", None)
    if hc:
        _healthcheck(hc, o)
    for sdk in ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops"):
        v = kw.pop(sdk, None)
        if v:
            o[sdk] = [f"{_get(d, 'Path', 'path')}:{_get(d, 'Rate', 'rate')}" for d in v]
    bwd = kw.pop("blkio_weight_device", None)     # [{"Path": "/dev/sda", "Weight": 200}]
    if bwd:
        o["blkio_weight_device"] = [f"{_get(d, 'Path', 'path')}:{_get(d, 'Weight', 'weight')}" for d in bwd]
    if kw.pop("kernel_memory", None):
        o["kernel_memory"] = True                 # ignored with docker's warning (run_flags)
    for sdk in ("isolation", "runtime", "volume_driver"):      # run_flags.check_engine's
        if kw.get(sdk) is not None:
            o[sdk] = kw[sdk]
        kw.pop(sdk, None)
    kw.pop("use_config_proxy", None)              # docker-py's: proxies from ~/.docker/config.json
    kw.pop("version", None)                       # docker-py's API version, passed along
    for sdk, why in (("cpu_count", "Windows containers only"), ("cpu_percent", "Windows containers only"),
                     ("lxc_conf", "the LXC driver is gone from docker"),
                     ("init_path", "the init is tini or catatonit found on the host"),
                     ("cpu_rt_period", "real-time scheduling is not set up here"),
                     ("cpu_rt_runtime", "real-time scheduling is not set up here")):
        if kw.get(sdk) not in (None, 0, {}, []):
            raise PyContainerError(f"{sdk}=: not supported ({why})")
        kw.pop(sdk, None)
    links = kw.pop("links", None)                # {"name": "alias"} or [(name, alias)]
    if links:
        pairs = links.items() if isinstance(links, dict) else links
        o["link"] = [f"{n}:{a}" if a else str(n) for n, a in pairs]
    mounts = kw.pop("mounts", None)
    if mounts:
        o["mount"] = [m if isinstance(m, str) else _mount(m) for m in mounts]
    _check(o)


def _check(o: dict) -> None:
    """The CLI's checks of the same values (run_flags.apply's), before anything is made."""
    from .. import run_flags
    if any(o.get(k) for k in ("health_interval", "health_timeout", "health_start_period")) or \
            o.get("health_retries") is not None:
        from .. import health
        health.check_flags(o)
    if o.get("platform"):
        run_flags.check_platform(o["platform"])
    run_flags.check_engine(o)
    if o.get("mount"):
        from .. import volumes
        o["mount_specs"] = [volumes.parse_mount(m) for m in o.pop("mount")]
