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
    from .resources import _device_rule
    out = [("deny", "a")]
    for i, d in enumerate(spec_rules):
        rule = _device_rule(d, i)
        if rule == "a" and not d["allow"] and out[-1] == ("deny", "a"):
            continue                      # the spec's usual leading deny-all
        out.append(("allow" if d["allow"] else "deny", rule))
    out.extend(("allow", r) for r in DEFAULT_ALLOW)
    return out
