"""Image references: ``[registry[:port]/]repository[:tag][@sha256:digest]``.

The grammar is distribution's ``reference`` package (``reference.go``); the
normalisation is Docker's: a name without a registry is on Docker Hub
(``docker.io``), a one-component Hub name is under ``library/``, and a name
without tag or digest means ``:latest``. So ``busybox`` is
``docker.io/library/busybox:latest`` and ``localhost:5000/a/b`` is
``localhost:5000/a/b:latest``. Docker Hub's API host is
``registry-1.docker.io``.

Also here: this machine's platform in OCI terms (``linux/amd64``,
``linux/arm64/v8``), the image-spec ``platform`` object's vocabulary, which is
Go's ``GOARCH``.
"""

from __future__ import annotations

import re

from ..errors import ImageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST_RE = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                      r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|"
                      r"^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


class Reference:
    """An image reference, immutable (a plain class: importing dataclasses cost ~4 ms of
    every ``run IMAGE``)."""

    __slots__ = ("registry", "repository", "tag", "digest")

    def __init__(self, registry: str, repository: str, tag: str | None = None,
                 digest: str | None = None):
        set_ = object.__setattr__
        set_(self, "registry", registry)           # "docker.io", "localhost:5000"
        set_(self, "repository", repository)       # "library/busybox"
        set_(self, "tag", tag)                     # None only when a digest is given
        set_(self, "digest", digest)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}")

    def fields(self) -> tuple:
        return (self.registry, self.repository, self.tag, self.digest)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash(self.fields())

    def __repr__(self) -> str:
        return (f"Reference(registry={self.registry!r}, repository={self.repository!r}, "
                f"tag={self.tag!r}, digest={self.digest!r})")

    @property
    def name(self) -> str:
        """The canonical full name the store records: ``docker.io/library/busybox:latest``."""
        base = f"{self.registry}/{self.repository}"
        if self.tag:
            base += f":{self.tag}"
        if self.digest:
            base += f"@{self.digest}"
        return base

    @property
    def short(self) -> str:
        """The name as a person types it: ``busybox:latest``, ``localhost:5000/a:v1``."""
        return familiar(self.name)

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def remote(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest, else the tag."""
        return self.digest or self.tag or "latest"


def parse(ref: str) -> Reference:
    """Parse and normalise ``ref``; ``ImageError`` says what is wrong with it."""
    if not ref or len(ref) > 512 or ref != ref.strip():
        raise ImageError(f"invalid image reference {ref!r}")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ImageError(f"invalid image reference {ref!r}: digest must be sha256:<64 hex>")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ImageError(f"invalid image reference {ref!r}: bad tag {tag!r}")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, repo = first, remainder
        if not _HOST_RE.match(registry):
            raise ImageError(f"invalid image reference {ref!r}: bad registry {registry!r}")
        if registry == "index.docker.io":
            registry = DOCKER_HUB
    else:
        registry, repo = DOCKER_HUB, rest
    if registry == DOCKER_HUB and "/" not in repo:
        repo = "library/" + repo
    if not _REPO_RE.match(repo):
        raise ImageError(f"invalid image reference {ref!r}: repository must be lowercase "
                         "[a-z0-9] components separated by '/', '.', '_' or '-'")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, repo, tag, digest)


def familiar(name: str) -> str:
    """``docker.io/library/busybox:latest`` -> ``busybox:latest`` (Docker's display form)."""
    if name.startswith(DOCKER_HUB + "/"):
        name = name[len(DOCKER_HUB) + 1:]
        if name.startswith("library/"):
            name = name[len("library/"):]
    return name


def familiar_repository(name: str) -> str:
    """``docker.io/library/busybox:latest`` -> ``busybox``: the repository, as docker shows it."""
    r = parse(name)
    return familiar(f"{r.registry}/{r.repository}")


def is_digest(s: str) -> bool:
    return bool(_DIGEST_RE.match(s))


_ARCH = {"x86_64": ("amd64", ""), "aarch64": ("arm64", "v8"), "armv7l": ("arm", "v7"),
         "armv6l": ("arm", "v6"), "i686": ("386", ""), "i386": ("386", ""),
         "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


def host_platform() -> dict:
    """This machine as an image-spec platform: ``{"os": "linux", "architecture": "amd64"}``."""
    import os
    arch, variant = _ARCH.get(os.uname().machine, (os.uname().machine, ""))
    plat = {"os": "linux", "architecture": arch}
    if variant:
        plat["variant"] = variant
    return plat


def platform_of(value: str) -> dict:
    """``OS/ARCH[/VARIANT]`` (docker's --platform, the SDK's ``platform=``) -> an image-spec
    platform."""
    parts = str(value).split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(f"platform {value!r}: want OS/ARCH[/VARIANT], e.g. linux/arm64/v8")
    p = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        p["variant"] = parts[2]
    return p


def platform_str(p: dict) -> str:
    s = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
    return s + (f"/{p['variant']}" if p.get("variant") else "")
