"""Other engines for the benches, run privately and offline: dockerd and podman.

Both get everything under one temp dir and leave nothing behind; the image
comes from pycontainer's own store (``pycontainer save``, an OCI archive that
``docker load`` and ``podman load`` both read), so no registry is contacted.

* ``private_dockerd()``: Debian's dockerd (docker.io) with its own
  --data-root/--exec-root/socket/pidfile, ``--bridge=none --iptables=false
  --ip6tables=false --ip-forward=false --ip-masq=false``: it touches no
  network setting of the host. Stopped (SIGTERM, then SIGKILL) on exit, its
  directory removed, and the empty directories dockerd makes outside it
  (/run/docker, /run/containerd, /sys/fs/cgroup/*/docker) removed when it
  made them.
* ``private_podman()``: podman with its own containers.conf/storage.conf/
  registries.conf (cgroupfs, file locks and events, runc: crun refuses this
  host's hybrid cgroups); its mounts, storage and the ``libpod_parent``
  cgroups it made are removed on exit.

Used by sandbox.py (the docker SDK) and dockerform.py (the CLIs).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_image(image: str, tar: str, python: str = sys.executable) -> None:
    """``pycontainer save -o TAR IMAGE`` from this checkout's store."""
    subprocess.run([python, "-m", "pycontainer", "save", "-o", tar, image], check=True, cwd=REPO)


def _leaves(pattern_dirs):
    return {p for p in pattern_dirs if os.path.lexists(p)}


@contextlib.contextmanager
def private_dockerd(image: str | None = None):
    """-> the unix socket of a dockerd of our own (None when dockerd is not installed);
    ``image`` is loaded into it from pycontainer's store first."""
    if not shutil.which("dockerd"):
        print("dockerd not installed (apt-get install docker.io): docker part skipped", file=sys.stderr)
        yield None
        return
    leaves = ["/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd"] + \
        [os.path.join(h, "docker") for h in glob.glob("/sys/fs/cgroup/*")]
    before = _leaves(leaves)                                  # dockerd makes these and leaves them
    d = tempfile.mkdtemp(prefix="pyc-bench-dockerd-")
    sock = os.path.join(d, "docker.sock")
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(["dockerd", "--data-root", os.path.join(d, "data"), "--exec-root",
                             os.path.join(d, "exec"), "-H", "unix://" + sock, "--pidfile",
                             os.path.join(d, "pid"), "--bridge=none", "--iptables=false",
                             "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                             "--userland-proxy=false"], stdout=log, stderr=log,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.2)
        if image:
            tar = os.path.join(d, "image.tar")
            save_image(image, tar)
            subprocess.run(["docker", "-H", "unix://" + sock, "load", "-i", tar], check=True,
                           capture_output=True)
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)
        for p in leaves:                                      # ours only, and only when empty
            if p not in before and os.path.isdir(p) and not os.path.islink(p):
                try:
                    os.rmdir(p)
                except OSError:
                    pass


@contextlib.contextmanager
def private_podman(image: str | None = None):
    """-> a ``Podman`` with ``image`` loaded (podman finds ``busybox`` by its short name), or
    None when podman or runc is missing or the load failed (the reason on stderr)."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        print("podman (and runc) not installed: podman part skipped", file=sys.stderr)
        yield None
        return
    cgroups = "/sys/fs/cgroup/*/libpod_parent"
    before = set(glob.glob(cgroups))
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "tests", "integration"))
    from podmanenv import Podman          # the one the side-by-side tests use
    pm = Podman(tempfile.mkdtemp(prefix="pyc-bench-podman-"), timeout=120)
    try:
        ok = True
        if image:
            tar = os.path.join(pm.work, "image.tar")
            save_image(image, tar)
            p = pm("load", "-q", "-i", tar)
            if p.returncode != 0:
                print("podman load:", p.stderr.strip()[-300:], file=sys.stderr)
                ok = False
        yield pm if ok else None
    finally:
        pm.cleanup()
        for d in sorted(set(glob.glob(cgroups)) - before):     # podman's, made by this run only
            for sub in ("conmon", ""):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(d, sub) if sub else d)
