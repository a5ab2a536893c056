"""The labs' reference solutions pass their checks; the unsolved exercises fail them.

Each lab's ``check`` looks at the result from outside (ns inodes, mountinfo,
cgroup files, ``ip``, ``nft``). Labs that need a pure cgroup v2 hierarchy exit
77 here (hybrid host) and are skipped with the reason; tests/vm/test_labs.py
runs them all on the cgroup v2 VM lane.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

LABS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "labs")
ALL = sorted(d for d in os.listdir(LABS) if d[:2].isdigit())

pytestmark = pytest.mark.root


def _lab_processes(lab: str) -> list[int]:
    mine = os.path.join(LABS, lab, "lab.py")
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mine.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def run_check(lab: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    r = subprocess.run([os.path.join(LABS, lab, "check"), *args], capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, PYTHON=sys.executable))
    assert _lab_processes(lab) == [], f"{lab}: lab.py processes left behind"
    assert not os.path.exists("/run/pycontainer-lab12") or os.listdir("/run/pycontainer-lab12") == []
    return r


@pytest.mark.parametrize("lab", ALL)
def test_reference_solution_passes(lab):
    r = run_check(lab, "--solution")
    if r.returncode == 77:
        pytest.skip(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("lab", [l for l in ALL if not l.startswith("11-")])
def test_unsolved_exercise_fails_with_a_hint(lab):
    r = run_check(lab)
    if r.returncode == 77:
        pytest.skip(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "TODO" in r.stdout, r.stdout


def test_every_lab_has_its_parts():
    assert len(ALL) >= 10
    for lab in ALL:
        d = os.path.join(LABS, lab)
        for part in ("README.md", "check", "solution"):
            assert os.path.exists(os.path.join(d, part)), f"{lab} has no {part}"
        assert os.access(os.path.join(d, "check"), os.X_OK)
