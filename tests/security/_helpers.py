"""Shared pieces of tests/security: the probe binary, host-file guards, one-line errors.

Each test here is named after the CVE or class it proves (security.md ids in
the docstrings) and checks the effect from the host: /proc/PID/status,
hashes of host files, the host's mountinfo (the ``leakcheck`` fixture), the
state of decoys under the test's tmp dir. Attacks aim at decoys; the one
host file an attack could reach (/proc/sys/kernel/core_pattern) is read
before and compared after by ``host_files``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GUARDED = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/fs/binfmt_misc/status")


def one_line_error(p, *needles):
    assert p.returncode != 0, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


@pytest.fixture
def host_files():
    """Host files an escape would write: their contents before == after."""
    before = {p: _read(p) for p in GUARDED}
    yield before
    for p, v in before.items():
        assert _read(p) == v, f"host file {p} changed"


@pytest.fixture(scope="session")
def probe_bin(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed: the syscall probe cannot be built")
    out = str(tmp_path_factory.mktemp("probe") / "probe")
    r = subprocess.run(["gcc", "-static", "-O2", "-o", out, os.path.join(HERE, "probe.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build the static probe (libc6-dev?): {r.stderr.strip()[:200]}")
    return out


@pytest.fixture
def probe(bundle, probe_bin):
    """The probe copied into the bundle's rootfs as /bin/probe."""
    dst = os.path.join(bundle.rootfs, "bin", "probe")
    shutil.copy(probe_bin, dst)
    os.chmod(dst, 0o755)
    return "/bin/probe"


def runtime_files() -> dict[str, str]:
    """The host files whose code runs inside a container's namespaces, with their hashes."""
    import glob
    import pycontainer
    pkg = os.path.dirname(pycontainer.__file__)
    files = [os.path.realpath(sys.executable)]
    files += glob.glob(os.path.join(pkg, "_native*.so")) + glob.glob(os.path.join(pkg, "_nscalls*.so"))
    with open("/proc/self/maps") as f:
        files += sorted({ln.split()[-1] for ln in f if "libpython" in ln})
    return {p: sha256(p) for p in files if os.path.isfile(p)}


def docker_seccomp(caps=None) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    from pycontainer.security import seccomp_profile as seccomp
    from pycontainer.spec import DEFAULT_CAPS
    return seccomp.docker_default(caps or DEFAULT_CAPS)
