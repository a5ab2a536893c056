"""How much an image may take: caps on its uncompressed size, and the disk's free space.

A layer is a compressed tar: a 1 MiB gzip stream can expand to 1 GiB of
zeros (a decompression bomb), and a pull onto a nearly full filesystem
fills it for every other user of that disk. Three configurable caps, read
from the environment of the process that pulls or loads:

``PYCONTAINER_MAX_LAYER_SIZE`` (default 64G)
    uncompressed bytes of one layer's tar stream;
``PYCONTAINER_MAX_IMAGE_SIZE`` (default 128G)
    uncompressed bytes of all the layers one pull or load unpacks;
``PYCONTAINER_STORE_RESERVE`` (default 32M)
    free space the image store's filesystem keeps: unpacking stops before
    ``statvfs(2)``'s ``f_bavail * f_frsize`` goes below it.

Sizes take a K, M, G or T suffix (powers of 1024). Crossing any of them is
an ``ImageError`` that names the layer; the store then removes everything
the pull or load had added (``Store.load``/``Store.pull``), so it is left
exactly as it was.

Also here: the filesystem type under a path (``/proc/self/mountinfo``,
proc(5)), for messages such as "the store is on overlayfs".
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..errors import ImageError, UnsafeArchiveError

ENV_LAYER, ENV_IMAGE, ENV_RESERVE = ("PYCONTAINER_MAX_LAYER_SIZE", "PYCONTAINER_MAX_IMAGE_SIZE",
                                     "PYCONTAINER_STORE_RESERVE")
CHECK_EVERY = 8 << 20          # statvfs once per 8 MiB of uncompressed data


@dataclass
class Limits:
    """Caps for one pull or load; ``image_used`` counts what it has unpacked so far."""

    max_entries: int = 1_000_000
    max_bytes: int = 64 << 30          # one layer, uncompressed tar stream
    max_image_bytes: int = 128 << 30   # every layer of the image, uncompressed
    reserve_bytes: int = 32 << 20     # free space left on the store's filesystem
    image_used: int = 0

    @classmethod
    def from_env(cls, env=None) -> "Limits":
        env = os.environ if env is None else env
        out = cls()
        for name, attr in ((ENV_LAYER, "max_bytes"), (ENV_IMAGE, "max_image_bytes"),
                           (ENV_RESERVE, "reserve_bytes")):
            if env.get(name):
                try:
                    setattr(out, attr, parse_size(env[name]))
                except ValueError:
                    raise ImageError(f"${name}={env[name]!r}: not a size (e.g. 512M, 8G)") from None
        return out


def parse_size(text: str) -> int:
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1024 ** ("KMGT".index(t[-1]) + 1)
        t = t[:-1]
    value = int(float(t) * mult)
    if value < 0:
        raise ValueError(text)
    return value


def human_size(n: float, binary: bool, precision: int = 4) -> str:
    """docker's go-units: HumanSize (1000s: ``2.14MB``) or BytesSize (``binary``: ``1.5GiB``)."""
    base, units = (1024, ("B", "KiB", "MiB", "GiB", "TiB")) if binary else \
        (1000, ("B", "kB", "MB", "GB", "TB"))
    for u in units:
        if n < base or u == units[-1]:
            return f"{n:.{precision}g}{u}" if u != "B" else f"{int(n)}B"
        n /= base
    return str(n)


def human(n: int) -> str:
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}iB"
    return f"{n} bytes"


def free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fs_type(path: str) -> str:
    """The type of the filesystem ``path`` is on ('overlay', 'ext4', ...), or ''."""
    try:
        dev = os.stat(path).st_dev
        want = f"{os.major(dev)}:{os.minor(dev)}"
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[2] == want and " - " in line:
                    return line.split(" - ", 1)[1].split()[0]
    except OSError:
        pass
    return ""


class CappedReader:
    """A read()-able wrapper that hashes and counts the uncompressed tar stream, and
    stops it at the caps of ``space.Limits`` (layer, image, free-space reserve)."""

    def __init__(self, raw, limits, label: str, dest: str = ""):
        self.raw, self.limits, self.label, self.dest = raw, limits, label, dest
        self.max_bytes = limits.max_bytes
        self.sha = hashlib.sha256()
        self.count = 0
        self._next_check = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.count += len(data)
            if self.count > self.max_bytes + (1 << 20):
                raise UnsafeArchiveError(
                    f"{self.label}: more than {self.max_bytes} uncompressed bytes; refused "
                    "(decompression bomb?); the cap is $PYCONTAINER_MAX_LAYER_SIZE")
            if self.count >= self._next_check:
                self._check_space()
            self.sha.update(data)
        return data

    def _check_space(self) -> None:
        self._next_check = self.count + CHECK_EVERY
        lim = self.limits
        if lim.image_used + self.count > lim.max_image_bytes + (1 << 20):
            raise ImageError(f"{self.label}: the image's layers are over "
                             f"{human(lim.max_image_bytes)} uncompressed; refused "
                             "(the cap is $PYCONTAINER_MAX_IMAGE_SIZE)")
        if self.dest and lim.reserve_bytes:
            try:
                free = free_bytes(self.dest)
            except OSError:
                return
            if free < lim.reserve_bytes:
                raise ImageError(f"{self.label}: unpacking it would leave less than "
                                 f"{human(lim.reserve_bytes)} free on the filesystem of "
                                 f"{self.dest} ({human(free)} left); free some space or "
                                 "lower $PYCONTAINER_STORE_RESERVE")

    def drain(self) -> None:
        """Read what follows the end-of-archive blocks, so the digest covers it all."""
        while self.read(1 << 20):
            pass


def layer_sharing(store, rows: list[dict]) -> tuple[dict, int]:
    """For ``rows`` (``Store.list``'s): ({manifest digest: bytes of its layers that another of
    them has too}, bytes of all their layers, each counted once): docker's SHARED SIZE
    (``system df -v``) and LayersSize (``/system/df``)."""
    layers = {r["digest"]: {x["digest"]: x.get("size", 0)
                            for x in store.read_json_blob(r["digest"])["layers"]} for r in rows}
    count: dict = {}
    sizes: dict = {}
    for mine in layers.values():
        for d, n in mine.items():
            count[d] = count.get(d, 0) + 1
            sizes[d] = n
    shared = {dg: sum(n for d, n in mine.items() if count[d] > 1) for dg, mine in layers.items()}
    return shared, sum(sizes.values())
