"""The porcelain next to podman on the same image (issue 15): the same commands, the same
exit codes and key outputs.

podman runs with a private root under a temp dir (its own containers.conf, storage.conf,
registries.conf; cgroup_manager cgroupfs, file locks and events; runc, since crun refuses
this host's hybrid cgroups), and the image is ``pycontainer save busybox`` loaded into it.
Every container is ``--network none``: no traffic at all. podman's cgroups
(``libpod_parent``) are removed afterwards when this test made them. Skipped, with the
reason, where podman cannot run a container here.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, new_id
from podmanenv import Podman

pytestmark = pytest.mark.root

IMG = "docker.io/library/busybox:latest"


def _cgroups_libpod() -> set:
    import glob
    return set(glob.glob("/sys/fs/cgroup/*/libpod_parent"))


@pytest.fixture(scope="module")
def podman():
    if shutil.which("podman") is None or shutil.which("runc") is None:
        pytest.skip("podman (and runc) not installed: apt-get install podman")
    before = _cgroups_libpod()
    pm = Podman(tempfile.mkdtemp(prefix="pyc-podman-cmp."))
    try:
        tar = os.path.join(pm.work, "busybox.tar")
        import sys
        p = subprocess.run([sys.executable, "-m", "pycontainer", "save", "-o", tar, "busybox"],
                           capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            pytest.skip(f"pycontainer save busybox: {p.stderr.strip()}")
        p = pm("load", "-i", tar)
        if p.returncode != 0:
            pytest.skip(f"podman load: {p.stderr.strip()[-200:]}")
        p = pm("run", "--rm", "--pull", "never", IMG, "true")
        if p.returncode != 0:
            pytest.skip(f"podman cannot run a container here: {p.stderr.strip()[-200:]}")
        yield pm
    finally:
        pm.cleanup()
        for d in sorted(_cgroups_libpod() - before):
            for sub in ("conmon", ""):
                try:
                    os.rmdir(os.path.join(d, sub) if sub else d)
                except OSError:
                    pass


def _columns(header: str) -> list[str]:
    return [c for c in re.split(r"\s{2,}", header.strip()) if c]


@pytest.mark.parametrize("cmd, code", [
    (["true"], 0), (["sh", "-c", "exit 3"], 3), (["/etc/passwd"], 126), (["/nonexistent"], 127)])
def test_run_exit_codes_match(cli, podman, cmd, code):
    ours = cli("run", "--rm", "--net", "none", "busybox", *cmd)
    theirs = podman("run", "--rm", "--pull", "never", IMG, *cmd)
    assert (ours.returncode, theirs.returncode) == (code, code), (ours.stderr, theirs.stderr)


def test_engine_error_is_125_in_both(cli, podman):
    ours = cli("run", "--rm", "--no-such-flag", "busybox", "true")
    theirs = podman("run", "--rm", "--no-such-flag", IMG, "true")
    assert ours.returncode == theirs.returncode == 125


def test_a_foreground_containers_logs_match(cli, podman):
    # not detached: docker and podman keep the output of these too
    name = new_id()
    script = "echo o1; echo e1 >&2; echo o2; exit 2"
    ours = cli("run", "--net", "none", "--name", name, "busybox", "sh", "-c", script)
    theirs = podman("run", "--pull", "never", "--name", name, IMG, "sh", "-c", script)
    try:
        assert ours.returncode == theirs.returncode == 2
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr) == ("o1\no2\n", "e1\n")
        o, t = cli("logs", name), podman("logs", name)
        assert (o.stdout, o.stderr) == (t.stdout, t.stderr) == ("o1\no2\n", "e1\n")
    finally:
        cli("rm", "-f", name)
        podman("rm", "-f", name)


def test_create_then_start_attach_match(cli, podman):
    name = new_id()
    script = "echo o1; echo e1 >&2; exit 4"
    try:
        assert cli("create", "--net", "none", "--name", name, "busybox", "sh", "-c", script).returncode == 0
        assert podman("create", "--pull", "never", "--name", name, IMG, "sh", "-c", script).returncode == 0
        fmt = "{{.State.Status}}"
        assert cli("inspect", "--format", fmt, name).stdout == podman("inspect", "--format", fmt, name).stdout \
            == "created\n"
        ours, theirs = cli("start", "-a", name), podman("start", "-a", name)
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr) == (4, "o1\n", "e1\n")
        ours, theirs = cli("container", "ls", "-a"), podman("container", "ls", "-a")
        assert name in ours.stdout and name in theirs.stdout
    finally:
        cli("rm", "-f", name)
        podman("rm", "-f", name)


def test_ps_inspect_logs_match(cli, podman):
    name = new_id()
    # (two pipes: the order *between* stdout and stderr is whatever the reader saw first, in
    # podman's conmon as in our monitor; the pause makes the tail's order deterministic)
    script = "echo o1; echo e1 >&2; echo o2; echo e2 >&2; sleep 0.3; i=0; " \
             "while [ $i -lt 30 ]; do echo n$i; i=$((i+1)); done"
    assert cli("run", "-d", "--net", "none", "--name", name, "busybox", "sh", "-c", script).returncode == 0
    assert podman("run", "-d", "--pull", "never", "--name", name, IMG, "sh", "-c", script).returncode == 0
    try:
        assert cli("wait", name).stdout.strip() == "0"
        assert podman("wait", name).stdout.strip() == "0"
        # inspect --format
        fmt = "{{.State.Status}} {{.State.ExitCode}}"
        assert cli("inspect", "--format", fmt, name).stdout.strip() == \
            podman("inspect", "--format", fmt, name).stdout.strip() == "exited 0"
        # logs: each stream in its order, and the lines of one stream in order
        ours, theirs = cli("logs", name), podman("logs", name)
        assert ours.stdout.split() == theirs.stdout.split() == \
            ["o1", "o2"] + [f"n{i}" for i in range(30)]
        assert ours.stderr.split() == theirs.stderr.split() == ["e1", "e2"]
        o, t = cli("logs", "--tail", "2", name), podman("logs", "--tail", "2", name)
        assert (o.stdout.split(), o.stderr.split()) == (t.stdout.split(), t.stderr.split()) \
            == (["n28", "n29"], []), (o.stdout, o.stderr, t.stdout, t.stderr)
        # ps -a: the same column names in the same order, the same status wording
        ours, theirs = cli("ps", "-a").stdout.splitlines(), podman("ps", "-a").stdout.splitlines()
        assert _columns(ours[0]) == _columns(theirs[0]) == \
            ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        ours_row = next(r for r in ours if name in r)
        theirs_row = next(r for r in theirs if name in r)
        assert "Exited (0)" in ours_row and "Exited (0)" in theirs_row
        ours = cli("ps", "-aq", "--filter", f"name={name}").stdout.split()
        theirs = podman("ps", "-aq", "--filter", f"name={name}").stdout.split()
        assert len(ours) == len(theirs) == 1 and len(ours[0]) == len(theirs[0]) == 12
    finally:
        cli("rm", "-f", name)
        podman("rm", "-f", name)


def test_running_status_matches(cli, podman):
    name = new_id()
    assert cli("run", "-d", "--net", "none", "--name", name, "busybox", "sleep", "30").returncode == 0
    assert podman("run", "-d", "--pull", "never", "--name", name, IMG, "sleep", "30").returncode == 0
    try:
        fmt = "{{.State.Status}}"
        assert cli("inspect", "-f", fmt, name).stdout.strip() == \
            podman("inspect", "-f", fmt, name).stdout.strip() == "running"
        assert "Up " in next(r for r in cli("ps").stdout.splitlines() if name in r)
        assert "Up " in next(r for r in podman("ps").stdout.splitlines() if name in r)
        # kill without a signal: SIGKILL in both (137)
        assert cli("kill", name).returncode == 0 and podman("kill", name).returncode == 0
        assert cli("wait", name).stdout.strip() == podman("wait", name).stdout.strip() == "137"
    finally:
        cli("rm", "-f", name)
        podman("rm", "-f", name)


def test_volume_and_network_ls_columns(cli, podman):
    vol = new_id("pv")
    assert cli("volume", "create", vol).returncode == 0
    assert podman("volume", "create", vol).returncode == 0
    try:
        ours, theirs = cli("volume", "ls").stdout.splitlines(), podman("volume", "ls").stdout.splitlines()
        assert _columns(ours[0]) == _columns(theirs[0]) == ["DRIVER", "VOLUME NAME"]
        assert any(r.split() == ["local", vol] for r in ours)
        assert any(r.split() == ["local", vol] for r in theirs)
        # podman 4 prints NETWORK ID, NAME, DRIVER; docker (and we) add SCOPE; we add more after
        ours = _columns(cli("network", "ls").stdout.splitlines()[0])
        theirs = _columns(podman("network", "ls").stdout.splitlines()[0])
        assert ours[:len(theirs)] == theirs == ["NETWORK ID", "NAME", "DRIVER"]
        assert ours[3] == "SCOPE"
        # bad input: one line, and docker's code, 1 for a missing object, where podman's inspect
        # and logs say 125 (its "error with podman itself"); its rm's say 1, as docker's
        got = {}
        for args in (("volume", "rm", "nosuch-vol-x"), ("network", "rm", "nosuch-net-x"),
                     ("inspect", "nosuch-ctr-x"), ("rm", "nosuch-ctr-x"), ("logs", "nosuch-ctr-x")):
            o, t = cli(*args), podman(*args)
            assert len(o.stderr.strip().splitlines()) == 1, (args, o.stderr)
            got[" ".join(args[:2])] = (o.returncode, t.returncode)
        print("exit codes for missing objects (ours, podman's):", got)
        assert all(o == 1 and (o == t or args.startswith(("inspect", "logs")))
                   for args, (o, t) in got.items()), got
    finally:
        cli("volume", "rm", vol)
        podman("volume", "rm", vol)


def test_namespace_modes_and_process_flags_match(cli, podman):
    # --ipc/--pid/--uts/--cgroupns host, --ipc none, --oom-score-adj, --sysctl: the same view
    # from inside (podman has no --domainname; docker's is in test_docker_namespaces_limits.py)
    script = ("for t in ipc pid uts cgroup; do readlink /proc/self/ns/$t; done; hostname; "
              "ls -d /dev/shm; cat /proc/self/oom_score_adj /proc/sys/kernel/msgmax")
    host = "".join(os.readlink(f"/proc/self/ns/{t}") + "\n" for t in ("ipc", "pid", "uts", "cgroup"))
    for flags in (("--ipc", "host", "--pid", "host", "--uts", "host", "--cgroupns", "host"),
                  ("--ipc", "none"), ("--oom-score-adj", "300", "--sysctl", "kernel.msgmax=65536")):
        ours = cli("run", "--rm", "--net", "none", *flags, "busybox", "sh", "-c", script)
        theirs = podman("run", "--rm", "--pull", "never", "--network", "none", *flags, IMG, "sh", "-c",
                        script)
        assert ours.returncode == theirs.returncode == 0, (flags, ours.stderr)
        o, t = ours.stdout.splitlines(), theirs.stdout.splitlines()
        if "host" in flags:
            assert ours.stdout == theirs.stdout and ours.stdout.startswith(host), (ours.stdout, theirs.stdout)
        else:           # their own namespaces and hostname (the ID): all but those lines agree
            assert o[5:] == t[5:] and o[0] != t[0] and not ours.stdout.startswith(host), (o, t)
        assert ours.stderr == theirs.stderr, (flags, ours.stderr, theirs.stderr)


def test_diff_matches(cli, podman):
    name = new_id()
    script = "echo hi > /root/new; rm /bin/ls; mkdir -p /var/x; echo y > /var/x/f"
    try:
        assert cli("run", "--net", "none", "--name", name, "busybox", "sh", "-c", script).returncode == 0
        assert podman("run", "--pull", "never", "--network", "none", "--name", name, IMG, "sh", "-c",
                      script).returncode == 0
        ours, theirs = cli("diff", name), podman("diff", name)
        assert ours.returncode == theirs.returncode == 0
        # podman makes the mount points of /etc/hosts, /etc/hostname, /etc/resolv.conf in the
        # container's layer and so lists /etc as changed; docker makes them in an init layer of
        # their own that diff does not show, and so do we (bind mounts over the image's files)
        theirs_lines = [x for x in theirs.stdout.splitlines() if x != "C /etc"]
        assert sorted(ours.stdout.splitlines()) == sorted(theirs_lines), (ours.stdout, theirs.stdout)
    finally:
        cli("rm", "-f", name)
        podman("rm", "-f", name)
