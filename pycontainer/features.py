"""``pycontainer features``: what this runtime supports, in runc's JSON shape
(opencontainers/runtime-spec features.md).

It lists exactly what pycontainer implements: a field it does not implement
is refused by ``spec.validate`` and marked ``enabled: false`` here (Intel
RDT, idmapped mounts, net devices, AppArmor, SELinux, the systemd cgroup
driver, seccomp notify).
"""

from __future__ import annotations

from . import capabilities, mounts, procattrs, spec
from .security import libseccomp, seccomp


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": list(spec.HOOK_KINDS),
        "mountOptions": sorted(set(mounts.FLAGS) | set(mounts.PROPAGATION)),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": sorted(capabilities.CAPS),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {"enabled": True,
                        "actions": sorted(a for a in libseccomp.ACTIONS if a != "SCMP_ACT_NOTIFY"),
                        "operators": sorted(libseccomp.OPS),
                        # runtime-spec features-linux.md names: containerd and podman
                        # decode into specs-go/features, which has no plain "flags"
                        "archs": sorted("SCMP_ARCH_" + a for a in libseccomp.ARCHES),
                        "knownFlags": sorted(seccomp.FLAGS),
                        "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                           "SECCOMP_FILTER_FLAG_TSYNC"]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "memoryPolicy": {"modes": sorted(procattrs.MPOL_MODES),
                             "flags": sorted(procattrs.MPOL_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": False}},
            "netDevices": {"enabled": False},
        },
        "annotations": {
            "org.pycontainer.network": "none|host|bridge|container:<id>|<netns path>",
        },
    }
