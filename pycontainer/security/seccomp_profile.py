"""seccomp profiles the docker way: docker's default profile and ``--security-opt seccomp=...``.

A docker-format profile (moby ``profiles/seccomp/default.json``, kept here
as ``seccomp_default.json``) is the OCI section plus rules that depend on
the container: ``archMap`` (the native architecture and its sub-ABIs) and,
per syscall, ``includes``/``excludes`` by capability, architecture and
kernel version. ``from_docker`` resolves them for a bounding set, as moby's
``setupSeccomp`` does, into the plain OCI ``linux.seccomp`` section that
config.json carries to the runtime (libseccomp.py compiles it, seccomp.py
loads it).
"""

from __future__ import annotations

import json
import os

from ..errors import SpecError

GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv8l": "arm", "i686": "x86",
           "i386": "x86", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
NATIVE = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
           "x86": "SCMP_ARCH_X86", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
           "riscv64": "SCMP_ARCH_RISCV64"}


OCI_FIELDS = ("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
               "listenerMetadata")


def default_profile_path() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_default.json")


def docker_default(bounding: list[str]) -> dict:
    """Docker's default profile (moby profiles/seccomp/default.json) for a container whose
    bounding set is ``bounding``, as the OCI section docker would write."""
    with open(default_profile_path()) as f:
        return from_docker(json.load(f), bounding)


def _kernel_at_least(text: str) -> bool:
    want = tuple(int(x) for x in text.split(".")[:2])
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= want


def from_docker(profile: dict, bounding: list[str]) -> dict:
    """A docker-format profile (archMap, includes/excludes by caps, arches, minKernel) ->
    the OCI section, with moby's rules (profiles/seccomp/seccomp_linux.go setupSeccomp)."""
    if not isinstance(profile, dict):
        raise SpecError("seccomp profile: must be a JSON object")
    if profile.get("architectures") and profile.get("archMap"):
        raise SpecError("seccomp profile: both 'architectures' and 'archMap' are given")
    arch = GOARCH.get(os.uname().machine, os.uname().machine)
    out = {k: v for k, v in profile.items() if k in OCI_FIELDS}
    native = NATIVE.get(arch)
    for a in profile.get("archMap") or []:
        if a.get("architecture") == native:
            out["architectures"] = [native] + list(a.get("subArchitectures") or [])
    caps = {("CAP_" + c.upper().removeprefix("CAP_")) for c in bounding}
    calls = []
    for call in profile.get("syscalls") or []:
        ex, inc = call.get("excludes") or {}, call.get("includes") or {}
        if arch in (ex.get("arches") or []) or any(c in caps for c in ex.get("caps") or []):
            continue
        if ex.get("minKernel") and _kernel_at_least(ex["minKernel"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if any(c not in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        rule = {k: v for k, v in call.items() if k not in ("includes", "excludes", "comment", "name")}
        if "name" in call and "names" not in call:
            rule["names"] = [call["name"]]
        calls.append(rule)
    out["syscalls"] = calls
    return out


def load_profile_file(path: str, bounding: list[str]) -> dict:
    """``--security-opt seccomp=FILE``: a docker-format or OCI-format profile -> OCI section."""
    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as exc:
        raise SpecError(f"--security-opt seccomp={path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SpecError(f"--security-opt seccomp={path}: not valid JSON: {exc}") from None
    return from_docker(profile, bounding)


def apply_choice(cfg: dict, choice: str = "default", *, privileged: bool = False) -> None:
    """docker run's seccomp rules on a config built by the porcelain or the Python API:
    docker's default profile for the container's bounding set ("default"), none
    ("unconfined", and "default" with ``--privileged``, as docker), or a profile file
    (docker's or OCI's format). securityopt.py parses ``--security-opt``."""
    if privileged and choice == "default":
        choice = "unconfined"
    linux = cfg.setdefault("linux", {})
    bounding = cfg.get("process", {}).get("capabilities", {}).get("bounding", [])
    if choice == "unconfined":
        linux.pop("seccomp", None)
    elif choice == "default":
        linux["seccomp"] = docker_default(bounding)
    else:
        linux["seccomp"] = load_profile_file(choice, bounding)
