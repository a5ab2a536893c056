"""``pycontainer features``: what this runtime supports, in runc's JSON shape
(opencontainers/runtime-spec features.md)."""

from __future__ import annotations

from . import capabilities, mounts, spec


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": list(spec.HOOK_KINDS),
        "mountOptions": sorted(set(mounts._FLAGS) | set(mounts.PROPAGATION)),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": sorted(capabilities.CAPS),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {
            "org.pycontainer.network": "none|host|bridge|container:<id>|<netns path>",
        },
    }
