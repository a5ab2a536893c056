"""``pycontainer features``: what this runtime supports, in runc's JSON shape
(opencontainers/runtime-spec features.md)."""

from __future__ import annotations

from . import capabilities, mounts, spec
from .security import seccomp


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
            "seccomp": {"enabled": True,
                        "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                                    "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                                      "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                        # runtime-spec features-linux.md names: containerd and podman
                        # decode into specs-go/features, which has no plain "flags"
                        "archs": sorted("SCMP_ARCH_" + a for a in seccomp.ARCHES),
                        "knownFlags": sorted(seccomp.FLAGS),
                        "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                           "SECCOMP_FILTER_FLAG_TSYNC"]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {
            "org.pycontainer.network": "none|host|bridge|container:<id>|<netns path>",
        },
    }
