"""Real, unmodified clients drive pycontainer: podman, containerd, a registry, CNI.

The scripts live in tests/clients/scripts (see lib.sh there): podman.sh
(podman + conmon: run, exit codes, -it, preserve-fds, ports, exec, pause,
update, kill, stop, rm), containerd.sh (ctr run --runc-binary: run, exit
codes, -t, exec, ps, pause, signals, kill --all), registry.sh (Debian's
docker-registry fed by skopeo; pycontainer pulls OCI, schema2 and index
tags and runs them) and cni.sh (the reference CNI plugins by hand; a
pycontainer container joins their netns). Each installs its client from
Debian's packages, works in its own temp dir, cleans up, and ends with
PASS or FAIL naming the failed checks.

The runtime they drive is this checkout (a launcher written for the test
run, the same code ``python -m pycontainer`` runs here), not whatever
``pycontainer`` is on PATH.
"""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.root, pytest.mark.clients]
SCRIPTS = os.path.join(ROOT, "tests", "clients", "scripts")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> str:
    """An executable named pycontainer (podman keys its flags on the name) that runs this checkout."""
    path = tmp_path_factory.mktemp("bin") / "pycontainer"
    path.write_text(f"#!{sys.executable} -IS\n"
                    "import sys\n"
                    f"sys.path[0:0] = [{ROOT!r}] + {[p for p in sys.path if 'site-packages' in p]!r}\n"
                    "from pycontainer.entry import main\n"
                    "main()\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("script", ["podman.sh", "containerd.sh", "registry.sh", "cni.sh"])
def test_client_script_passes(script, runtime):
    env = dict(os.environ, PYC_PYTHON=sys.executable)
    p = subprocess.run(["bash", os.path.join(SCRIPTS, script), runtime], capture_output=True,
                       text=True, timeout=1500, env=env, stdin=subprocess.DEVNULL)
    last = (p.stdout.strip().splitlines() or [""])[-1]
    assert p.returncode == 0 and last.startswith("PASS"), \
        f"{script}: {last}\n--- stderr tail ---\n" + "\n".join(p.stderr.splitlines()[-40:])
