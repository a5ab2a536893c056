"""After the seccomp filter is loaded, only the exec runs (issue 11 item 2, security.md S14).

An older docker-style allow-list (no close_range, openat2, faccessat2,
clone3, pidfd_*) stopped every container: ``close_range: Operation not
permitted``. Now the init and exec close their fds, chdir and set their
identity before the filter, and load it and exec in one C call
(``process/finalize.py``): what runs under the filter is ``execve`` of the
sealed dmz through /proc/self/fd/N, the dmz's ``execve`` of the program and,
if that fails, ``exit_group``. Each profile below is checked with ``run``,
``create`` + ``start`` and ``exec``, and the program's exit status must come
back.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import new_id
from _helpers import docker_seccomp

pytestmark = pytest.mark.root

# What a static busybox (Debian's busybox-static, glibc) needs for `true`,
# `false` and `sleep` (strace), and what the runtime needs after the load.
BUSYBOX = ["arch_prctl", "brk", "clock_nanosleep", "getrandom", "getuid", "mprotect", "prctl",
           "prlimit64", "readlink", "rseq", "set_robust_list", "set_tid_address", "nanosleep"]
RUNTIME = ["execve", "exit_group"]
OLD_DOCKER_MISSING = ["close_range", "openat2", "faccessat2", "clone3", "pidfd_open",
                      "pidfd_getfd", "pidfd_send_signal"]


def minimal(default: str = "SCMP_ACT_ERRNO") -> dict:
    return {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": RUNTIME + BUSYBOX, "action": "SCMP_ACT_ALLOW"}]}


def old_docker() -> dict:
    prof = docker_seccomp()
    for rule in prof["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in OLD_DOCKER_MISSING]
    prof["syscalls"] = [r for r in prof["syscalls"] if r["names"]]
    return prof


PROFILES = {
    "minimal-errno": (minimal, True),
    "kill-default": (lambda: minimal("SCMP_ACT_KILL"), True),
    "kill-process-default": (lambda: minimal("SCMP_ACT_KILL_PROCESS"), True),
    "old-docker-nnp": (old_docker, True),
    "old-docker-no-nnp": (old_docker, False),
}


def _configure(bundle, name: str, args) -> None:
    make, nnp = PROFILES[name]
    bundle.config["linux"]["seccomp"] = make()
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.config["process"]["args"] = list(args)
    bundle.write()


def _wait_stopped(cli, cid: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cli.state(cid)["status"] == "stopped":
            return
        time.sleep(0.05)
    raise AssertionError(f"{cid} still {cli.state(cid)['status']}")


@pytest.mark.parametrize("name", list(PROFILES))
def test_run_exits_with_the_programs_status(cli, bundle, leakcheck, name):
    for prog, code in ((["true"], 0), (["false"], 1)):
        _configure(bundle, name, prog)
        p = cli("run", "--bundle", bundle.path, new_id("sct"))
        assert p.returncode == code, (name, prog, p.stderr)
        assert "close_range" not in p.stderr and "Operation not permitted" not in p.stderr, p.stderr


@pytest.mark.parametrize("name", list(PROFILES))
def test_create_start_runs_under_the_filter(cli, bundle, leakcheck, name):
    _configure(bundle, name, ["sleep", "0.3"])
    cid = new_id("scc")
    cli.create(cid, bundle.path, check=True)
    try:
        pid = cli.state(cid)["pid"]
        cli("start", cid, check=True)
        # start returns once the init has the go (as runc's does, its exec.fifo read); the
        # init then loads the filter and execs: read the status once it is the program
        deadline = time.monotonic() + 5
        while True:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
            if status.startswith("Name:\tsleep\n") or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        assert "Seccomp:\t2" in status, status
        _wait_stopped(cli, cid)
        cli("delete", cid, check=True)
    finally:
        cli("delete", "--force", cid)


@pytest.mark.parametrize("name", list(PROFILES))
def test_exec_exits_with_the_programs_status(cli, bundle, leakcheck, name):
    _configure(bundle, name, ["sleep", "30"])
    cid = new_id("sce")
    cli("run", "-d", "--bundle", bundle.path, cid, check=True)
    for prog, code in ((["true"], 0), (["false"], 1), (["sleep", "0.1"], 0)):
        p = cli("exec", cid, *prog)
        assert p.returncode == code, (name, prog, p.stderr)
    cli("delete", "--force", cid, check=True)


def test_dmz_needs_only_execve_and_exit_group(cli, bundle, leakcheck):
    """The runtime's own part after the load, alone: a KILL filter that allows only
    execve and exit_group (the dmz's exit status for a missing program is 127, so
    even the failure path needs nothing else), and a program that exits at once."""
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_KILL",
                                         "syscalls": [{"names": RUNTIME, "action": "SCMP_ACT_ALLOW"}]}
    bundle.config["process"]["noNewPrivileges"] = True
    # busybox dies of SIGSYS at its first own call (arch_prctl): 128+31 proves the
    # dmz and the program's execve both ran under the KILL filter.
    bundle.config["process"]["args"] = ["true"]
    bundle.write()
    p = cli("run", "--bundle", bundle.path, new_id("scd"))
    assert p.returncode == 128 + 31, p.stderr
    bundle.config["linux"]["seccomp"]["syscalls"][0]["names"] = RUNTIME + BUSYBOX
    bundle.write()
    p = cli("run", "--bundle", bundle.path, new_id("scd"))
    assert p.returncode == 0, p.stderr


def test_default_profile_unaffected(cli, bundle, leakcheck):
    bundle.config["linux"]["seccomp"] = docker_seccomp()
    bundle.config["process"]["args"] = ["sh", "-c", "grep -q 'Seccomp:.2' /proc/self/status && exit 7"]
    bundle.write()
    assert cli("run", "--bundle", bundle.path, new_id("scp")).returncode == 7
    json.dumps(bundle.config)
