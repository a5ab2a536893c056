"""``Client().volumes`` and ``Client().networks``: docker-py 7's collections of named volumes
and user-defined networks.

Thin objects over what the CLI's ``volume`` and ``network`` verbs use
(volumes.py: a directory per volume; network/userdefined.py: a bridge, a
subnet and its leases; netconnect.py: one more interface in a running
container). They run in the caller's process, as root, and take no
container's helper. Errors are the library's (NotFound, APIError).
"""

from __future__ import annotations

from ..errors import NotFound, PyContainerError


class Volume:
    def __init__(self, attrs: dict):
        self.attrs = attrs

    id = property(lambda self: self.attrs["Name"])
    name = property(lambda self: self.attrs["Name"])
    short_id = property(lambda self: self.attrs["Name"][:12])      # docker-py's Model.short_id

    def __repr__(self):
        return f"<Volume: {self.name}>"

    def reload(self) -> None:
        self.attrs = VolumeCollection.get(self.name).attrs

    def remove(self, force: bool = False) -> None:
        from .. import volumes
        volumes.remove(self.name, force=force)


class VolumeCollection:
    """docker-py's ``client.volumes``."""

    def __init__(self, client=None):
        self.client = client

    def create(self, name: str | None = None, driver: str | None = None, driver_opts=None,
               labels: dict | None = None) -> Volume:
        """A named volume (``local``: a directory); an existing name is returned as it is."""
        from .. import volumes
        from ..names import new_id
        if driver not in (None, "local"):
            raise PyContainerError(f"volume driver {driver!r}: only 'local'")
        name = volumes.check_name(name or new_id())
        volumes.create(name, labels or None, driver_opts)     # its bind form only (volumes.py)
        return self.get(name)

    @staticmethod
    def get(volume_id: str) -> Volume:
        from .. import volumes
        if not volumes.exists(volume_id):
            raise NotFound(f"no such volume: {volume_id}")
        return Volume(volumes.inspect(volume_id))

    def list(self, filters: dict | None = None) -> list[Volume]:  # noqa: A003
        """Every volume; ``filters``: name (a substring), label ("k" or "k=v"), dangling."""
        from .. import volumes
        out = [Volume(volumes.inspect(n)) for n in volumes.names()]
        for key, want in (filters or {}).items():
            want = [want] if isinstance(want, (str, bool)) else list(want)
            if key == "name":
                out = [v for v in out if any(w in v.name for w in want)]
            elif key == "label":
                from ..image.listing import labels_match
                out = [v for v in out if labels_match(v.attrs.get("Labels") or {}, want)]
            elif key == "dangling":
                dangling = str(want[0]).lower() in ("1", "true")
                out = [v for v in out if (not volumes.users(v.name)) == dangling]
            else:
                raise PyContainerError(f"volume filter {key!r}: supported are name, label, dangling")
        return out

    def prune(self, filters=None) -> dict:
        """Remove the anonymous volumes no container uses; ``filters={"all": True}`` named
        ones too, ``{"label": ...}`` only those labelled so (docker API 1.42's prune)."""
        from .. import volumes
        flt = dict(filters or {})
        all_ = str(flt.pop("all", False)).lower() in ("1", "true")
        labels = flt.pop("label", [])
        if flt:
            raise PyContainerError(f"volume prune filter {sorted(flt)[0]!r}: supported are all, label")
        from ..containerdir import du
        before = du(volumes.root())
        gone = volumes.prune(all_, [labels] if isinstance(labels, str) else list(labels))
        return {"VolumesDeleted": gone, "SpaceReclaimed": max(0, before - du(volumes.root()))}


class Network:
    def __init__(self, client, attrs: dict):
        self.client, self.attrs = client, attrs

    id = property(lambda self: self.attrs["Id"])
    name = property(lambda self: self.attrs["Name"])
    short_id = property(lambda self: self.attrs["Id"][:12])

    def __repr__(self):
        return f"<Network: {self.short_id}>"

    @property
    def containers(self) -> list:
        return [self.client.containers.get(cid) for cid in self.attrs.get("Containers") or {}]

    def reload(self) -> None:
        self.attrs = self.client.networks.get(self.name).attrs

    def connect(self, container, aliases=None, ipv4_address: str | None = None, **_kw) -> None:
        """docker-py's connect: one more interface (eth1, ...) in the running container."""
        from .. import netconnect
        cid = getattr(container, "id", container)
        netconnect.connect(self.client.root, self.name, cid, tuple(aliases or ()), ipv4_address)
        self.reload()

    def disconnect(self, container, force: bool = False) -> None:
        from .. import netconnect
        netconnect.disconnect(self.client.root, self.name, getattr(container, "id", container), force)
        self.reload()

    def remove(self) -> None:
        from ..network import userdefined
        if userdefined.get(self.name) is None:
            raise NotFound(f"no such network: {self.name}")
        userdefined.remove(self.name)


class NetworkCollection:
    """docker-py's ``client.networks`` (user-defined bridges; bridge, host and none exist)."""

    def __init__(self, client):
        self.client = client

    def create(self, name: str, driver: str | None = None, ipam: dict | None = None,
               labels: dict | None = None, check_duplicate=None, internal: bool = False,
               **_kw) -> Network:
        """A user-defined bridge; ``ipam``: {"Config": [{"Subnet": ..., "Gateway": ...}]};
        ``internal``: no way out (network/userdefined.py)."""
        from ..network import userdefined
        if driver not in (None, "bridge"):
            raise PyContainerError(f"network driver {driver!r}: only 'bridge' exists")
        pool = ((ipam or {}).get("Config") or (ipam or {}).get("pool_configs") or [{}])[0]
        userdefined.create(name, subnet=pool.get("Subnet") or pool.get("subnet"),
                           gateway=pool.get("Gateway") or pool.get("gateway"), labels=labels or {},
                           internal=bool(internal))
        return self.get(name)

    def get(self, network_id: str) -> Network:
        from ..network.networks import docker_record
        for n in self._names():
            if network_id == n or len(network_id) >= 3 and docker_record(n)["Id"].startswith(network_id):
                return Network(self.client, docker_record(n))
        raise NotFound(f"no such network: {network_id}")

    def _names(self) -> list[str]:
        from .. import network
        return ["bridge"] + [n["name"] for n in network.networks() if n.get("user_defined")]

    def list(self, names=None, ids=None, filters: dict | None = None) -> list[Network]:  # noqa: A003
        out = [self.get(n) for n in self._names()]
        if names:
            out = [n for n in out if n.name in names]
        if ids:
            out = [n for n in out if n.id in ids]
        for key, want in (filters or {}).items():
            want = [want] if isinstance(want, str) else list(want)
            if key == "name":
                out = [n for n in out if any(w in n.name for w in want)]
            elif key == "label":
                from ..image.listing import labels_match
                out = [n for n in out if labels_match(n.attrs.get("Labels") or {}, want)]
            else:
                raise PyContainerError(f"network filter {key!r}: supported are name, label")
        return out

    def prune(self, filters=None) -> dict:
        """Remove the user-defined networks no container uses."""
        from .. import network
        from ..errors import NetworkError
        from ..network import userdefined
        gone = []
        for n in network.networks():
            if n.get("user_defined"):
                try:
                    userdefined.remove(n["name"])
                except NetworkError:
                    continue                      # in use
                gone.append(n["name"])
        return {"NetworksDeleted": gone}
