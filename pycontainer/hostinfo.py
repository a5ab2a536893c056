"""What ``docker info`` and ``docker version`` say, for this runtime on this host.

Both are read, never kept: the kernel from uname(2), memory from
/proc/meminfo (proc(5)), the distribution from os-release(5), cgroups from
/proc/self/mountinfo (cgroups(7): cgroup2 alone is version 2), containers
and images counted from the runtime's own state and image store. The
shapes are docker's (its Engine API ``/info`` and ``/version``, the fields
a script or the docker SDK reads), so ``info --format '{{.NCPU}}'`` and the
API's ``Client.info()`` work as they do with docker.
"""

from __future__ import annotations

import os


def _os_name() -> str:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        return line.split("=", 1)[1].strip().strip('"')
        except OSError:
            continue
    return "Linux"


def mem_total() -> int:
    """MemTotal of /proc/meminfo, in bytes (0 if unreadable)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def version() -> dict:
    """docker's ``/version`` shape (the SDK's ``client.version()``)."""
    import platform

    from . import __version__
    from .image.reference import host_platform
    from .state import OCI_VERSION
    return {"Platform": {"Name": "pycontainer"}, "Version": __version__, "ApiVersion": "1.41",
            "Os": "linux", "Arch": host_platform()["architecture"], "KernelVersion": os.uname().release,
            "Components": [{"Name": "pycontainer", "Version": __version__,
                            "Details": {"OCIVersion": OCI_VERSION,
                                        "PythonVersion": platform.python_version()}}]}


def info(root: str, image_root: str | None = None) -> dict:
    """docker's ``/info`` shape: containers by state, images, the storage and cgroup drivers,
    the kernel, the OS, CPUs and memory."""
    import socket

    from . import __version__, cgroups
    from . import inspect as insp
    from .errors import PyContainerError
    states = []
    for cid in insp.list_ids(root):
        try:
            states.append(insp.record(root, cid)["State"]["Status"])
        except PyContainerError:
            continue                          # removed while we counted
    running = sum(s in ("running", "restarting") for s in states)
    paused = states.count("paused")
    from .image.store import Store
    store = Store(image_root)
    try:
        images = sum(1 for r in store.list() if not r["intermediate"])
    except (OSError, PyContainerError):
        images = 0
    mode = cgroups.detect()
    return {"ID": "", "Containers": len(states), "ContainersRunning": running,
            "ContainersPaused": paused, "ContainersStopped": len(states) - running - paused,
            "Images": images, "Driver": "overlay", "DockerRootDir": os.path.dirname(store.root),
            "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if mode == "unified" else "1",
            "KernelVersion": os.uname().release, "OperatingSystem": _os_name(), "OSType": "linux",
            "Architecture": os.uname().machine, "NCPU": os.cpu_count() or 1,
            "MemTotal": mem_total(), "Name": socket.gethostname(), "ServerVersion": __version__,
            "Runtimes": {"pycontainer": {"path": "pycontainer"}}, "DefaultRuntime": "pycontainer",
            "SecurityOptions": ["name=seccomp,profile=builtin"]
            + (["name=cgroupns"] if mode == "unified" else []),
            "CgroupMode": mode}
