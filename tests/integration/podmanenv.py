"""podman with a private root under one directory: its own containers.conf, storage.conf
and registries.conf (cgroupfs, file locks and events, runc: crun refuses this host's hybrid
cgroups; no network, no registry). Used by test_docker_vs_podman.py and bench/engines.py.
"""

import os
import shutil
import subprocess


class Podman:
    """``podman(*args)`` runs podman under ``work``; ``cleanup()`` removes its containers,
    volumes, storage and mounts, then ``work``."""

    def __init__(self, work: str, timeout: float = 60):
        self.work, self.timeout = work, timeout
        for d in ("root", "runroot", "tmp", "cni"):
            os.makedirs(os.path.join(work, d))
        with open(os.path.join(work, "containers.conf"), "w") as f:
            f.write(f"""[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
lock_type = "file"
tmp_dir = "{work}/tmp"
[network]
network_backend = "cni"
network_config_dir = "{work}/cni"
""")
        with open(os.path.join(work, "storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{work}/root"\n'
                    f'runroot = "{work}/runroot"\n')
        with open(os.path.join(work, "registries.conf"), "w") as f:
            f.write("unqualified-search-registries = []\n")
        self.env = dict(os.environ, CONTAINERS_CONF=f"{work}/containers.conf",
                        CONTAINERS_STORAGE_CONF=f"{work}/storage.conf",
                        CONTAINERS_REGISTRIES_CONF=f"{work}/registries.conf", TMPDIR=f"{work}/tmp")

    def __call__(self, *args, timeout: float | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout or self.timeout, stdin=subprocess.DEVNULL)

    def cleanup(self) -> None:
        self("rm", "-a", "-f", "-t", "0")
        self("volume", "rm", "-a", "-f")
        self("system", "reset", "-f")
        with open("/proc/self/mountinfo") as f:
            mine = [ln.split()[4] for ln in f if ln.split()[4].startswith(self.work + "/")]
        for m in sorted(mine, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
