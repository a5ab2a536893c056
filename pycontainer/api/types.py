"""docker-py's ``docker.types`` helpers: dicts in the Engine API's shape.

``Mount``, ``Ulimit``, ``LogConfig``, ``Healthcheck``, ``RestartPolicy`` and
``DeviceRequest`` build what ``containers.run/create`` take (``mounts=[Mount("/data",
"vol")]``, ``ulimits=[Ulimit(name="nofile", soft=1024, hard=1024)]``); like docker-py's,
each is a dict, so a plain dict with the same keys does as well (``api/sdkargs.py`` reads
both).

Read: docker-py's ``docker/types/containers.py`` and ``docker/types/services.py``.
"""

from __future__ import annotations


class Mount(dict):
    def __init__(self, target: str, source: str | None, type: str = "volume",  # noqa: A002
                 read_only: bool = False, tmpfs_size=None, tmpfs_mode: int | None = None, **_):
        super().__init__(Target=target, Source=source, Type=type, ReadOnly=read_only)
        if type == "tmpfs" and (tmpfs_size or tmpfs_mode):
            self["TmpfsOptions"] = {k: v for k, v in (("SizeBytes", tmpfs_size), ("Mode", tmpfs_mode))
                                    if v}


class Ulimit(dict):
    def __init__(self, *, name: str, soft: int | None = None, hard: int | None = None):
        soft = hard if soft is None else soft
        super().__init__(Name=name, Soft=soft, Hard=soft if hard is None else hard)


class LogConfig(dict):
    def __init__(self, *, type: str = "json-file", config: dict | None = None):  # noqa: A002
        super().__init__(Type=type, Config=dict(config or {}))


class Healthcheck(dict):
    def __init__(self, *, test=None, interval: int = 0, timeout: int = 0, retries: int = 0,
                 start_period: int = 0):
        super().__init__(Test=["CMD-SHELL", test] if isinstance(test, str) else test,
                         Interval=interval, Timeout=timeout, Retries=retries, StartPeriod=start_period)


class RestartPolicy(dict):
    def __init__(self, name: str = "no", maximum_retry_count: int = 0):
        super().__init__(Name=name, MaximumRetryCount=maximum_retry_count)


def DeviceRequest(*args, **kw):  # noqa: N802 - docker.types.DeviceRequest's name
    """docker.types.DeviceRequest (driver, count, device_ids, capabilities, options)."""
    from ..cdi.requests import DeviceRequest as Request
    return Request(*args, **kw)
