"""The v1 device cgroup: which device nodes the container may open or mknod.

Documentation/admin-guide/cgroup-v1/devices.rst: writing ``a`` to
``devices.deny`` empties the allow list, then each ``devices.allow`` line
``type major:minor access`` (type a/b/c, ``*`` for any number, access from
``rwm``: read, write, mknod) adds one entry. A container gets deny-all, then
the rules from config.json, then the default allow list runc and Docker give
every container (the standard character devices, /dev/pts, ptmx, and mknod of
anything, since a node is harmless without read/write). Cgroup v2 has no such
files: there the kernel asks an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE).
"""

from __future__ import annotations

from ..errors import CgroupError

# runc libcontainer/specconv AllowedDevices, in v1 syntax.
DEFAULT_ALLOW = (
    "c *:* m",        # mknod any char device
    "b *:* m",        # mknod any block device
    "c 1:3 rwm",      # /dev/null
    "c 1:8 rwm",      # /dev/random
    "c 1:7 rwm",      # /dev/full
    "c 5:0 rwm",      # /dev/tty
    "c 1:5 rwm",      # /dev/zero
    "c 1:9 rwm",      # /dev/urandom
    "c 136:* rwm",    # /dev/pts/*
    "c 5:2 rwm",      # /dev/ptmx
)


def v1_rules(spec_rules: list) -> list[tuple[str, str]]:
    """[("deny"|"allow", rule)] to write in order: deny-all, the spec's, defaults."""
    out = [("deny", "a")]
    for i, d in enumerate(spec_rules):
        r = rule(d, i)
        if r == "a" and not d["allow"] and out[-1] == ("deny", "a"):
            continue                      # the spec's usual leading deny-all
        out.append(("allow" if d["allow"] else "deny", r))
    out.extend(("allow", r) for r in DEFAULT_ALLOW)
    return out


def rule(d, i: int) -> str:
    """Validate ``linux.resources.devices[i]``; return its v1 form 'c 1:3 rwm' (or 'a')."""
    where = f"devices[{i}]"
    if not isinstance(d, dict) or not isinstance(d.get("allow"), bool):
        raise _bad(where, d, "needs \"allow\": true/false")
    typ = d.get("type") or "a"
    if typ not in ("a", "b", "c"):
        raise _bad(f"{where}.type", typ, "is not a, b or c")
    access = d.get("access") or "rwm"
    if not isinstance(access, str) or not access or set(access) - set("rwm"):
        raise _bad(f"{where}.access", access, "is not made of r, w, m")
    nums = []
    for k in ("major", "minor"):
        v = d.get(k)
        if v is None or v == -1:
            nums.append("*")
        elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _bad(f"{where}.{k}", v, "is not a device number (or -1/null for any)")
        else:
            nums.append(str(v))
    if typ == "a":
        return "a"
    return f"{typ} {nums[0]}:{nums[1]} {access}"


def _bad(field: str, value, why: str) -> CgroupError:
    return CgroupError(f"linux.resources.{field}: {value!r} {why}", stage="cgroup")
