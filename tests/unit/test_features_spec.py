"""`pycontainer features` in the shape engines decode it.

containerd (shim `-info`, the CRI's runtime-handler introspection) and podman
unmarshal the output into runtime-spec's specs-go/features structs: a key
not in the spec is silently dropped, so a misspelt one is a feature the
engine never sees. containerd reads mountOptions ("rro"), linux.namespaces
("user") and linux.mountExtensions.idmap.enabled.
"""

import json
import subprocess
import sys

from conftest import ROOT

# runtime-spec features.md / features-linux.md (specs-go/features/features.go): key -> nested keys
SPEC = {
    "ociVersionMin": None, "ociVersionMax": None, "hooks": None, "mountOptions": None,
    "annotations": None, "potentiallyUnsafeConfigAnnotations": None,
    "linux": {
        "namespaces": None, "capabilities": None,
        "cgroup": {"v1": None, "v2": None, "systemd": None, "systemdUser": None, "rdma": None},
        "seccomp": {"enabled": None, "actions": None, "operators": None, "archs": None,
                    "knownFlags": None, "supportedFlags": None},
        "apparmor": {"enabled": None}, "selinux": {"enabled": None},
        "intelRdt": {"enabled": None, "schemata": None, "monitoring": None},
        "memoryPolicy": {"modes": None, "flags": None},
        "mountExtensions": {"idmap": {"enabled": None}},
        "netDevices": {"enabled": None},
    },
}


def _unknown(doc, spec, where=""):
    out = []
    for k, v in doc.items():
        if k not in spec:
            out.append(where + k)
        elif spec[k] is not None and isinstance(v, dict):
            out += _unknown(v, spec[k], where + k + ".")
    return out


def test_features_keys_are_the_specs_and_consistent():
    p = subprocess.run([sys.executable, "-m", "pycontainer", "features"], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert _unknown(f, SPEC) == []
    sc = f["linux"]["seccomp"]
    assert set(sc["supportedFlags"]) <= set(sc["knownFlags"])
    assert "SCMP_ARCH_X86_64" in sc["archs"] and sc["enabled"] is True
    # what containerd's CRI derives from it: no userns pods (no idmap mounts), no "rro"
    assert f["linux"]["mountExtensions"]["idmap"]["enabled"] is False
    assert "rro" not in f["mountOptions"]
