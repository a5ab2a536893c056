"""The CDI specs of a host: which directories, which devices, which conflicts.

As the reference cache (pkg/cdi/cache.go, spec-dirs.go): specs are read from
``/etc/cdi`` then ``/var/run/cdi``; a spec in a later directory has the
higher priority, so its device wins over one of the same name in an earlier
directory, while two specs of the same priority that define the same device
are a conflict and that device is not offered at all ("conflicting device
... (specs ..., ...)"). The directories can be replaced with the global
``--cdi-spec-dir DIR`` (repeatable, podman's name) or the environment
variable ``PYCONTAINER_CDI_SPEC_DIRS`` (``:``-separated).
"""

from __future__ import annotations

import os

from ..errors import DeviceError
from . import spec as cdispec

DEFAULT_DIRS = ("/etc/cdi", "/var/run/cdi")
ENV = "PYCONTAINER_CDI_SPEC_DIRS"


def spec_dirs(dirs=None) -> list[str]:
    """The spec directories, lowest priority first."""
    if dirs:
        return [str(d) for d in dirs]
    env = os.environ.get(ENV)
    if env:
        return [d for d in env.split(":") if d]
    return list(DEFAULT_DIRS)


class Registry:
    """Every spec under ``dirs``: ``specs``, ``devices`` {qualified name: (Spec, raw
    device)}, ``errors`` {file: one-line message}, ``conflicts`` {name: message}."""

    def __init__(self, dirs=None):
        self.dirs = spec_dirs(dirs)
        self.specs: list[cdispec.Spec] = []
        self.devices: dict[str, tuple] = {}
        self.errors: dict[str, str] = {}
        self.conflicts: dict[str, str] = {}
        for prio, d in enumerate(self.dirs):
            for path in cdispec.spec_files(d):
                try:
                    self.specs.append(cdispec.read(path, prio))
                except DeviceError as exc:
                    self.errors[path] = str(exc)
        for s in self.specs:
            for name, dev in s.devices.items():
                q = s.qualified(name)
                old = self.devices.get(q)
                if old is None:
                    if q not in self.conflicts:
                        self.devices[q] = (s, dev)
                elif old[0].priority < s.priority:
                    self.devices[q] = (s, dev)
                elif old[0].priority == s.priority:
                    self.conflicts[q] = (f"conflicting device {q!r} (specs {old[0].path!r}, "
                                         f"{s.path!r})")
                    del self.devices[q]

    def kinds(self) -> set[str]:
        return {s.kind for s in self.specs}

    def names(self) -> list[str]:
        return sorted(self.devices)

    def check(self) -> None:
        """Raise the first broken spec's error (a run must not guess past one)."""
        for path in sorted(self.errors):
            raise DeviceError(self.errors[path])

    def resolve(self, names: list[str]) -> list[tuple]:
        """Qualified names -> [(Spec, raw device)] in request order (duplicates once)."""
        self.check()
        out, seen = [], set()
        for n in names:
            try:
                cdispec.parse_qualified(n)
            except ValueError as exc:
                raise DeviceError(f"--device {n}: {exc}") from None
            if n in seen:
                continue
            seen.add(n)
            if n in self.conflicts:
                raise DeviceError(f"CDI device {n}: {self.conflicts[n]}")
            if n not in self.devices:
                where = ", ".join(self.dirs) or "no spec directory"
                raise DeviceError(f"unresolvable CDI device {n!r}: no spec in {where} defines it"
                                  + (f" (known: {', '.join(self.names())})" if self.devices else ""))
            out.append(self.devices[n])
        return out

    def stale(self) -> list[str]:
        """One line per spec whose device nodes are gone from the host (old driver)."""
        out = []
        for s in self.specs:
            edits = [s.raw.get("containerEdits") or {}] + \
                [d.get("containerEdits") or {} for d in s.devices.values()]
            missing = sorted({n.get("hostPath") or n["path"] for e in edits
                              for n in e.get("deviceNodes") or []
                              if not os.path.exists(n.get("hostPath") or n["path"])})
            if missing:
                out.append(f"{s.path}: device node(s) {', '.join(missing)} do not exist "
                           f"(a stale spec? regenerate it, e.g. pycontainer cdi generate)")
        return out
