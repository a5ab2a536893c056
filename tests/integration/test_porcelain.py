"""Detached containers and the docker verbs: run -d, logs, wait, stop, rm, attach, ps, exec.

A detached container is kept by a monitor (pycontainer/monitor.py) that is
the init's parent: the checks read what it writes (docker's json-file log,
exit.json) through the verbs, and look at the monitor process itself (its
memory, what happens when it is killed).
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ROOT, TICKS_UNTIL_GO, attached_to_the_end, logged, new_id, pid_alive, read_until

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


def monitor_pid(cid: str) -> int:
    with open(os.path.join(CDIR, cid, "monitor.json")) as f:
        return json.load(f)["pid"]


def _kill_monitor(cid: str, timeout: float = 10) -> None:
    """SIGKILL the container's monitor and wait until it has exited (its sockets closed):
    a stalled host can take longer than any fixed sleep to finish a killed process."""
    pid = monitor_pid(cid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(pid), f"monitor {pid} still alive"


def run_d(cli, *args, name=None):
    """``run -d --name NAME``: the ID it prints (docker's 64 hex digits, what names the
    container's directory)."""
    p = cli("run", "-d", "--net", "none", "--name", name or new_id(), "busybox", *args)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", p.stdout), p.stdout
    return p.stdout.strip()


def test_run_d_logs_are_docker_json_lines_and_wait_gives_the_status(cli, leakcheck):
    # two pipes: the monitor reads stdout first of what both have, so "three" must come
    # later than its delay on a loaded machine to be logged after "two" (1 s, not 0.3)
    cid = run_d(cli, "sh", "-c", "echo one; echo two >&2; sleep 1; printf 'three\\npartial'; exit 7")
    assert cli("wait", cid).stdout.strip() == "7"
    lines = [json.loads(line) for line in open(os.path.join(CDIR, cid, "json.log"))]
    assert [(e["stream"], e["log"]) for e in lines] == [
        ("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n"), ("stdout", "partial")]
    assert all(e["time"].endswith("Z") and "T" in e["time"] for e in lines)
    p = cli("logs", cid)
    assert p.stdout == "one\nthree\npartial" and p.stderr == "two\n"
    assert cli("logs", "--tail", "1", cid).stdout == "partial"
    ts = cli("logs", "-t", cid).stdout.splitlines()[0]
    assert ts.split(" ", 1)[1] == "one" and ts.split(" ", 1)[0] == lines[0]["time"]
    ex = json.load(open(os.path.join(CDIR, cid, "exit.json")))
    assert ex["exit_code"] == 7 and ex["oom_killed"] is False
    ps = cli("ps", "-a").stdout
    row = next(line for line in ps.splitlines() if line.startswith(cid[:12]))
    assert "Exited (7)" in row and "busybox" in row
    assert cid[:12] not in cli("ps").stdout           # without -a: running ones only
    assert cli("rm", cid).returncode == 0
    assert not os.path.exists(os.path.join(CDIR, cid))


def test_logs_follow_streams_until_the_container_exits(cli, leakcheck):
    # line2 and line3 come only once logs -f has shown line1: it followed, not just read once
    cid = run_d(cli, "sh", "-c", "echo line1; until [ -e /go ]; do sleep 0.05; done; "
                "for i in 2 3; do sleep 0.3; echo line$i; done")
    p = subprocess.Popen(cli.cmd("logs", "-f", cid), stdout=subprocess.PIPE, cwd=ROOT)
    try:
        out = read_until(p, b"line1\n")
        assert cli("exec", cid, "touch", "/go").returncode == 0
        out += p.communicate(timeout=60)[0]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == b"line1\nline2\nline3\n"
    assert cli("rm", cid).returncode == 0


def test_logs_since_and_until_pick_lines_by_their_time(cli, leakcheck):
    cid = run_d(cli, "sh", "-c", "echo one; sleep 1; echo two; sleep 1; echo three")
    assert cli("wait", cid).stdout.strip() == "0"
    stamps = [line.split(" ", 1)[0] for line in cli("logs", "-t", cid).stdout.splitlines()]
    assert len(stamps) == 3
    assert cli("logs", "--until", stamps[1], cid).stdout == "one\n"            # before it
    assert cli("logs", "--since", stamps[1], cid).stdout == "two\nthree\n"    # from it on
    assert cli("logs", "--since", stamps[1], "--until", stamps[2], cid).stdout == "two\n"
    assert cli("logs", "--since", "1h", cid).stdout == "one\ntwo\nthree\n"    # 1 h ago
    assert cli("logs", "--since", "0s", "-t", cid).stdout == ""                # from now on: none
    assert cli("logs", "--since", stamps[0], "--tail", "1", cid).stdout == "three\n"
    assert cli("logs", "-f", "--since", stamps[2], cid).stdout == "three\n"
    p = cli("logs", "--since", "yesterday", cid)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "--since" in p.stderr
    assert cli("rm", cid).returncode == 0


def test_stop_sends_term_then_kill_after_the_timeout(cli, leakcheck):
    # pid 1 ignores SIGTERM unless it handles it: sleep is killed only by SIGKILL.
    cid = run_d(cli, "sleep", "60")
    t0 = time.monotonic()
    assert cli("stop", "-t", "1", cid).returncode == 0
    assert 0.9 < time.monotonic() - t0 < 8
    assert cli("wait", cid).stdout.strip() == "137"
    # A program that handles SIGTERM stops at once, with its own status.
    cid2 = run_d(cli, "sh", "-c", "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done")
    logged(cli, cid2, "ready")                        # TERM from here on is the trap's
    t0 = time.monotonic()
    assert cli("stop", "-t", "10", cid2).returncode == 0
    assert time.monotonic() - t0 < 5
    assert cli("wait", cid2).stdout.strip() == "3"
    assert "Exited (3)" in cli("ps", "-a").stdout
    assert cli("rm", cid, cid2).returncode == 0


def test_rm_refuses_a_running_container_unless_forced(cli, leakcheck):
    cid = run_d(cli, "sleep", "60")
    mon = monitor_pid(cid)
    p = cli("rm", cid)
    assert p.returncode != 0 and "force" in p.stderr
    assert cli("rm", "-f", cid).returncode == 0
    assert not pid_alive(mon), "the monitor outlived its container"
    assert not os.path.exists(os.path.join(CDIR, cid))


def test_run_d_rm_removes_the_container_when_it_exits(cli, leakcheck):
    p = cli("run", "-d", "--rm", "--net", "none", "--name", new_id(), "busybox", "true")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    deadline = time.monotonic() + 15
    while (os.path.exists(os.path.join(cli.root, cid)) or os.path.exists(os.path.join(CDIR, cid))) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(os.path.join(cli.root, cid))
    assert not os.path.exists(os.path.join(CDIR, cid))


def test_the_monitor_is_small_detached_and_the_inits_parent(cli, leakcheck):
    cids = [run_d(cli, "sleep", "60") for _ in range(3)]
    rss = []
    for cid in cids:
        mon = monitor_pid(cid)
        init = cli.state(cid)["pid"]
        stat = open(f"/proc/{init}/stat").read().rsplit(")", 1)[1].split()
        assert int(stat[1]) == mon, "the init's parent is not its monitor"
        cmd = open(f"/proc/{mon}/cmdline").read()
        assert ("import monitor" in cmd or "pycontainer-monitor\0" in cmd)   # monitor.command
        assert f"--id\0{cid}" in cmd and "click" not in cmd
        mstat = open(f"/proc/{mon}/stat").read().rsplit(")", 1)[1].split()
        assert int(mstat[3]) != os.getsid(0), "the monitor is in the caller's session (no setsid)"
        maps = open(f"/proc/{mon}/maps").read()
        assert "pyroute2" not in maps and "_cffi" not in maps and "_native" not in maps
        fds = sorted(int(f) for f in os.listdir(f"/proc/{mon}/fd"))
        assert len(fds) <= 8, fds         # 0-2, two pipes, a pidfd, the log, attach.sock
        status = dict(line.split(":", 1) for line in open(f"/proc/{mon}/status"))
        rss.append(int(status["VmRSS"].split()[0]))
        private = sum(int(line.split()[1]) for line in open(f"/proc/{mon}/smaps_rollup")
                      if line.startswith("Private_"))
        assert private < 8 * 1024, f"monitor private memory {private} kB"
    print(f"monitor VmRSS per container: {rss} kB")
    assert max(rss) < 16 * 1024
    assert cli("rm", "-f", *cids).returncode == 0


def test_monitor_killed_keeps_the_container_consistent(cli, leakcheck):
    cid = run_d(cli, "sleep", "60")
    _kill_monitor(cid)
    assert cli.state(cid)["status"] == "running"      # the container does not depend on it
    assert cli("kill", cid, "KILL").returncode == 0
    p = cli("wait", cid, timeout=20)
    assert p.returncode == 0 and p.stdout.strip() == "-1"   # nobody saw the status
    assert "Exited (unknown)" in cli("ps", "-a").stdout
    assert cli("rm", cid).returncode == 0


def test_attach_follows_output_and_returns_the_status(cli, leakcheck):
    cid = run_d(cli, "sh", "-c", TICKS_UNTIL_GO + "echo late; exit 6")
    code, out, err = attached_to_the_end(cli, cid)
    assert code == 6 and out.endswith(b"tick\nlate\n"), (out, err)
    assert cli("rm", cid).returncode == 0


def test_porcelain_exec_env_workdir_user_and_status(cli, leakcheck):
    cid = run_d(cli, "sleep", "60")
    p = cli("exec", "-e", "A=b", "-w", "/tmp", "-u", "1000:1000", cid, "sh", "-c", "echo $A $(pwd) $(id -u); exit 9")
    assert p.returncode == 9 and p.stdout.split() == ["b", "/tmp", "1000"]
    p = subprocess.run(cli.cmd("exec", "-i", cid, "cat"), input="from stdin\n", capture_output=True,
                       text=True, timeout=30, cwd=ROOT)
    assert p.returncode == 0 and p.stdout == "from stdin\n"
    # without -i docker attaches no stdin: the program reads EOF (it used to get ours)
    p = subprocess.run(cli.cmd("exec", cid, "cat"), input="not sent\n", capture_output=True,
                       text=True, timeout=30, cwd=ROOT)
    assert (p.returncode, p.stdout) == (0, "")
    assert cli("rm", "-f", cid).returncode == 0


def test_verbs_on_unknown_containers_fail_clearly(cli, leakcheck):
    for verb in (["logs"], ["wait"], ["stop"], ["rm"], ["attach"]):
        p = cli(*verb, "no-such-container")
        assert p.returncode != 0 and "No such container: no-such-container" in p.stderr, \
            (verb, p.stderr)                                        # docker's words


def test_run_foreground_keeps_the_container_and_its_status_without_rm(cli, leakcheck):
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c", "echo fg; exit 4")
    assert p.returncode == 4 and p.stdout == "fg\n"
    assert "Exited (4)" in cli("ps", "-a").stdout
    assert cli("wait", cid).stdout.strip() == "4"
    assert cli("rm", cid).returncode == 0


def test_a_foreground_container_keeps_its_output_for_logs(cli, leakcheck):
    # docker and podman log every container, not only the detached ones
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "busybox", "sh", "-c",
            "echo o1; echo e1 >&2; echo o2; readlink /proc/self/fd/1; exit 3")
    assert p.returncode == 3
    out = p.stdout.splitlines()
    assert out[:2] == ["o1", "o2"] and out[2].startswith("pipe:") and p.stderr == "e1\n"
    d = os.path.join(CDIR, cli.id_of(cid))
    lines = [json.loads(line) for line in open(os.path.join(d, "json.log"))]
    assert [(e["stream"], e["log"]) for e in lines if e["stream"] == "stderr"] == [("stderr", "e1\n")]
    assert [e["log"] for e in lines if e["stream"] == "stdout"][:2] == ["o1\n", "o2\n"]
    logs = cli("logs", cid)
    assert logs.stdout == p.stdout and logs.stderr == "e1\n"
    assert cli("rm", cid).returncode == 0
    assert not os.path.exists(d)


def test_a_foreground_container_is_never_blocked_by_a_closed_stdout(cli, leakcheck):
    # `| head -1`: our stdout goes away; the program still runs to its end (its exit status
    # is ours) and the log has everything
    cid = new_id()
    import shlex
    p = subprocess.run(f"{shlex.join(cli.cmd('run', '--net', 'none', '--name', cid))} busybox sh -c "
                       f"'seq 1 20000; echo done >&2; exit 5' | head -1; echo rc=${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
    assert p.stdout == "1\nrc=5\n", (p.stdout, p.stderr)
    assert "done" in p.stderr
    stdout = [json.loads(line)["log"] for line in open(os.path.join(CDIR, cli.id_of(cid), "json.log"))
              if '"stdout"' in line]
    assert "".join(stdout).split() == [str(i) for i in range(1, 20001)]
    assert cli("rm", cid).returncode == 0


def test_logs_follow_a_foreground_container_until_it_exits(cli, leakcheck, tmp_path):
    cid = new_id()
    out = open(tmp_path / "out", "w")
    fg = subprocess.Popen(cli.cmd("run", "--net", "none", "--name", cid, "busybox", "sh", "-c",
                                  "for i in 1 2 3 4; do echo tick$i; sleep 0.3; done"),
                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        for _ in range(100):
            i = cli("inspect", "-f", "{{.Id}}", cid).stdout.strip()
            if i and os.path.exists(os.path.join(CDIR, i, "json.log")):
                break
            time.sleep(0.05)
        p = cli("logs", "-f", cid, timeout=30)
        assert p.stdout.split() == ["tick1", "tick2", "tick3", "tick4"]
        assert fg.wait(timeout=30) == 0
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()
    assert cli("rm", cid).returncode == 0


def test_foreground_log_opts_rotate_and_rm_leaves_nothing(cli, leakcheck):
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "--log-opt", "max-size=2k", "--log-opt",
            "max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line$i; "
            "i=$((i+1)); done")
    assert p.returncode == 0 and len(p.stdout.split()) == 200
    d = os.path.join(CDIR, cli.id_of(cid))
    files = sorted(f for f in os.listdir(d) if f.startswith("json.log"))
    assert files == ["json.log", "json.log.1"]
    assert all(os.path.getsize(os.path.join(d, f)) <= 2048 for f in files)
    assert cli("logs", "--tail", "1", cid).stdout == "line199\n"
    assert cli("rm", cid).returncode == 0
    # --rm: the log goes with the container
    p = cli("run", "--rm", "--net", "none", "--name", cid, "busybox", "echo", "gone")
    assert p.returncode == 0 and p.stdout == "gone\n"
    assert not os.path.exists(d) and cli("inspect", cid).returncode == 1


def test_docker_create_then_start_a_prints_output_and_status(cli, leakcheck, tmp_path):
    cid = new_id()
    p = cli("create", "--name", cid, "--net", "none", "-e", "X=made", "busybox", "sh", "-c",
            "echo out-$X; echo err >&2; exit 3")
    assert p.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", p.stdout), p.stderr
    row = next(r for r in cli("ps", "-a").stdout.splitlines() if r.startswith(p.stdout[:12]))
    assert row.split()[-1] == cid
    assert "Created" in row
    assert cid not in cli("ps").stdout                 # not running
    p = cli("start", "-a", cid)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out-made\n", "err\n")
    assert cli("logs", cid).stdout == "out-made\n"
    assert cli("rm", cid).returncode == 0
    # docker's management form names the same verbs
    p = cli("container", "create", "--name", cid, "--net", "none", "busybox", "echo", "again")
    assert p.returncode == 0
    assert cid in cli("container", "ls", "-a").stdout and cid not in cli("container", "ls").stdout
    assert cli("container", "start", "-a", cid).stdout == "again\n"
    assert cli("container", "rm", cid).returncode == 0
    p = cli("container", "run", "--rm", "--net", "none", "busybox", "echo", "ran")
    assert (p.returncode, p.stdout) == (0, "ran\n")
    # bad input: docker's 125, one line, nothing made
    p = cli("create", "--pull", "never", "--name", cid, "no-such-image-xyz")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1
    assert "No such image: no-such-image-xyz:latest" in p.stderr   # --pull never: the store only, no registry
    p = cli("run", "-d", "--pull", "never", "--name", cid, "no-such-image-xyz")
    assert p.returncode == 125 and "No such image" in p.stderr
    assert cli.dirs_named(cid) == [] and cid not in cli("ps", "-a").stdout
    p = cli("create", "--pid-file", "/x", "--rm", "busybox")
    assert p.returncode != 0 and "use one form" in p.stderr
    assert "docker create" in cli("create", "--help").stdout


def test_runc_create_in_the_bundle_dir_and_version(cli, leakcheck, bundle):
    # runc's `create ID` in the bundle's directory is still the bundle form
    cid = new_id()
    bundle.write()
    # (no pipes: the created init would hold them open)
    p = subprocess.run(cli.cmd("create", cid), cwd=bundle.path, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    assert cli.state(cid)["status"] == "created"
    assert cli("delete", "--force", cid).returncode == 0
    v = cli("version")
    assert v.returncode == 0 and v.stdout.startswith("Client:") and "OCI Version:    1.2.0" in v.stdout
    assert cli("version", "--format", "{{.Client.Version}}").stdout.strip() == \
        cli("--version").stdout.split()[2]
    assert json.loads(cli("version", "-f", "json").stdout)["Client"]["Os"] == "linux"
    # scripts ask {{.Server.Version}} to see whether the engine answers: here it is this program
    assert cli("version", "--format", "{{.Server.Version}}").stdout.strip() == \
        cli("version", "--format", "{{.Client.Version}}").stdout.strip() != ""
    p = cli("version", "--format", "{{.Nope}}")
    assert p.returncode == 1 and "no field" in p.stderr


def test_a_client_that_disconnects_mid_attach_changes_nothing(cli, leakcheck):
    cid = run_d(cli, "sh", "-c", "while :; do echo tick; sleep 0.05; done")
    p = subprocess.Popen(cli.cmd("attach", "--no-sig-proxy", cid), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, cwd=ROOT)
    assert p.stdout.read(5) == b"tick\n"
    p.stdout.close()                     # the reader goes away mid-stream
    assert p.wait(timeout=20) is not None
    assert cli.state(cid)["status"] == "running"
    assert pid_alive(monitor_pid(cid))
    assert b"tick" in open(os.path.join(CDIR, cid, "json.log"), "rb").read()
    assert cli("rm", "-f", cid).returncode == 0


def test_attach_refuses_what_is_not_running_as_docker_does(cli, leakcheck):
    # docker/cli's attach: a created (never started) or exited container is refused at once
    # (it waited, ignoring SIGTERM, for a start that might never come), and so is a paused one
    assert cli("create", "--net", "none", "--name", (name := new_id()), "busybox", "true").returncode == 0
    p = cli("attach", name, timeout=20)
    assert p.returncode == 1 and "You cannot attach to a stopped container, start it first" in p.stderr
    cid = run_d(cli, "sleep", "60")
    assert cli("pause", cid).returncode == 0
    p = cli("attach", cid, timeout=20)
    assert p.returncode == 1 and "You cannot attach to a paused container, unpause it first" in p.stderr
    assert cli("rm", "-f", name, cid).returncode == 0


def test_run_di_then_attach_sends_stdin_and_eof(cli, leakcheck):
    cid = new_id()
    p = cli("run", "-d", "-i", "--net", "none", "--name", cid, "busybox", "sh", "-c",
            "while read l; do echo got:$l; done; echo eof >&2; exit 3")
    assert p.returncode == 0, p.stderr
    p = cli("attach", cid, input="a\nb\n")
    assert p.returncode == 3
    assert p.stdout == "got:a\ngot:b\n" and p.stderr == "eof\n"
    assert cli("logs", cid).stdout == "got:a\ngot:b\n"
    assert cli("rm", cid).returncode == 0


def test_attach_to_a_container_whose_monitor_is_gone_fails_clearly(cli, leakcheck):
    cid = run_d(cli, "sleep", "60")
    _kill_monitor(cid)
    p = cli("attach", cid)
    assert p.returncode != 0 and "monitor is not running" in p.stderr
    assert cli("rm", "-f", cid).returncode == 0


def test_start_ai_pipes_stdin_to_a_created_container(cli, leakcheck):
    cid = new_id()
    assert cli("create", "-i", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "tr a-z A-Z; exit 3").returncode == 0
    p = cli("start", "-ai", cid, input="piped through\n")
    assert (p.returncode, p.stdout) == (3, "PIPED THROUGH\n"), p.stderr
    assert cli("rm", cid).returncode == 0


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_start_ai_pipes_a_long_stdin_whole(cli, leakcheck, monitor):
    """More stdin than the program's pipe holds, all of it and its end sent before the program
    reads a byte: every byte goes in, in order, then the end. The monitor threw away what it
    still held when the end came (39,397 of 50,000 lines came back), and cut the last byte of
    each 64 KiB read of ours (a message is the kind byte and the data: it received 64 KiB)."""
    cid = new_id()
    assert cli("create", "-i", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "sleep 1; cat; exit 3", env=dict(os.environ, PYCONTAINER_MONITOR=monitor)).returncode == 0
    data = "".join(f"{i}\n" for i in range(1, 100001))
    p = cli("start", "-ai", cid, input=data, timeout=60)
    assert p.returncode == 3 and p.stdout == data, (p.returncode, len(p.stdout), p.stderr)
    assert cli("rm", cid).returncode == 0


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_input_a_program_does_not_read_waits_with_us_not_in_the_monitor(cli, leakcheck, monitor):
    """50 MB piped into `start -ai` of a program that reads nothing yet: the monitor holds at
    most 1 MiB of it (it held all of it, in its memory, outside the container's limits), the
    rest waits in our pipe; then the program reads every byte. Our client reads output while
    its input waits, so a program that echoes its input does not deadlock either."""
    cid = new_id()
    env = dict(os.environ, PYCONTAINER_MONITOR=monitor)
    assert cli("create", "-i", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "until [ -e /go ]; do sleep 0.1; done; wc -c; exit 3", env=env).returncode == 0
    cdir = os.path.join("/var/lib/pycontainer/containers", cli.id_of(cid))
    p = subprocess.Popen(cli.cmd("start", "-ai", cid), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, cwd=ROOT)
    import threading
    fed = []

    def feed():
        try:
            for _ in range(50):
                p.stdin.write(b"\0" * 1000000)
                fed.append(1)
            p.stdin.close()
        except BrokenPipeError:
            pass
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        seen, end = -1, time.monotonic() + 20
        while seen != len(fed) and time.monotonic() < end:  # until the input stops going in
            seen = len(fed)
            time.sleep(0.5)
        with open(os.path.join(cdir, "monitor.json")) as f:
            mpid = json.load(f)["pid"]
        rss = []
        for _ in range(20):                                 # 1 s: nobody reads the input
            with open(f"/proc/{mpid}/status") as f:
                rss += [int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")]
            time.sleep(0.05)
        assert len(fed) < 50 and max(rss) < 24 << 10, (len(fed), max(rss))   # KiB
        assert cli("exec", cid, "touch", "/go").returncode == 0
        t.join(timeout=60)                  # (communicate would close the input under it)
        out = p.stdout.read()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out.strip()) == (3, b"50000000")
    assert cli("start", "-ai", cid, input="x" * 3000000 + "\n").stdout.strip() == "3000001"
    assert cli("rm", cid).returncode == 0


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_a_program_echoing_a_long_input_does_not_deadlock(cli, leakcheck, monitor):
    """8 MB through `sed p` (each line twice) under start -ai: our input is held back (1 MiB in
    the monitor) while its output is too (a client that has not taken it); each side keeps
    draining the other because the client never blocks sending. With a blocking send it hung
    (seen by hand: the client stuck in send, sed in write)."""
    cid = new_id()
    assert cli("create", "-i", "--net", "none", "--name", cid, "busybox", "sed", "p",
               env=dict(os.environ, PYCONTAINER_MONITOR=monitor)).returncode == 0
    lines = [f"{i:015d}\n" for i in range(500000)]
    p = cli("start", "-ai", cid, input="".join(lines), timeout=60)
    assert p.returncode == 0 and p.stdout == "".join(ln + ln for ln in lines), \
        (len(p.stdout), p.stderr)
    assert cli("rm", cid).returncode == 0


def test_start_ai_again_after_it_exited_and_start_i_attaches(cli, leakcheck):
    """docker's start -ai of an exited container starts it again and attaches (it failed:
    "the container's monitor is not running": the monitor of the last run had gone, and
    the new one was made and started in one step, before we could connect). start -i alone
    attaches too, as docker/cli's does."""
    cid = new_id()
    assert cli("create", "-i", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "read x; echo got $x; exit 4").returncode == 0
    for how, line in (("-ai", "one"), ("-ai", "two"), ("-i", "three")):
        p = cli("start", how, cid, input=line + "\n")
        assert (p.returncode, p.stdout) == (4, f"got {line}\n"), (how, p.stderr)
    assert cli("logs", cid).stdout == "got one\ngot two\ngot three\n"
    assert cli("rm", cid).returncode == 0


def test_start_a_forwards_signals_to_the_program(cli, leakcheck):
    """docker/cli's start -a (without a terminal) forwards the signals it gets to the
    program, as attach does."""
    cid = new_id()
    assert cli("create", "--net", "none", "--name", cid, "busybox", "sh", "-c",
               "trap 'echo got-term; exit 9' TERM; echo ready; "
               "while :; do sleep 0.1; done").returncode == 0
    p = subprocess.Popen(cli.cmd("start", "-a", cid), stdout=subprocess.PIPE, cwd=ROOT)
    try:
        read_until(p, b"ready\n")
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out) == (9, b"got-term\n")
    assert cli("rm", cid).returncode == 0


def test_wait_gets_the_status_of_a_rm_container(cli, leakcheck):
    """run -d --rm, then wait: the status, though the container (and its exit.json) goes as the
    program exits (it was -1: the directory was gone before wait looked). Each wait starts
    long before its program exits (3 s): one that came after the removal would rightly say
    there is no such container."""
    waits = []
    for code in (3, 0, 7):
        p = cli("run", "-d", "--rm", "--net", "none", "busybox", "sh", "-c", f"sleep 3; exit {code}")
        assert p.returncode == 0, p.stderr
        cid = p.stdout.strip()
        waits.append((code, cid, subprocess.Popen(cli.cmd("wait", cid), stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True, cwd=ROOT)))
    for code, cid, w in waits:
        out, err = w.communicate(timeout=60)
        assert (w.returncode, out.strip()) == (0, str(code)), err
    for _code, cid, _w in waits:
        assert gone_from_ps(cli, cid)


def gone_from_ps(cli, cid: str, within: float = 10) -> bool:
    """Whether ``cid`` leaves ``ps -a`` within ``within`` seconds (an --rm one's removal)."""
    deadline = time.monotonic() + within
    while cid in cli("ps", "-aq", "--no-trunc").stdout:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def holds_pidfd_of(pid: int, target: int) -> bool:
    """Whether process ``pid`` has a pidfd of ``target`` open (pidfd fdinfo: "Pid: N")."""
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                if f"Pid:\t{target}\n" in f.read():
                    return True
        except OSError:
            pass
    return False


def catches(pid: int, signum: int) -> bool:
    """Whether ``pid`` has a handler for ``signum`` (/proc/PID/status SigCgt)."""
    with open(f"/proc/{pid}/status") as f:
        cgt = next(line.split()[1] for line in f if line.startswith("SigCgt:"))
    return bool(int(cgt, 16) >> (signum - 1) & 1)


def test_wait_stopped_across_the_exit_of_a_rm_container_still_gets_its_status(cli, leakcheck):
    """The race of wait with --rm's removal, put on cue: the waiter is stopped (SIGSTOP) while
    the program exits and its monitor, then `delete`, removes the container. Continued, the
    waiter prints the status: the removal waits for a waiter already waiting (it holds the
    directory's shared flock until it has read exit.json). It printed -1."""
    p = cli("run", "-d", "--rm", "--net", "none", "busybox", "sh", "-c",
            "trap 'exit 5' TERM; sleep 60 & wait")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    cdir = os.path.join(CDIR, cid)
    init = cli.state(cid)["pid"]
    w = subprocess.Popen(cli.cmd("wait", cid), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (holds_pidfd_of(w.pid, init) and catches(init, signal.SIGTERM)):
            assert w.poll() is None and time.monotonic() < deadline, w.communicate()
            time.sleep(0.01)
        os.kill(w.pid, signal.SIGSTOP)             # waiting on the init's pidfd: stopped there
        os.kill(init, signal.SIGTERM)              # the program exits (5)
        deadline = time.monotonic() + 10           # its monitor writes exit.json (or removes all)
        while os.path.isdir(cdir) and not os.path.exists(os.path.join(cdir, "exit.json")):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        deadline = time.monotonic() + 1.5          # and becomes `delete`: as far as it gets
        while os.path.isdir(cdir) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.kill(w.pid, signal.SIGCONT)
    out, err = w.communicate(timeout=30)
    assert (w.returncode, out.strip()) == (0, "5"), err
    assert gone_from_ps(cli, cid)
    assert not os.path.exists(cdir)
