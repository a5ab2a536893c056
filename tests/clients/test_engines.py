"""Real, unmodified engines drive pycontainer as their OCI runtime.

The recipes live in ../shared/clients (beside the checkout): podman.sh
(podman + conmon: run, exit codes, -it, preserve-fds, ports, exec, pause,
update, kill, stop, rm) and containerd.sh (ctr run --runc-binary: run,
exit codes, -t, exec, ps, pause, signals, kill --all). Each installs its
engine from Debian's packages, works in its own temp dir, cleans up, and
ends with PASS or FAIL naming the failed checks.
"""

import os
import shutil
import subprocess

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.root, pytest.mark.clients]
CLIENTS = os.path.join(os.path.dirname(ROOT), "shared", "clients")


def _runtime() -> str:
    for p in ("/usr/local/bin/pycontainer", shutil.which("pycontainer") or ""):
        if p and os.access(p, os.X_OK):
            return p
    pytest.skip("pycontainer is not installed (bash .ci/install.sh)")


@pytest.mark.parametrize("script", ["podman.sh", "containerd.sh"])
def test_engine_recipe_passes(script):
    path = os.path.join(CLIENTS, script)
    if not os.path.exists(path):
        pytest.skip(f"{path} not found (../shared beside the checkout)")
    env = dict(os.environ, PYC_QUIET="1")
    p = subprocess.run(["bash", path, _runtime()], capture_output=True, text=True, timeout=1500,
                       env=env, stdin=subprocess.DEVNULL)
    last = (p.stdout.strip().splitlines() or [""])[-1]
    assert p.returncode == 0 and last.startswith("PASS"), \
        f"{script}: {last}\n--- stderr tail ---\n" + "\n".join(p.stderr.splitlines()[-40:])
