"""docker's behaviour and verbs (issue 15): kill, env, -w, ps, logs order, images, inspect,
start of a stopped container, restart, pause/unpause, rename, port, top, stats, container prune.

Everything runs with ``--net none`` except the port test, which publishes a
port on 127.0.0.1 and sends no traffic.
"""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import ROOT, logged, new_id, pid_alive
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


def run_d(cli, *args, name=None, net=("--net", "none")):
    cid = name or new_id()
    p = cli("run", "-d", *net, "--name", cid, *args)
    assert p.returncode == 0, p.stderr
    return cid


def insp(cli, cid, tmpl):
    p = cli("inspect", "-f", tmpl, cid)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_kill_without_signal_is_sigkill_for_an_image_container(cli, dleak):
    cid = run_d(cli, "busybox", "sleep", "60")      # pid 1 ignores SIGTERM: only SIGKILL stops it
    try:
        assert cli("kill", cid).returncode == 0
        assert cli("wait", cid).stdout.strip() == "137"
        cid2 = run_d(cli, "busybox", "sh", "-c", "trap 'exit 9' USR1; echo ready; while :; do sleep 0.1; done")
        logged(cli, cid2, "ready")                  # USR1 from here on is the trap's
        assert cli("kill", "-s", "USR1", cid2).returncode == 0
        assert cli("wait", cid2).stdout.strip() == "9"
        cli("rm", cid2)
        # docker's kill takes several containers (runc's `kill ID SIGNAL` stays: a signal, or a
        # name of no container, is the second argument; a mistyped one kills nothing)
        a, b = run_d(cli, "busybox", "sleep", "60"), run_d(cli, "busybox", "sleep", "60")
        p = cli("kill", a, "SIGFOO")
        assert p.returncode == 1 and "invalid signal" in p.stderr
        assert cli("inspect", "-f", "{{.State.Status}}", a).stdout.strip() == "running"
        p = cli("kill", a, b, "nosuch-container")
        assert p.returncode == 1 and p.stdout.split() == [a, b] and "nosuch-container" in p.stderr
        assert cli("wait", a, b).stdout.split() == ["137", "137"]
        p = cli("start", a, "nosuch-container", b)     # docker's start and pause: several too
        assert p.returncode == 1 and p.stdout.split() == [a, b]
        assert p.stderr.splitlines() == ["pycontainer: container 'nosuch-container' does not exist",
                                         "pycontainer: failed to start containers: nosuch-container"]
        assert cli("pause", a, b).stdout.split() == [a, b]
        assert set(cli("ps", "-q", "-f", "status=paused").stdout.split()) == \
            {cli.id_of(a)[:12], cli.id_of(b)[:12]}
        assert cli("unpause", a, b).returncode == 0
        assert cli("start", "-a", a, b).returncode == 1            # "cannot start and attach"
        cli("rm", "-f", a, b)
    finally:
        cli("rm", "-f", cid)


def test_home_hostname_term_and_workdir_created(cli, dleak):
    p = cli("run", "--rm", "--net", "none", "-h", "boxy", "-w", "/new/dir", "busybox",
            "sh", "-c", "echo $HOME $HOSTNAME $TERM; pwd; ls -ld /new/dir | cut -c1-10")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["/root boxy", "/new/dir", "drwxr-xr-x"]
    p = cli("run", "--rm", "--net", "none", "-u", "65534", "busybox", "sh", "-c", "echo $HOME")
    assert p.stdout.strip() == "/nonexistent"           # nobody's entry in the image's passwd
    p = cli("run", "--rm", "--net", "none", "-u", "4242", "-e", "X=1", "busybox",
            "sh", "-c", "echo $HOME")
    assert p.stdout.strip() == "/"                      # no passwd entry: docker's /
    # -w over a file of the image is refused in one line, nothing left
    p = cli("run", "--rm", "--net", "none", "-w", "/etc/passwd/x", "busybox", "true")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1


def test_run_t_sets_term_xterm(cli, dleak):
    cid = run_d(cli, "-t", "busybox", "sh", "-c", "echo T=$TERM")
    cli("wait", cid)
    assert "T=xterm" in cli("logs", cid).stdout
    assert "TERM=" not in "".join(json.loads(cli("inspect", cid).stdout)[0]["Config"]["Env"][:1])
    cli("rm", cid)


def test_logs_keep_stdout_and_stderr_order_in_one_file(cli, dleak, tmp_path):
    # two pipes: across them the monitor (as docker's) keeps the order only of writes that are
    # apart by more than its own delay, which a loaded machine makes long: 0.5 s gaps
    cid = run_d(cli, "busybox", "sh", "-c",
                "echo out1; sleep 0.5; echo err1 >&2; sleep 0.5; echo out2; sleep 0.5; echo err2 >&2")
    cli("wait", cid)
    with open(tmp_path / "both", "w") as f:
        subprocess.run(cli.cmd("logs", cid), stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, check=True)
    assert (tmp_path / "both").read_text().split() == ["out1", "err1", "out2", "err2"]
    cli("rm", cid)


def test_ps_newest_first_wording_filters_format(cli, dleak):
    a = run_d(cli, "--label", "tier=db", "busybox", "sh", "-c", "exit 3")
    cli("wait", a)
    time.sleep(1.1)
    b = run_d(cli, "busybox", "sleep", "60")
    ia, ib = cli.id_of(a)[:12], cli.id_of(b)[:12]
    try:
        ps = cli("ps", "-a").stdout.splitlines()
        assert ps[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                 "PORTS", "NAMES"]
        rows = [r for r in ps[1:] if r.startswith((ia, ib))]
        assert [r[:12] for r in rows] == [ib, ia]            # newest first
        assert re.search(r"Up (Less than a second|1 second|\d+ seconds)", rows[0])
        assert re.search(r"Exited \(3\) \d+ seconds? ago", rows[1])
        assert cli("ps", "-q").stdout.split() == [ib]
        assert cli("ps", "-aq", "--filter", "status=exited").stdout.split() == [ia]
        assert cli("ps", "-aq", "-f", "exited=3").stdout.split() == [ia]
        assert cli("ps", "-q", "-l").stdout.split() == [ib]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+\n",     # Go's time.String()
                            cli("ps", "--format", "{{.CreatedAt}}").stdout)
        assert cli("ps", "-q", "-n", "2").stdout.split() == [ib, ia]
        assert cli("ps", "-a", "--filter", f"name={a}", "--format", "{{.Names}}|{{.Status}}").stdout \
            .startswith(f"{a}|Exited (3)")
        assert cli("ps", "-a", "--format", "{{.Names}}", "--filter", "label=tier=db").stdout.split() == [a]
        assert cli("ps", "-aq", "-f", "label=tier=db", "-f", "label=nope").stdout == ""   # labels AND
        assert cli("ps", "-aq", "-f", f"name={a}", "-f", f"name={b}").stdout.split() == [ib, ia]
        j = [json.loads(line) for line in cli("ps", "--format", "json").stdout.splitlines()]
        assert [(x["ID"], x["Names"], x["State"], x["Networks"]) for x in j] == [(ib, b, "running", "none")]
    finally:
        cli("rm", "-f", a, b)


def test_images_created_is_relative(cli):
    out = cli("images").stdout
    assert re.search(r"busybox\s+latest\s+\w{12}\s+(\d+|About an?) \w+ ago", out), out
    # docker's table: columns as wide as their widest cell plus 3 (tabwriter; they were fixed
    # at 40 and 16), newest first (they were in the store's order)
    lines = out.splitlines()
    repo_w = max(10, max(len(ln.split()[0]) for ln in lines) + 3)
    assert lines[0].startswith("REPOSITORY".ljust(repo_w) + "TAG "), lines[0]
    created = cli("images", "--format", "{{.CreatedAt}}").stdout.splitlines()   # 2006-01-02 15:04:05 +0000 UTC
    assert created == sorted(created, reverse=True), created
    # docker's image Config keys, null when the image sets none (a template failed on them)
    assert cli("image", "inspect", "-f", "{{json .Config.Labels}} {{json .Config.Entrypoint}}",
               "busybox").stdout.split() == ["null", "null"]


def test_inspect_format_and_shape(cli, dleak):
    cid = run_d(cli, "-e", "A=1", "busybox", "sleep", "60")
    try:
        j = json.loads(cli("inspect", cid).stdout)[0]
        for k in ("Id", "Name", "Created", "State", "Config", "HostConfig", "NetworkSettings", "Mounts"):
            assert k in j
        assert j["Name"] == "/" + cid and j["State"]["Running"] is True
        assert insp(cli, cid, "{{.State.Status}} {{.State.Pid}}").split()[0] == "running"
        assert "A=1" in insp(cli, cid, "{{json .Config.Env}}")
        assert insp(cli, cid, "{{.HostConfig.NetworkMode}}") == "none"
        assert insp(cli, cid, "{{index .Config.Labels \"nope\"}}") == "<no value>"
        p = cli("inspect", "-f", "{{.State.Nope}}", cid)
        assert p.returncode == 1 and p.stdout == ""
        assert "SizeRw" not in j                                   # docker's: only with --size
        assert cli("exec", cid, "sh", "-c", "head -c 65536 /dev/zero > /big").returncode == 0
        rw, rootfs = map(int, cli("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", cid).stdout.split())
        assert 65536 <= rw < rootfs
    finally:
        cli("rm", "-f", cid)


def test_inspect_has_dockers_config_and_hostconfig_fields(cli, dleak, tmp_path):
    # Config.Labels had no image label, Cmd held the entrypoint too, ExposedPorts and most of
    # HostConfig were missing (a template naming them failed), Networks said "pyc", not
    # "bridge", and Image was the name rather than docker's image ID.
    tag = "pyc-insp-" + new_id()[:8]
    (tmp_path / "Containerfile").write_text(
        "FROM busybox\nLABEL from.image=yes keep=image\nEXPOSE 8000 9000/udp\nVOLUME /data\n"
        'ENTRYPOINT ["sleep"]\nCMD ["60"]\nUSER 1000\nSTOPSIGNAL SIGUSR1\n')
    assert cli("build", "-q", "-t", tag, str(tmp_path)).returncode == 0
    cid = new_id()
    try:
        p = cli("run", "-d", "--pull", "never", "--name", cid, "-l", "keep=run", "--cpus", "0.5",
                "--pids-limit", "40", "-m", "64m", "--ulimit", "nofile=100:200", "--init",
                "--dns", "10.1.2.3", "--add-host", "h:10.0.0.9", "--expose", "7000",
                "--shm-size", "32m", "-v", "/anon", "-v", f"{cid}-vol:/named:ro", tag)
        assert p.returncode == 0, p.stderr
        j = json.loads(cli("inspect", cid).stdout)[0]
        image_id = json.loads(cli("image", "inspect", tag).stdout)[0]["Id"]
        assert j["Image"] == image_id and j["Config"]["Image"] == tag
        c, h = j["Config"], j["HostConfig"]
        assert (j["Path"], j["Args"]) == ("sleep", ["60"])          # --init's program hidden
        assert (c["Entrypoint"], c["Cmd"], c["User"]) == (["sleep"], ["60"], "1000")
        assert (c["AttachStdout"], c["AttachStdin"], c["OpenStdin"]) == (False, False, False)   # -d
        assert c["Labels"] == {"from.image": "yes", "keep": "run"} and c["StopSignal"] == "SIGUSR1"
        assert set(c["ExposedPorts"]) == {"8000/tcp", "9000/udp", "7000/tcp"}
        assert set(c["Volumes"]) == {"/data", "/anon"} and h["Binds"] == [f"{cid}-vol:/named:ro"]
        assert h["NanoCpus"] == 500_000_000 and h["PidsLimit"] == 40
        assert h["Memory"] == 64 << 20 and h["ShmSize"] == 32 << 20 and h["Init"] is True
        assert h["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
        assert h["Dns"] == ["10.1.2.3"] and h["ExtraHosts"] == ["h:10.0.0.9"]
        assert j["GraphDriver"]["Data"]["UpperDir"].endswith("/upper")
        ip = insp(cli, cid, "{{.NetworkSettings.Networks.bridge.IPAddress}}")
        assert ip == j["NetworkSettings"]["IPAddress"] and ip.startswith("10.")
        assert cli("update", "--cpus", "0.25", cid).returncode == 0   # read back from the spec
        assert insp(cli, cid, "{{.HostConfig.NanoCpus}}") == "250000000"
        assert cli("update", "--cpu-quota", "20000", cid).returncode == 0   # docker: quota now
        assert insp(cli, cid, "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}}") == "0 20000"
        assert cli("update", "--cpus", ".5", cid).returncode == 0           # and NanoCpus again
        assert insp(cli, cid, "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}}") == "500000000 0"
        assert cli("update", "--cpus", "0", cid).returncode == 0            # docker: 0 lifts it
        assert insp(cli, cid, "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}}") == "0 0"
        ps = cli("ps", "--format", "{{.Image}} {{.Command}}", "-f", f"name={cid}").stdout.strip()
        assert ps == f'{tag} "sleep 60"'                            # as typed, as docker's ps
        for ref, found in ((tag, True), (f"{tag}:latest", True), (f"{tag}:other", False),
                           (image_id.removeprefix("sha256:")[:12], True), ("busybox", False)):
            out = cli("ps", "-q", "-f", f"ancestor={ref}").stdout.split()
            assert (cli.id_of(cid)[:12] in out) == found, ref
    finally:
        cli("rm", "-f", "-v", cid)
        cli("volume", "rm", f"{cid}-vol")
        cli("rmi", tag)


def test_start_of_a_stopped_container_keeps_id_and_writable_layer(cli, dleak):
    cid = run_d(cli, "busybox", "sh", "-c", "echo run >> /mark; cat /mark | wc -l")
    assert cli("wait", cid).stdout.strip() == "0"
    assert cli("start", cid).stdout.strip() == cid
    assert cli("wait", cid).stdout.strip() == "0"
    assert cli("logs", cid).stdout.split() == ["1", "2"]             # same upper dir, same log
    p = cli("start", "-a", cid)
    assert p.returncode == 0 and p.stdout.split() == ["3"]
    full = cli.id_of(cid)
    assert insp(cli, cid, "{{.Id}} {{.State.Status}}") == f"{full} exited"
    cli("rm", cid)
    assert not os.path.exists(os.path.join(CDIR, full))


def test_started_at_and_finished_at_follow_each_start_as_docker(cli, dleak):
    # They were the create time and empty, whatever start/restart/update did: `ps` said "Up 17
    # seconds" right after a restart.
    cid = new_id()
    assert cli("create", "--net", "none", "--name", cid, "busybox", "sleep", "60").returncode == 0
    times = "{{.Created}}|{{.State.StartedAt}}|{{.State.FinishedAt}}"
    created, s0, f0 = insp(cli, cid, times).split("|")
    assert s0 == f0 == "0001-01-01T00:00:00Z"                 # docker's "never"
    try:
        time.sleep(1.1)
        cli("start", cid)
        _, s1, f1 = insp(cli, cid, times).split("|")
        assert s1 > created and f1 == "0001-01-01T00:00:00Z"
        cli("stop", "-t", "0", cid)
        _, s2, f2 = insp(cli, cid, times).split("|")
        assert s2 == s1 and f2 > s1
        time.sleep(2.1)             # created 3 s ago and more: "Up 3 seconds" if ps counted from it
        cli("restart", "-t", "0", cid)
        c3, s3, f3 = insp(cli, cid, times).split("|")
        assert s3 > f2 and f3 == f2 and c3 == created               # the last exit stays shown
        # from the restart: under a second, or a little more on a loaded machine
        assert cli("ps", "--format", "{{.Status}}", "-f", f"name={cid}").stdout.strip() in \
            ("Up Less than a second", "Up 1 second", "Up 2 seconds")
        cli("update", "--restart", "no", cid)
        assert insp(cli, cid, "{{.Created}}") == created             # config.json rewritten
    finally:
        cli("rm", "-f", cid)


def test_start_a_returns_the_status_and_foreground_runs_can_be_started(cli, dleak):
    cid = new_id()
    assert cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "echo x >> /m; exit $(wc -l < /m)").returncode == 1
    p = cli("start", "-a", cid)
    assert p.returncode == 2, p.stderr
    cli("rm", cid)


def test_restart_pause_unpause_rename_top(cli, dleak):
    cid = run_d(cli, "busybox", "sleep", "60")
    try:
        pid1 = int(insp(cli, cid, "{{.State.Pid}}"))
        assert cli("restart", "-t", "1", cid).returncode == 0
        pid2 = int(insp(cli, cid, "{{.State.Pid}}"))
        assert pid1 != pid2 and not pid_alive(pid1) and pid_alive(pid2)
        assert cli("pause", cid).returncode == 0
        assert insp(cli, cid, "{{.State.Status}}") == "paused"
        assert "(Paused)" in cli("ps").stdout
        assert cli("unpause", cid).stdout.strip() == cid
        assert insp(cli, cid, "{{.State.Status}}") == "running"
        top = cli("top", cid).stdout.splitlines()
        assert "PID" in top[0] and any("sleep 60" in line for line in top[1:])
        assert cli("top", cid, "-o", "pid,comm").stdout.split()[:3] == ["PID", "COMMAND", str(pid2)]
        full = cli.id_of(cid)
        new = new_id("renamed")
        assert cli("rename", cid, new).returncode == 0
        assert insp(cli, new, "{{.Name}} {{.Id}}") == f"/{new} {full}"
        assert new in cli("ps").stdout
        other = run_d(cli, "busybox", "sleep", "60")
        try:                                # another container's name is not free
            p = cli("rename", new, other)
            assert p.returncode == 1 and "already in use" in p.stderr
            p = cli("rename", new, "bad name")
            assert p.returncode == 1 and "Invalid container name" in p.stderr
        finally:
            cli("rm", "-f", other)
        # back to the name it was made with, as docker allows
        assert cli("rename", new, cid).returncode == 0
        assert insp(cli, cid, "{{.Name}}") == f"/{cid}"
        assert cli("rename", cid, cid).returncode == 1      # already its name
    finally:
        cli("rm", "-f", cid)


def test_stop_restart_kill_rm_of_a_paused_container_as_dockers(cli, dleak):
    """docker thaws a paused container after the stop signal or SIGKILL, so that it lands:
    stop ends it (here its TERM trap's status), restart runs it again, kill and rm -f are
    quick. Ours left it paused: stop said so after its whole timeout, and restart with it. A
    start of a paused one is docker's error, not a silent no-op (start -a hung)."""
    cid = run_d(cli, "busybox", "sh", "-c", "trap 'exit 3' TERM; echo ready; "
                "while :; do sleep 0.1; done")
    try:
        logged(cli, cid, "ready")
        assert cli("pause", cid).returncode == 0
        for args in (("start",), ("start", "-a")):
            p = cli(*args, cid, timeout=20)
            assert p.returncode == 1 and "cannot start a paused container, try unpause instead" \
                in p.stderr, (args, p.stderr)
        t0 = time.monotonic()
        assert cli("stop", cid).returncode == 0
        assert time.monotonic() - t0 < 5
        assert insp(cli, cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 3"
        assert cli("start", cid).returncode == 0
        assert cli("pause", cid).returncode == 0
        assert cli("restart", "-t", "1", cid).returncode == 0
        assert insp(cli, cid, "{{.State.Status}}") == "running"
        assert cli("pause", cid).returncode == 0
        assert cli("kill", cid).returncode == 0
        assert cli("wait", cid, timeout=20).stdout.strip() == "137"
        assert cli("start", cid).returncode == 0
        assert cli("pause", cid).returncode == 0
        t0 = time.monotonic()
        assert cli("rm", "-f", cid).returncode == 0
        assert time.monotonic() - t0 < 5
    finally:
        cli("rm", "-f", cid)


def test_verbs_runc_shares_take_a_short_id_or_a_name(cli, bundle, dleak):
    """exec, start, kill, pause, resume and update are runc's verbs too; for a container made
    from an image they take what docker's do: the 12-character ID `ps` shows, or a name given
    by rename (they said "does not exist"). A bundle's container is found by its whole ID only
    (an engine's stale ID must not reach another container)."""
    p = cli("run", "-d", "--net", "none", "busybox", "sleep", "60")      # no --name
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    short = cid[:12]
    other = new_id("bnd")
    try:
        assert cli("exec", short, "echo", "in").stdout == "in\n"
        p = cli("pause", short)
        assert (p.returncode, p.stdout) == (0, short + "\n")            # docker pause prints it
        assert insp(cli, cid, "{{.State.Status}}") == "paused"
        assert cli("resume", short).returncode == 0
        assert insp(cli, cid, "{{.State.Status}}") == "running"
        assert cli("update", "-m", "48m", short).stdout == short + "\n"
        assert cli("rename", short, "web-" + other).returncode == 0
        assert cli("exec", "web-" + other, "true").returncode == 0
        p = cli("kill", "web-" + other)
        assert (p.returncode, p.stdout) == (0, f"web-{other}\n")          # docker kill prints it
        cli("wait", cid)
        assert cli("start", short).stdout == short + "\n"
        assert insp(cli, cid, "{{.State.Status}}") == "running"
        p = cli("kill", "nosuch-" + other)
        assert p.returncode == 1 and "does not exist" in p.stderr
        # runc's rule for a bundle's container: its whole ID, nothing else
        assert cli.create(other, bundle.path).returncode == 0
        for args in (("kill", other[:6], "KILL"), ("start", other[:6]), ("pause", other[:6])):
            p = cli(*args)
            assert p.returncode == 1 and "does not exist" in p.stderr, (args, p.stderr)
        assert json.loads(cli("state", other).stdout)["status"] == "created"
    finally:
        cli("rm", "-f", cid)
        cli("delete", "--force", other)


def test_a_container_without_name_gets_dockers_kind_of_name(cli, dleak):
    """docker run without --name: the ID is printed, `ps` shows a generated adjective_surname,
    and every verb takes it, as docker's."""
    ids = []
    try:
        for _ in range(2):
            p = cli("run", "-d", "--net", "none", "busybox", "sleep", "60")
            assert p.returncode == 0, p.stderr
            ids.append(p.stdout.strip())
        names = {i: insp(cli, i, "{{.Name}}").lstrip("/") for i in ids}
        assert len(set(names.values())) == 2
        for cid, name in names.items():
            assert re.fullmatch(r"[a-z]+_[a-z_]+\d*", name), name
            assert f"{cid[:12]} {name}" in cli("ps", "--format", "{{.ID}} {{.Names}}").stdout
            assert insp(cli, name, "{{.Id}}") == cid
            assert cli("exec", name, "true").returncode == 0
            assert cli("stop", "-t", "0", name).stdout.strip() == name
            assert cli("start", name).stdout.strip() == name
        a, b = ids
        snap = f"pyc-test-snap-{a[:8]}:1"              # commit takes the name too (build/commit.py)
        assert cli("commit", names[a], snap).returncode == 0 and cli("rmi", snap).returncode == 0
        for mode in (f"container:{names[a]}", f"container:{a[:12]}"):   # joins its netns by name
            p = cli("run", "--rm", "--network", mode, "busybox", "true")
            assert p.returncode == 0, (mode, p.stderr)
        p = cli("run", "-d", "--net", "none", "--name", names[a], "busybox", "true")
        assert p.returncode == 125 and "already in use" in p.stderr      # the name is taken
        assert cli("rename", a, names[a] + "-x").returncode == 0
        assert cli("rm", "-f", names[a] + "-x", names[b]).returncode == 0
        assert cli("ps", "-aq").stdout == ""
    finally:
        for i in ids:
            cli("rm", "-f", i)


def test_a_named_container_has_dockers_id_and_one_name(cli, dleak):
    """--name is a name beside docker's 64-hex-digit ID (the ID was the name): run -d prints
    the ID, ps shows its first 12 and the name, the hostname is those 12; of creates of one
    name at once, one gets it and the others are docker's Conflict (125), leaving nothing."""
    name = new_id("named")
    p = cli("run", "-d", "--net", "none", "--name", name, "busybox", "sleep", "60")
    assert p.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", p.stdout), p.stdout + p.stderr
    cid = p.stdout.strip()
    try:
        assert f"{cid[:12]} {name}" in cli("ps", "--format", "{{.ID}} {{.Names}}").stdout.splitlines()
        assert cli("exec", name, "hostname").stdout.strip() == cid[:12]
        assert insp(cli, cid[:12], "{{.Name}} {{.Config.Hostname}}") == f"/{name} {cid[:12]}"
        assert os.path.isdir(os.path.join(cli.root, cid)) and os.path.isdir(os.path.join(CDIR, cid))
        p = cli("run", "-d", "--net", "none", "--name", name, "busybox", "true")
        assert p.returncode == 125 and f'"/{name}" is already in use by container "{cid}"' in p.stderr
        other = new_id("race")
        racers = [subprocess.Popen(cli.cmd("create", "--net", "none", "--name", other, "busybox", "true"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
                  for _ in range(4)]
        outs = [(r.wait(60), *r.communicate()) for r in racers]
        assert sorted(rc for rc, _, _ in outs) == [0, 125, 125, 125], outs
        assert all("Conflict" in err and len(err.splitlines()) == 1 for rc, _, err in outs if rc), outs
        winner = next(out.strip() for rc, out, _ in outs if rc == 0)
        assert cli("ps", "-a", "--filter", f"name=^{other}$", "--format", "{{.ID}}").stdout.split() == \
            [winner[:12]]
        assert cli("rm", other).returncode == 0
        assert not [n for n in os.listdir(CDIR) if n.startswith(".")]   # the lock is the dir's own
    finally:
        cli("rm", "-f", name)


def test_stats_no_stream_reads_the_cgroup(cli, dleak):
    cid = run_d(cli, "-m", "64m", "busybox", "sh", "-c", "while :; do :; done")
    try:
        time.sleep(0.3)
        out = cli("stats", "--no-stream", cid).stdout.splitlines()
        assert out[0].split()[:4] == ["CONTAINER", "ID", "NAME", "CPU"]
        row = out[1]
        assert row.startswith(cli.id_of(cid)[:12])
        cpu = float(re.search(r"([\d.]+)%", row).group(1))
        assert cpu > 5                                      # a busy loop (on a shared machine)
        assert "/ 64MiB" in row
        j = json.loads(cli("stats", "--no-stream", "--format", "json", cid).stdout)
        assert j["PIDs"] == "1" and j["Name"] == cid
        t = cli("stats", "--no-stream", "--format", "table {{.Name}}\t{{.PIDs}}", cid).stdout   # docker's
        assert t.splitlines()[0].split() == ["NAME", "PIDS"] and t.splitlines()[1].split() == [cid, "1"]
    finally:
        cli("rm", "-f", cid)


def published_sleeper(cli) -> tuple[str, int]:
    """A bridged container with its port 80 published on a free port of 127.0.0.1."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return run_d(cli, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "60", net=()), port


def test_port_lists_published_ports(cli, dleak):
    cid, port = published_sleeper(cli)
    try:
        assert cli("port", cid).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
        assert cli("port", cid, "80").stdout.strip() == f"127.0.0.1:{port}"
        assert cli("port", cid, "81").returncode == 1
        assert f"127.0.0.1:{port}->80/tcp" in cli("ps").stdout
        for f, found in (("publish=80", True), ("publish=80/udp", False), ("publish=70-90", True),
                         ("publish=81", False)):
            assert (cli.id_of(cid)[:12] in cli("ps", "-q", "-f", f).stdout.split()) == found, f
    finally:
        cli("rm", "-f", cid)


def test_the_formats_dockers_documentation_gives(cli, dleak):
    """`docker inspect --format` examples people copy (range over the networks, the ports with
    index, .LogPath, if/else) and `table` formats of ps, images and volume ls."""
    cid, port = published_sleeper(cli)
    try:
        ip = insp(cli, cid, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
        assert f"inet {ip}/" in cli("exec", cid, "ip", "-4", "-o", "addr", "show", "eth0").stdout
        assert insp(cli, cid, "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> "
                              "{{(index $conf 0).HostPort}}{{end}}") == f"80/tcp -> {port}"
        log = insp(cli, cid, "{{.LogPath}}")
        assert log == os.path.join(CDIR, cli.id_of(cid), "json.log") and os.path.exists(log)
        # the netns to nsenter, and the /etc files docker's fields name (they were missing)
        key = insp(cli, cid, "{{.NetworkSettings.SandboxKey}}")
        p = subprocess.run(["nsenter", f"--net={key}", "ip", "-4", "-o", "addr", "show", "eth0"],
                           capture_output=True, text=True)
        assert f"inet {ip}/" in p.stdout, (key, p.stdout, p.stderr)
        hosts, hostname, resolv = insp(cli, cid, "{{.HostsPath}} {{.HostnamePath}} {{.ResolvConfPath}}").split()
        assert f"{ip}\t{cli.id_of(cid)[:12]}" in open(hosts).read()
        assert open(hostname).read().strip() == cli.id_of(cid)[:12] and os.path.isfile(resolv)
        assert insp(cli, cid, "{{if .State.Running}}up {{.State.Pid}}{{else}}down{{end}}") == \
            f"up {insp(cli, cid, '{{.State.Pid}}')}"
        assert insp(cli, cid, "{{json .HostConfig.RestartPolicy}}") == \
            '{"Name":"no","MaximumRetryCount":0}'
        p = cli("inspect", "-f", "{{range .Nope}}{{end}}", cid)
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and p.stdout == ""
        rows = cli("ps", "--filter", f"name={cid}", "--format", "table {{.Names}}\t{{.Ports}}").stdout
        assert rows.splitlines() == [f"{'NAMES':<{len(cid) + 3}}PORTS",
                                     f"{cid}   127.0.0.1:{port}->80/tcp"], rows
        images = cli("images", "--format", "table {{.Repository}}\t{{.Tag}}").stdout.splitlines()
        assert images[0].split() == ["REPOSITORY", "TAG"] and \
            any(r.split() == ["busybox", "latest"] for r in images[1:]), images
        nets = cli("network", "ls", "--format", "{{.Name}}:{{.Driver}}").stdout.split()
        assert {"bridge:bridge", "host:host", "none:null"} <= set(nets), nets
        unnamed = cli("run", "-d", "busybox", "sleep", "60").stdout.strip()      # a generated name
        try:
            shown = cli("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}",
                        "bridge").stdout.split()
            assert insp(cli, unnamed, "{{.Name}}").lstrip("/") in shown and cid in shown, shown
        finally:
            cli("rm", "-f", unnamed)
    finally:
        cli("rm", "-f", cid)


def test_container_prune_removes_only_stopped(cli, bundle, dleak):
    a = run_d(cli, "busybox", "true")
    cli("wait", a)
    b = run_d(cli, "busybox", "sleep", "60")
    c, d, e = new_id(), new_id(), new_id("bnd")
    cli("run", "--net", "none", "--name", c, "busybox", "nosuch")     # Created (127)
    assert cli("create", "--net", "none", "--name", d, "busybox", "true").returncode == 0
    assert cli.create(e, bundle.path).returncode == 0                  # runc's, waiting for start
    try:
        ids = {x: cli.id_of(x) for x in (a, b, c, d)}
        out = cli("container", "prune", "-f").stdout      # docker's: the IDs it deleted
        assert ids[a] in out and ids[c] in out and ids[d] in out and ids[b] not in out and e not in out
        # docker's last line: the writable layers' bytes (a few kB: the layer's directories)
        assert re.fullmatch(r"Total reclaimed space: \d+(\.\d+)?[kMG]?B", out.splitlines()[-1]), out
        assert sorted(cli("ps", "-aq").stdout.split()) == sorted([ids[b][:12], e[:12]])
        assert json.loads(cli("state", e).stdout)["status"] == "created"
    finally:
        cli("rm", "-f", b)
        cli("delete", "--force", e)


def test_rmi_untags_a_name_and_says_what_else_it_collects(cli, dleak, tmp_path, monkeypatch):
    store = tmp_path / "images"
    monkeypatch.setenv("PYCONTAINER_IMAGE_ROOT", str(store))       # a store of this test's own
    assert cli("run", "--rm", "--net", "none", "busybox", "true").returncode == 0
    assert cli("tag", "busybox", "mybox:1").returncode == 0
    out = cli("rmi", "mybox:1").stdout.splitlines()
    assert out == ["Untagged: mybox:1"]                           # another name keeps the image
    assert "busybox" in cli("images").stdout
    orphan = store / "blobs" / "sha256" / ("ab" * 32)
    orphan.write_bytes(b"left by a crashed pull")
    ident = cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    out = cli("rmi", "busybox").stdout.splitlines()
    # docker's lines: the name, the image ID, its layers; its own blobs unsaid (docker has none)
    assert out[:2] == ["Untagged: busybox:latest", f"Deleted: {ident}"]
    assert f"Deleted blob (referenced by no image): sha256:{'ab' * 32}" in out
    assert len([ln for ln in out if ln.startswith("Deleted: sha256:")]) >= 2
    assert not [ln for ln in out if ln.startswith("Deleted blob:")]
    assert not orphan.exists()


def test_cp_both_ways_tar_streams_and_no_escape(cli, dleak, tmp_path):
    cid = run_d(cli, "busybox", "sleep", "60")
    try:
        (tmp_path / "f.txt").write_text("hello")
        os.chown(tmp_path / "f.txt", 1234, 1234)
        assert cli("cp", str(tmp_path / "f.txt"), f"{cid}:/tmp/").returncode == 0
        assert cli("exec", cid, "stat", "-c", "%u %s", "/tmp/f.txt").stdout.split() == ["0", "5"]
        assert cli("cp", "-a", str(tmp_path / "f.txt"), f"{cid}:/kept").returncode == 0
        assert cli("exec", cid, "stat", "-c", "%u", "/kept").stdout.strip() == "1234"
        assert cli("cp", f"{cid}:/etc", str(tmp_path / "etc")).returncode == 0
        assert (tmp_path / "etc" / "passwd").read_text().startswith("root:")
        # docker's DEST/ that does not exist: made for a directory, an error for a file
        assert cli("cp", f"{cid}:/etc", str(tmp_path / "etc2") + "/").returncode == 0
        assert (tmp_path / "etc2" / "passwd").exists()
        assert cli("cp", str(tmp_path / "etc2"), f"{cid}:/made/").returncode == 0
        assert cli("exec", cid, "test", "-f", "/made/passwd").returncode == 0
        for args in ((f"{cid}:/etc/passwd", str(tmp_path / "nodir") + "/"),
                     (str(tmp_path / "f.txt"), f"{cid}:/nodir/"),
                     (str(tmp_path / "f.txt"), f"{cid}:/nodir/sub/")):    # was "/nodir is not a directory"
            p = cli("cp", *args)
            assert p.returncode == 1 and "no such directory" in p.stderr, (args, p.stderr)
        assert not (tmp_path / "nodir").exists()
        p = subprocess.run(cli.cmd("cp", f"{cid}:/etc/passwd", "-"), capture_output=True, cwd=ROOT)
        assert p.returncode == 0
        import io
        import tarfile
        assert tarfile.open(fileobj=io.BytesIO(p.stdout)).getnames() == ["passwd"]
        # a symlink in the container that points "out" stays inside the container's root
        assert cli("exec", cid, "ln", "-s", "/../../../../etc", "/esc").returncode == 0
        marker = f"pyc-cp-{cid}"
        (tmp_path / marker).write_text("x")
        assert cli("cp", str(tmp_path / marker), f"{cid}:/esc/").returncode == 0
        assert not os.path.exists(f"/etc/{marker}")
        assert cli("exec", cid, "ls", f"/etc/{marker}").returncode == 0
        for args in ((str(tmp_path / "f.txt"), f"{cid}:/../../tmp/x"), (f"{cid}:/nope", str(tmp_path)),
                     ("a", "b"), (f"{cid}:/etc", "nosuch:/x"), (f"{new_id()}:/etc", str(tmp_path))):
            p = cli("cp", *args)
            assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    finally:
        cli("rm", "-f", cid)


def test_info_says_what_docker_info_says(cli, dleak):
    cid = run_d(cli, "busybox", "sleep", "60")
    try:
        out = cli("info").stdout
        for want in (" Containers: 1", "  Running: 1", " Storage Driver: overlay",
                     " Cgroup Driver: cgroupfs", f" CPUs: {os.cpu_count()}", " Kernel Version: ",
                     " Total Memory: ", "CDI devices: "):
            assert want in out, (want, out)
        cg = "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"
        assert cli("info", "-f", "{{.NCPU}} {{.CgroupVersion}} {{.ContainersRunning}}").stdout.split() == \
            [str(os.cpu_count()), cg, "1"]
        j = json.loads(cli("info", "--format", "json").stdout)
        assert j["OSType"] == "linux" and "specDirs" in j["cdi"] and j["MemTotal"] > 0
    finally:
        cli("rm", "-f", cid)


def test_ps_filters_as_docker(cli, dleak):
    """docker ps -f: name is a regular expression (^web$), before/since a container, network,
    volume; -f beside --format is a filter (the format was lost)."""
    a, b = new_id("web"), None
    run_d(cli, "busybox", "sleep", "60", name=a, net=())                 # the default bridge
    time.sleep(1.1)                                  # a later creation time for b
    b = run_d(cli, "-v", "/data", "--expose", "9000-9001/udp", "busybox", "sleep", "60", name=a + "0",
              net=("--net", "none"))
    try:
        def names(*f):
            p = cli("ps", *f, "--format", "{{.Names}}")
            assert p.returncode == 0, p.stderr
            return sorted(p.stdout.split())
        assert names("-f", f"name={a}") == sorted([a, b])             # a substring matches both
        assert names("-f", f"name=^{a}$") == [a] == names("-f", f"name=^/{a}$")
        assert names("-f", f"before={b}") == [a] and names("-f", f"since={a}") == [b]
        assert names("-f", "network=none", "-f", f"name={a}") == [b]
        assert names("-f", "network=bridge", "-f", f"name={a}") == [a]
        assert names("-f", "volume=/data") == [b]
        assert names("-f", "health=none", "-f", f"name={a}") == sorted([a, b])
        assert names("-f", "expose=9001/udp") == [b] == names("-f", "expose=8000-9999/udp")
        assert names("-f", "expose=9001", "-f", f"name={a}") == []          # tcp by default
        for bad in ("before=no-such-container", "publish=eighty"):
            p = cli("ps", "-f", bad)
            assert p.returncode == 1 and len(p.stderr.splitlines()) == 1
    finally:
        cli("rm", "-f", "-v", a, b)


def test_exec_user_takes_a_name_from_the_containers_passwd(cli, dleak):
    """docker exec -u NAME[:GROUP] (and the API's user=): the numbers from the container's
    /etc/passwd and /etc/group as they are now (a user added in the container counts)."""
    cid = run_d(cli, "busybox", "sleep", "60")
    try:
        assert cli("exec", "-u", "nobody", cid, "id").stdout.startswith("uid=65534(nobody) gid=65534")
        assert cli("exec", cid, "sh", "-c", "echo 'app:x:4321:4321::/:/bin/sh' >> /etc/passwd && "
                                            "echo 'app:x:4321:' >> /etc/group && "
                                            "echo 'extra:x:777:app' >> /etc/group").returncode == 0
        out = cli("exec", "-u", "app", cid, "id").stdout
        assert out.startswith("uid=4321(app) gid=4321(app)") and "777(extra)" in out, out
        assert cli("exec", "-u", "app:extra", cid, "id", "-g").stdout.strip() == "777"
        p = cli("exec", "-u", "nosuchuser", cid, "id")               # docker: the process cannot start, 126
        assert p.returncode == 126 and "nosuchuser" in p.stderr and len(p.stderr.splitlines()) == 1
        import pycontainer
        c = pycontainer.Client(root=cli.root)
        try:
            assert c.containers.get(cid).exec_run("id -u", user="app") == (0, b"4321\n")
            code, out = c.containers.get(cid).exec_run("id", user="nosuchuser")   # docker-py: 126 (it raised)
            assert code == 126 and b"nosuchuser" in out, out
        finally:
            c.close()
    finally:
        cli("rm", "-f", cid)


def test_ps_size_and_mounts_as_docker(cli, dleak):
    cid = run_d(cli, "-v", f"pyc-ps-{os.getpid()}:/data", "busybox", "sh", "-c",
                "dd if=/dev/zero of=/big bs=1k count=300 2>/dev/null; sleep 60")
    try:
        for _ in range(50):
            out = cli("ps", "-s", "--format", "{{.Size}}|{{.Mounts}}|{{.LocalVolumes}}",
                      "-f", f"name={cid}").stdout.strip()
            if out.startswith("3"):
                break
            time.sleep(0.1)
        m = re.fullmatch(r"(\d+)kB \(virtual ([\d.]+)MB\)\|pyc-ps-\d+\|1", out)
        assert m and 300 <= int(m.group(1)) < 330 and float(m.group(2)) > 2, out
        assert "SIZE" in cli("ps", "-s").stdout.splitlines()[0]
        mounts = json.loads(insp(cli, cid, "{{json .Mounts}}"))
        assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == f"pyc-ps-{os.getpid()}"
    finally:
        cli("rm", "-f", "-v", cid)
        cli("volume", "rm", f"pyc-ps-{os.getpid()}")


def test_exec_env_file_as_docker(cli, dleak, tmp_path):
    cid = run_d(cli, "busybox", "sleep", "60")
    try:
        (tmp_path / "env").write_text("B=2\n# a comment\nC=3\n")
        p = cli("exec", "--env-file", str(tmp_path / "env"), "-e", "C=4", cid, "sh", "-c", "echo $B $C")
        assert p.stdout.split() == ["2", "4"], p.stderr                  # -e wins over the file
        p = cli("exec", "--env-file", str(tmp_path / "nope"), cid, "true")
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    finally:
        cli("rm", "-f", cid)


def test_prune_and_images_filters_as_docker(cli, dleak):
    # container/image/system prune --filter until=/label=/label!=, images --filter
    # before=/since=/until=: "No such option" before
    keep, drop = new_id(), new_id()
    for cid, labels in ((keep, ("-l", "keep=1")), (drop, ())):
        assert cli("run", "--net", "none", "--name", cid, *labels, "busybox", "true").returncode == 0
    ids = {x: cli.id_of(x) for x in (keep, drop)}
    try:
        out = cli("container", "prune", "-f", "--filter", "label!=keep").stdout
        assert ids[drop] in out and ids[keep] not in out
        assert cli("container", "prune", "-f", "--filter", "until=1h").stdout.count("\n") == 1
        assert keep in cli("ps", "-a", "--format", "{{.Names}}").stdout       # made < 1 h ago
        for bad in ("until=yesterday", "colour=red"):
            p = cli("container", "prune", "-f", "--filter", bad)
            assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert keep in cli("ps", "-a", "--format", "{{.Names}}").stdout
        assert ids[keep] in cli("system", "prune", "-f", "--filter", "label=keep=1").stdout
        older = cli("images", "--format", "{{.Repository}}", "--filter", "before=busybox").stdout.split()
        newer = cli("images", "--format", "{{.Repository}}", "--filter", "since=busybox").stdout.split()
        assert "busybox" not in older + newer
        assert cli("images", "-q", "--filter", "until=1s").returncode == 0
        assert cli("image", "prune", "-f", "--filter", "until=24h", "--filter", "label=x").returncode == 0
    finally:
        cli("rm", "-f", keep, drop)


def _actions_of(path, name: str) -> list[str]:
    """The actions of the events (json lines in ``path``) whose container was named ``name``."""
    out = []
    for ln in path.read_text().splitlines():
        try:
            e = json.loads(ln)
        except ValueError:              # the line the follower is writing
            continue
        if e["Actor"]["Attributes"].get("name") == name:
            out.append(e["Action"])
    return out


def _shown(path, name: str, action: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while action not in _actions_of(path, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return action in _actions_of(path, name)


def test_events_as_docker(cli, dleak, tmp_path):
    # docker events: "events" needed a container ID (runc's); now, without one, the journal
    # of what the verbs did, --since/--until/--filter/--format, and following as it grows
    import signal
    t0 = time.time()
    a = new_id()
    assert cli("run", "--net", "none", "--name", a, "-l", "team=x", "busybox", "sh", "-c", "exit 3").returncode == 3
    cli("rename", a, a + "-r")
    aid = cli.id_of(a + "-r")
    cli("rm", a + "-r")
    p = cli("events", "--since", str(t0), "--until", str(time.time()), "--filter", f"container={aid}",
            "--format", "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}")
    assert p.returncode == 0, p.stderr
    actions = [ln.split()[0] for ln in p.stdout.splitlines()]
    assert actions == ["create", "start", "die", "rename", "destroy"], p.stdout
    assert "die 3" in p.stdout
    p = cli("events", "--since", str(t0), "--until", str(time.time()), "--filter", f"container={a}",
            "--format", "{{.Action}}")        # a name matches the events that carried it (docker's)
    assert p.stdout.split() == ["create", "start", "die"], p.stdout
    p = cli("events", "--since", str(t0), "--until", str(time.time()), "--filter", f"container={a}",
            "--filter", "event=die", "--format", "{{.Status}} {{.ID}} {{.From}} {{.Scope}}")
    assert p.stdout == f"die {aid} busybox local\n", p.stdout + p.stderr     # docker's Go fields
    text = cli("events", "--since", str(t0), "--until", str(time.time()), "-f", "event=create",
               "-f", "label=team=x").stdout
    assert re.search(rf"Z container create [\w-]+ \(image=busybox, name={a}, team=x\)", text), text
    # following: a run started after events began shows up. It begins once the follower
    # has shown a rename of m (renamed again until it does: one before it followed is not
    # shown), however long the follower took to start
    m, followed = new_id(), tmp_path / "events"
    assert cli("create", "--net", "none", "--name", m, "busybox", "true").returncode == 0
    name = m
    with open(followed, "wb") as f:
        follower = subprocess.Popen(cli.cmd("events", "--format", "json"), stdout=f, cwd=ROOT)
    try:
        for k in range(30):
            assert cli("rename", name, f"{m}-{k}").returncode == 0
            name = f"{m}-{k}"
            if _shown(followed, name, "rename", 1):
                break
        else:
            raise AssertionError("the follower showed none of 30 renames")
        b = new_id()
        cli("run", "--rm", "--net", "none", "--name", b, "busybox", "true")
        assert _shown(followed, b, "destroy", 15)
        assert _actions_of(followed, b) == ["create", "start", "die", "destroy"]
    finally:
        follower.send_signal(signal.SIGINT)           # docker's: a follow ends at an interrupt
        try:
            follower.wait(10)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.wait()
        cli("rm", name)
    # and --until ends a follow by itself
    p = cli("events", "--until", str(time.time() + 1), "--format", "json", timeout=30)
    assert p.returncode == 0, p.stderr
    p = cli("events", "--filter", "colour=red")
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    c = run_d(cli, "busybox", "sleep", "60")
    t1 = time.time()
    for verb in ("pause", "unpause", "pause", "resume", "kill"):     # runc's resume: docker's event
        cli(verb, c)
    deadline = time.monotonic() + 10                 # "die": from the monitor, once it saw the exit
    while True:
        p = cli("events", "--since", str(t1), "--until", str(time.time()), "-f", f"container={c}",
                "--format", "{{.Action}}")
        if "die" in p.stdout.split() or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert p.stdout.split() == ["pause", "unpause", "pause", "unpause", "kill", "die"], p.stdout
    cli("rm", "-f", c)


def test_networks_of_stopped_none_host_and_user_network_containers_as_dockers(cli, dleak):
    # docker keeps NetworkSettings.Networks after the container stops (no address), names
    # "none" and "host", and a user-defined network by its name in HostConfig.NetworkMode.
    # Before: {} for all but a running bridged container, and NetworkMode "bridge" for a
    # user network; `ps -a --format {{.Networks}}` was empty for an exited one.
    net = new_id("nw")
    assert cli("network", "create", net).returncode == 0
    names = {}
    try:
        for mode in ("bridge", "none", "host", net):
            names[mode] = new_id("nm")
            p = cli("run", "--name", names[mode], "--net", mode, "busybox", "true")
            assert p.returncode == 0, p.stderr
        for mode, name in names.items():
            assert insp(cli, name, "{{.HostConfig.NetworkMode}}") == mode
            nets = json.loads(insp(cli, name, "{{json .NetworkSettings.Networks}}"))
            assert list(nets) == [mode] and nets[mode]["IPAddress"] == ""
            p = cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.Networks}}")
            assert p.stdout.strip() == mode
        p = cli("ps", "-a", "--filter", f"network={net}", "--format", "{{.Names}}")
        assert p.stdout.split() == [names[net]]
    finally:
        for name in names.values():
            cli("rm", "-f", name)
        assert cli("network", "rm", net).returncode == 0
