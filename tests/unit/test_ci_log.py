"""CI's log: .ci/test.sh keeps both lanes' pytest summaries and ends with one total line.

The VM lane's qemu (through virtme-ng) opens /proc/self/fd/1 and /proc/self/fd/2
as "file" chardevs, i.e. with O_TRUNC: when CI's stdout is a file, that emptied
it, and only the VM lane's summary survived. A stand-in vng does the same open
here (no VM is booted); the host lane runs a small real selection.
"""

import os
import subprocess
import sys

from conftest import ROOT

FAKE_VNG = """#!{python}
import os, sys
fd = os.open("/proc/self/fd/1", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)   # as qemu does
os.write(fd, {out!r})
sys.exit({code})
"""


def _ci(tmp_path, *selection, vng_out=b"", vng_code=0, vm=True):
    vng = tmp_path / "vng"
    vng.write_text(FAKE_VNG.format(python=sys.executable, out=vng_out, code=vng_code))
    vng.chmod(0o755)
    env = dict(os.environ, PYCONTAINER_SKIP_INSTALL="1", PYCONTAINER_VNG=str(vng),
               PYCONTAINER_PY=sys.executable)
    env.pop("PYCONTAINER_NO_VM", None)             # whatever the run of this suite was given
    if not vm:
        env["PYCONTAINER_NO_VM"] = "1"
    log = tmp_path / "ci.log"
    with open(log, "wb") as f:                     # a file, as CI's log is
        rc = subprocess.run(["bash", os.path.join(ROOT, ".ci", "test.sh"), *selection], stdout=f,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, env=env,
                            timeout=120).returncode
    return rc, log.read_text(errors="replace")


SMALL = ("tests/unit/test_core_units.py", "-k", "parse_signal and not rejects")


def test_both_summaries_survive_and_total_line(tmp_path):
    rc, log = _ci(tmp_path, *SMALL,
                  vng_out=b"guest: booted\r\n....\r\n24 passed, 1 skipped in 50.00s\r\n")
    lines = log.splitlines()
    assert rc == 0, log
    assert "=== lane: host ===" in lines                         # nothing before the VM lane was lost
    assert any(line.startswith("host: 6 passed") for line in lines), log
    assert any(line.startswith("cgroupv2-vm: 24 passed, 1 skipped") for line in lines), log
    assert lines[-1] == "total: 30 passed, 0 failed, 1 skipped"
    assert "\0" not in log


def test_a_lane_without_summary_or_tests_is_a_failure(tmp_path):
    rc, log = _ci(tmp_path, *SMALL, vng_out=b"kernel panic\r\n", vng_code=124)
    assert rc == 1
    assert "cgroupv2-vm: no pytest summary (exit 124)" in log
    assert log.splitlines()[-1] == "total: 6 passed, 1 failed, 0 skipped"
    rc, log = _ci(tmp_path, "tests/unit/test_core_units.py", "-k", "no_test_has_this_name", vm=False)
    assert rc == 1
    assert "host: collected no tests (exit 5)" in log
    assert log.splitlines()[-1] == "total: 0 passed, 1 failed, 0 skipped"


def test_a_lane_log_with_binary_bytes_keeps_its_summary(tmp_path):
    """grep without -a calls such a log "binary file matches" and prints no line: the lane
    was then counted as one failure without its tests (seen in a real host lane)."""
    rc, log = _ci(tmp_path, *SMALL, vng_out=b"\x00\x1b\xff noise\r\n24 passed in 50.00s\r\n")
    assert rc == 0, log
    assert any(line.startswith("cgroupv2-vm: 24 passed") for line in log.splitlines()), log
