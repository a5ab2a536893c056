"""A CDI spec for the NVIDIA GPUs of this host, made from what the host has.

What ``nvidia-ctk cdi generate`` (NVIDIA Container Toolkit) writes, without
the toolkit: the kernel driver makes ``/dev/nvidia<minor>`` per GPU and the
shared nodes ``/dev/nvidiactl``, ``/dev/nvidia-uvm``, ``/dev/nvidia-uvm-tools``,
``/dev/nvidia-modeset`` and ``/dev/nvidia-caps/*``; it describes each GPU in
``/proc/driver/nvidia/gpus/<pci>/information`` (``Device Minor``, ``GPU UUID``).
The user-space driver (``libcuda.so.*``, ``libnvidia-*.so.*``) is found in the
loader cache (``ldconfig -p``, ld.so(8)) or the driver directory
(``/usr/local/nvidia``), the tools (``nvidia-smi`` ...) on PATH or there.
The libraries and tools are bind-mounted read-only, and a createContainer
hook runs ``ldconfig -r ROOTFS DIR...`` so the container's loader finds them.
Devices are named by index (``0``..``N-1``), by UUID, and ``all``.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

from ..errors import DeviceError

DRIVER_DIRS = ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib")
BIN_DIRS = ("/usr/local/nvidia/bin",)
LIB_RE = re.compile(r"^(libcuda|libcudadebugger|libnvidia-[a-z0-9_-]+|libnvcuvid|libnvoptix|"
                    r"libEGL_nvidia|libGLX_nvidia|libGLESv[12]_CM_nvidia|libGLESv2_nvidia)\.so\.[0-9.]+$")
BINARIES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
            "nvidia-cuda-mps-server")
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")

# The createContainer hook: state on stdin -> the rootfs -> ldconfig -r there.
LDCONFIG_HOOK = (
    "import json,os,subprocess,sys\n"
    "s=json.load(sys.stdin);b=s['bundle']\n"
    "c=json.load(open(os.path.join(b,'config.json')))\n"
    "r=os.path.join(b,c['root']['path'])\n"
    "ld=next((p for p in ('/sbin/ldconfig','/usr/sbin/ldconfig') if os.path.exists(p)),None)\n"
    "if ld and os.path.isdir(os.path.join(r,'etc')):\n"
    " subprocess.run([ld,'-r',r]+sys.argv[1:],stderr=subprocess.DEVNULL)\n")


def gpus(dev: str = "/dev", proc: str = "/proc/driver/nvidia") -> list[dict]:
    """[{index, minor, uuid, node}] in PCI order (nvidia-smi's index order)."""
    out = []
    for info in sorted(glob.glob(os.path.join(proc, "gpus", "*", "information"))):
        fields = {}
        with open(info) as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k.strip()] = v.strip()
        if fields.get("Device Minor", "").isdigit():
            m = int(fields["Device Minor"])
            out.append({"minor": m, "uuid": fields.get("GPU UUID", ""),
                        "node": os.path.join(dev, f"nvidia{m}")})
    if not out:                         # no /proc/driver/nvidia: the nodes alone
        for p in glob.glob(os.path.join(dev, "nvidia[0-9]*")):
            n = os.path.basename(p)[len("nvidia"):]
            if n.isdigit():
                out.append({"minor": int(n), "uuid": "", "node": p})
        out.sort(key=lambda g: g["minor"])
    for i, g in enumerate(out):
        g["index"] = i
    return out


def libraries(ldcache: str | None = None, driver_dirs=DRIVER_DIRS) -> list[str]:
    """The driver's versioned libraries: the loader cache, else the driver directory."""
    if ldcache is None:
        try:
            ldcache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                                     env={"PATH": "/sbin:/usr/sbin:/bin:/usr/bin"}).stdout
        except OSError:
            ldcache = ""
    found = {}
    for line in ldcache.splitlines():
        left, arrow, path = line.partition("=>")
        if arrow and "," in left.rpartition("(")[2]:       # "(libc6,x86-64)": 64-bit only
            path = path.strip()
            real = os.path.realpath(path)
            if LIB_RE.match(os.path.basename(real)):
                found[real] = True
    for d in driver_dirs:
        for p in sorted(glob.glob(os.path.join(d, "*.so.*"))):
            if LIB_RE.match(os.path.basename(p)) and not os.path.islink(p):
                found[p] = True
    return sorted(found)


def binaries(bin_dirs=BIN_DIRS) -> list[str]:
    path = os.environ.get("PATH", "/usr/bin:/bin").split(":") + list(bin_dirs)
    out = []
    for name in BINARIES:
        for d in path:
            p = os.path.join(d, name)
            if d and os.path.isfile(p) and os.access(p, os.X_OK):
                out.append(os.path.realpath(p))
                break
    return out


def generate(dev: str = "/dev", proc: str = "/proc/driver/nvidia", ldcache: str | None = None,
             driver_dirs=DRIVER_DIRS, bin_dirs=BIN_DIRS) -> dict:
    """The spec (a dict), or DeviceError when the host has no NVIDIA GPU."""
    found = gpus(dev, proc)
    if not found:
        raise DeviceError(f"cdi generate --vendor nvidia: no NVIDIA GPU on this host "
                          f"({dev}/nvidia0 ... and {proc}/gpus are missing)")
    control = [os.path.join(dev, n) for n in CONTROL_NODES if os.path.exists(os.path.join(dev, n))]
    control += sorted(p for p in glob.glob(os.path.join(dev, "nvidia-caps", "*")))
    libs = libraries(ldcache, driver_dirs)
    mounts = [{"hostPath": p, "containerPath": p, "options": ["ro", "nosuid", "nodev", "bind"]}
              for p in libs]
    mounts += [{"hostPath": p, "containerPath": "/usr/bin/" + os.path.basename(p),
                "options": ["ro", "nosuid", "nodev", "bind"]} for p in binaries(bin_dirs)]
    edits: dict = {"deviceNodes": [{"path": p} for p in control], "mounts": mounts,
                   "env": ["NVIDIA_VISIBLE_DEVICES=void"]}
    lib_dirs = sorted({os.path.dirname(p) for p in libs})
    if lib_dirs:
        edits["hooks"] = [{"hookName": "createContainer", "path": sys.executable,
                           "args": [os.path.basename(sys.executable), "-I", "-c", LDCONFIG_HOOK]
                           + lib_dirs}]
    devices = []
    for g in found:
        node = {"deviceNodes": [{"path": g["node"]}]}
        devices.append({"name": str(g["index"]), "containerEdits": node})
        if g["uuid"]:
            devices.append({"name": g["uuid"], "containerEdits": node})
    devices.append({"name": "all", "containerEdits": {
        "deviceNodes": [{"path": g["node"]} for g in found]}})
    return {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "containerEdits": edits,
            "devices": devices}
