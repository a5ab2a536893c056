"""IP address management: one lease file per address, guarded by flock(2).

This is CNI's host-local model (containernetworking/plugins
``plugins/ipam/host-local``), which survives many concurrent runtime
processes without a daemon:

* an address is ``base_ip + offset`` inside the subnet; the network address,
  the broadcast address and the gateway are never handed out;
* a lease is a file named after the address (``10.89.0.7``) whose content is
  the container id; it is created with link(2), which fails with EEXIST if the
  name exists, so a lease is written whole or not at all (a crash leaves at
  most a ``.tmp-<pid>`` file, removed by :meth:`Ipam.gc`);
* every reserve/release/gc holds an exclusive flock(2) on ``<dir>/lock`` for
  its whole read-decide-write, so two processes never pick the same address;
  the kernel drops the lock when a process dies, even by SIGKILL;
* ``last_reserved_ip`` makes allocation round-robin, so a just-released
  address is not reused at once (stale ARP entries, late packets).

Pure file logic: no root, no netlink; unit-tested on a temporary directory.
Man pages: flock(2), link(2), rename(2).
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os

from ..errors import NetworkError

LOCK = "lock"
LAST = "last_reserved_ip"
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")


def check_id(container_id: str) -> str:
    """Container ids go into file contents and nft comments: runc's id rule."""
    if not isinstance(container_id, str) or not 0 < len(container_id) <= 1024 \
            or not _ID_CHARS.issuperset(container_id) or container_id in (".", ".."):
        raise NetworkError(f"invalid container id {container_id!r}: use letters, digits, _ + . -",
                           stage="ipam")
    return container_id


class Ipam:
    """Leases of one IPv4 subnet, kept in ``directory``.

    >>> ipam = Ipam("/tmp/x", "10.89.0.0/24")   # gateway defaults to .1
    >>> ipam.reserve("web")                      # IPv4Address('10.89.0.2')
    """

    def __init__(self, directory: str, subnet: str, gateway: str | None = None):
        try:
            self.subnet = ipaddress.IPv4Network(subnet, strict=True)
        except ValueError as exc:
            raise NetworkError(f"invalid subnet {subnet!r}: {exc}", stage="ipam") from None
        if self.subnet.num_addresses < 4:
            raise NetworkError(f"subnet {subnet} is too small: use a prefix of /30 or shorter",
                               stage="ipam")
        self.gateway = ipaddress.IPv4Address(gateway) if gateway else self.subnet.network_address + 1
        if self.gateway not in self.subnet:
            raise NetworkError(f"gateway {self.gateway} is outside subnet {self.subnet}", stage="ipam")
        self.dir = directory

    # -- the address space: base_ip + offset --------------------------------------
    @property
    def size(self) -> int:
        """How many addresses can be leased (network, broadcast, gateway excluded)."""
        return self.subnet.num_addresses - 3

    def _offsets(self, start: int):
        """Offsets 1..n-2 (network=0 and broadcast=n-1 excluded), from ``start`` round."""
        last = self.subnet.num_addresses - 2
        gw = int(self.gateway) - int(self.subnet.network_address)
        span = last
        for i in range(span):
            off = (start - 1 + i) % span + 1
            if off != gw:
                yield off

    # -- locking ---------------------------------------------------------------------
    def _locked(self) -> "_Lock":
        return _Lock(self.dir)

    # -- reading -----------------------------------------------------------------------
    def _scan(self) -> dict[str, str]:
        """{address: container_id} of every lease file (caller holds the lock or accepts races)."""
        out = {}
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return out
        for name in names:
            try:
                addr = ipaddress.IPv4Address(name)
            except ValueError:
                continue
            if addr not in self.subnet:
                continue
            try:
                with open(os.path.join(self.dir, name)) as f:
                    out[name] = f.read().strip()
            except FileNotFoundError:
                continue
        return out

    def leases(self) -> dict[str, str]:
        """{address: container_id} for every current lease."""
        return dict(sorted(self._scan().items(), key=lambda kv: ipaddress.IPv4Address(kv[0])))

    def lookup(self, container_id: str) -> ipaddress.IPv4Address | None:
        for addr, cid in self._scan().items():
            if cid == container_id:
                return ipaddress.IPv4Address(addr)
        return None

    # -- writing -----------------------------------------------------------------------
    def _write_lease(self, addr: ipaddress.IPv4Address, container_id: str) -> bool:
        """Create the lease file atomically; False if the address is taken."""
        tmp = os.path.join(self.dir, f".tmp-{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(container_id + "\n")
        try:
            os.link(tmp, os.path.join(self.dir, str(addr)))
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def _last(self) -> int:
        try:
            with open(os.path.join(self.dir, LAST)) as f:
                return int(ipaddress.IPv4Address(f.read().strip())) - int(self.subnet.network_address)
        except (OSError, ValueError):
            return 0

    def _set_last(self, addr: ipaddress.IPv4Address) -> None:
        path = os.path.join(self.dir, LAST)
        with open(path + ".new", "w") as f:
            f.write(f"{addr}\n")
        os.replace(path + ".new", path)

    def reserve(self, container_id: str, want: str | None = None) -> ipaddress.IPv4Address:
        """Lease an address to ``container_id`` (the same one again if it has one).

        ``want`` asks for a specific address (``--ip``); it must be free.
        Raises NetworkError when the subnet is exhausted.
        """
        check_id(container_id)
        with self._locked():
            taken = self._scan()
            for addr, cid in taken.items():
                if cid == container_id:
                    return ipaddress.IPv4Address(addr)
            if want is not None:
                return self._reserve_wanted(container_id, want, taken)
            base = int(self.subnet.network_address)
            for off in self._offsets(self._last() + 1):
                addr = ipaddress.IPv4Address(base + off)
                if str(addr) in taken:
                    continue
                if self._write_lease(addr, container_id):
                    self._set_last(addr)
                    return addr
        raise NetworkError(f"subnet {self.subnet} is exhausted ({self.size} addresses leased): "
                           "delete containers or run `pycontainer network gc`", stage="ipam",
                           errno=errno.ENOSPC)

    def _reserve_wanted(self, container_id, want, taken) -> ipaddress.IPv4Address:
        try:
            addr = ipaddress.IPv4Address(want)
        except ValueError:
            raise NetworkError(f"invalid address {want!r}", stage="ipam") from None
        off = int(addr) - int(self.subnet.network_address)
        if addr not in self.subnet or addr == self.gateway or off in (0, self.subnet.num_addresses - 1):
            raise NetworkError(f"address {addr} cannot be leased in {self.subnet} "
                               f"(outside, network, broadcast or gateway {self.gateway})", stage="ipam")
        if str(addr) in taken or not self._write_lease(addr, container_id):
            raise NetworkError(f"address {addr} is already leased to "
                               f"{taken.get(str(addr), 'another container')!r}", stage="ipam",
                               errno=errno.EADDRINUSE)
        return addr

    def release(self, container_id: str) -> list[str]:
        """Drop every lease of ``container_id``; tolerant: returns what was removed."""
        with self._locked():
            return self._remove(lambda cid: cid == container_id)

    def gc(self, live_ids) -> dict[str, str]:
        """Drop leases of containers not in ``live_ids`` and stale temp files.

        Returns {address: container_id} of what was reclaimed.
        """
        live = set(live_ids)
        with self._locked():
            gone = {a: c for a, c in self._scan().items() if c not in live}
            self._remove(lambda cid: cid not in live)
            for name in os.listdir(self.dir):
                if name.startswith(".tmp-"):   # a writer killed mid-lease (we hold the lock)
                    _unlink(os.path.join(self.dir, name))
            return gone

    def _remove(self, doomed) -> list[str]:
        removed = []
        for addr, cid in self._scan().items():
            if doomed(cid):
                _unlink(os.path.join(self.dir, addr))
                removed.append(addr)
        return removed


class _Lock:
    """``with``: an exclusive flock(2) on ``<dir>/lock`` (a class: contextlib is an import)."""

    __slots__ = ("dir", "fd")

    def __init__(self, directory: str):
        self.dir = directory

    def __enter__(self):
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            self.fd = os.open(os.path.join(self.dir, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                              0o600)
        except OSError as exc:
            raise NetworkError(f"open lease dir {self.dir!r}: {exc.strerror}; "
                               "run as root or set a writable state dir", stage="ipam",
                               errno=exc.errno) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise

    def __exit__(self, *exc) -> None:
        os.close(self.fd)   # closing drops the flock


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

