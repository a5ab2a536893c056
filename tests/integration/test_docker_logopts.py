"""--log-opt max-size/max-file (issue 15): the json-file log rotates as docker's does
(json.log, json.log.1 ...), ``logs`` reads across the rotated files in order; bad values
are refused with one line, exit 125, nothing made."""

import json
import os
import subprocess

import pytest

from conftest import ROOT, new_id, read_until
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


def _dir(cli, cid):
    return json.loads(cli("inspect", cid).stdout)[0]["Dir"]


def test_log_rotation_and_logs_across_files(cli, dleak):
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, "--log-opt", "max-size=1k",
            "--log-opt", "max-file=3", "busybox", "sh", "-c",
            "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); sleep 0.001; done")
    assert p.returncode == 0, p.stderr
    assert cli("wait", cid).stdout.strip() == "0"
    d = _dir(cli, cid)
    names = sorted(n for n in os.listdir(d) if n.startswith("json.log"))
    assert names == ["json.log", "json.log.1", "json.log.2"]        # max-file=3: no .3
    for n in names:
        assert os.path.getsize(os.path.join(d, n)) <= 1024
    out = cli("logs", cid).stdout.split()
    assert out and out[-1] == "line199"
    nums = [int(x[4:]) for x in out]
    assert nums == list(range(nums[0], 200))        # in order, nothing lost between files
    assert nums[0] > 0                              # the oldest were dropped
    first = [json.loads(x)["log"] for x in open(os.path.join(d, "json.log.2"))]
    assert first[0].strip() == out[0]
    assert cli("logs", "--tail", "3", cid).stdout.split() == ["line197", "line198", "line199"]
    conf = json.loads(cli("inspect", "-f", "{{json .HostConfig.LogConfig}}", cid).stdout)
    assert conf == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}}
    assert cli("rm", cid).returncode == 0


def test_max_file_1_truncates(cli, dleak):
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "--log-opt", "max-size=512",
               "busybox", "sh", "-c", "seq 1 300").returncode == 0
    cli("wait", cid)
    d = _dir(cli, cid)
    assert sorted(n for n in os.listdir(d) if n.startswith("json.log")) == ["json.log"]
    assert os.path.getsize(os.path.join(d, "json.log")) <= 512
    assert cli("logs", cid).stdout.split()[-1] == "300"
    cli("rm", cid)


@pytest.mark.parametrize("opt", ["max-size=0", "max-size=ten", "max-size=-1k", "max-file=0",
                                 "max-file=x", "compress=true", "max-size", "max-file=2"])
def test_bad_log_opts_refused(cli, dleak, opt):
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, "--log-opt", opt, "busybox", "true")
    assert p.returncode == 125
    assert len(p.stderr.strip().splitlines()) == 1 and "--log-opt" in p.stderr, p.stderr
    assert cli("inspect", cid).returncode != 0


@pytest.mark.parametrize("max_file", ["3", "1"])
def test_logs_follow_across_rotation(cli, dleak, max_file):
    # max-file=3: json.log renamed to .1, .1 to .2; max-file=1 (docker's default with
    # max-size alone): json.log truncated
    # The lines start once logs -f has shown "ready" (it follows from the start, however long
    # it took to start); a file holds ~50 of them, so a reader loses lines only if it falls
    # more than a whole file behind (two with max-file=3: over a second)
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "--log-opt", "max-size=4k",
               "--log-opt", f"max-file={max_file}", "busybox", "sh", "-c",
               "echo ready; until [ -e /go ]; do sleep 0.05; done; "
               "i=0; while [ $i -lt 200 ]; do echo f$i; i=$((i+1)); sleep 0.01; done"
               ).returncode == 0
    p = subprocess.Popen(cli.cmd("logs", "-f", cid), stdout=subprocess.PIPE, cwd=ROOT)
    try:
        out = read_until(p, b"ready\n")
        assert cli("exec", cid, "touch", "/go").returncode == 0
        out += p.communicate(timeout=60)[0]           # it returns when the container exits
        assert out.startswith(b"ready\n"), out
        got = [int(x[1:]) for x in out.split()[1:]]
        if max_file == "3":
            assert got == list(range(200)), got        # every line once, in order, across files
        else:   # a truncated line is gone if the reader was not there in time: never repeated
            assert got == sorted(set(got)) and got[-1] == 199 and len(got) > 100, got
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        assert cli("rm", "-f", cid).returncode == 0


def test_log_driver_none_keeps_no_log(cli, dleak):
    # docker's --log-driver none: the output still reaches a foreground caller, no json.log is
    # written (foreground, -t, detached), and logs says the driver cannot be read
    fg, bg = new_id(), new_id()
    p = cli("run", "--net", "none", "--name", fg, "--log-driver", "none", "busybox", "echo", "seen")
    assert (p.returncode, p.stdout) == (0, "seen\n")
    assert cli("run", "-d", "--net", "none", "--name", bg, "--log-driver", "none", "busybox", "sh", "-c",
               "echo out; echo err >&2").returncode == 0
    assert cli("wait", bg).stdout.strip() == "0"
    try:
        for cid in (fg, bg):
            d = os.path.join(CDIR, cli.id_of(cid))
            assert os.path.isdir(d) and not os.path.exists(os.path.join(d, "json.log"))
            p = cli("logs", cid)
            assert p.returncode == 1 and "does not support reading" in p.stderr
            assert len(p.stderr.splitlines()) == 1
    finally:
        cli("rm", fg, bg)
    for bad in (("--log-driver", "syslog"), ("--log-driver", "none", "--log-opt", "max-size=1m")):
        p = cli("run", "--rm", "--net", "none", *bad, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.splitlines()) == 1, (bad, p.stderr)
    import pycontainer
    c = pycontainer.Client(root=cli.root)
    try:
        name = new_id()
        assert c.containers.run("busybox", ["echo", "api"], network_mode="none", name=name,
                                log_config={"Type": "none", "Config": {}}) == b"api\n"
        d = os.path.join(CDIR, c.containers.get(name).id)
        assert os.path.isdir(d) and not os.path.exists(os.path.join(d, "json.log"))
        with pytest.raises(pycontainer.APIError, match="does not support reading"):
            c.containers.get(name).logs()
        c.containers.get(name).remove()
    finally:
        c.close()


def test_start_a_shows_the_output_with_log_driver_none(cli, dleak):
    """docker's start -a attaches to the program's streams, whatever its log driver: with
    --log-driver none it printed nothing (it followed json.log, which none does not keep)."""
    cid = new_id()
    assert cli("create", "--net", "none", "--name", cid, "--log-driver", "none", "busybox", "sh",
               "-c", "echo to-out; echo to-err >&2; exit 3").returncode == 0
    try:
        for _ in range(2):                              # created, then exited: started again
            p = cli("start", "-a", cid)
            assert (p.returncode, p.stdout, p.stderr) == (3, "to-out\n", "to-err\n")
        assert not os.path.exists(os.path.join(_dir(cli, cid), "json.log"))
    finally:
        assert cli("rm", "-f", cid).returncode == 0


def test_start_a_and_logs_f_give_a_long_output_whole(cli, dleak):
    # more than a read's 1 MiB, written faster than it is read, and the container gone when
    # the reader looks again: what is left is still read (start -a, logs -f, logs)
    cid = new_id()
    assert cli("create", "--net", "none", "--name", cid, "busybox", "seq", "1", "200000").returncode == 0
    try:
        p = cli("start", "-a", cid, timeout=120)
        assert p.returncode == 0 and p.stdout.split() == [str(i) for i in range(1, 200001)]
        assert cli("logs", "-f", cid, timeout=120).stdout == p.stdout
        assert cli("logs", cid, timeout=120).stdout == p.stdout
    finally:
        assert cli("rm", "-f", cid).returncode == 0
