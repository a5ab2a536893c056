"""docker run's flags (issue 15): --env-file, -e NAME, --label, --stop-signal, --stop-timeout,
--cidfile, --platform, --tmpfs, --shm-size, --ulimit, --add-host, --dns, --dns-search; and a
stopped container gives back its published ports and IP (they come back on start).

The port test publishes on 127.0.0.1 and sends no traffic.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, logged, new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root


def test_env_file_env_name_label(cli, dleak, tmp_path):
    f = tmp_path / "env"
    f.write_text("# c\nA=1\nPASSED\n")
    cid = new_id()
    env = dict(os.environ, PASSED="from-caller")
    p = cli("run", "--net", "none", "--name", cid, "--env-file", str(f), "-e", "PASSED", "-e", "UNSET_X",
            "--label", "tier=web", "-l", "flag", "busybox", "sh", "-c",
            "echo $A $PASSED ${UNSET_X-unset}", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1 from-caller unset"
    labels = json.loads(cli("inspect", "-f", "{{json .Config.Labels}}", cid).stdout)
    assert labels == {"tier": "web", "flag": ""}
    assert cli("ps", "-aq", "--filter", "label=tier=web").stdout.split() == [cli.id_of(cid)[:12]]
    cli("rm", cid)


def test_stop_signal_and_timeout_are_used_by_stop(cli, dleak):
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "--stop-signal", "USR1",
               "--stop-timeout", "1", "busybox", "sh", "-c",
               "trap 'exit 7' USR1; echo ready; while :; do sleep 0.1; done").returncode == 0
    logged(cli, cid, "ready")                          # USR1 from here on is the trap's
    assert cli("stop", cid).returncode == 0
    assert cli("wait", cid).stdout.strip() == "7"
    cli("rm", cid)
    cid = new_id()
    cli("run", "-d", "--net", "none", "--name", cid, "--stop-timeout", "1", "busybox", "sleep", "60")
    t0 = time.monotonic()
    assert cli("stop", cid).returncode == 0             # SIGTERM ignored: SIGKILL after 1 s
    assert 0.8 < time.monotonic() - t0 < 6
    assert cli("wait", cid).stdout.strip() == "137"
    cli("rm", cid)


def test_cidfile_and_platform(cli, dleak, tmp_path):
    cidfile = tmp_path / "cid"
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "--cidfile", str(cidfile),
               "busybox", "true").returncode == 0
    assert cidfile.read_text() == cli.id_of(cid)                  # the ID, as docker writes it
    p = cli("run", "--net", "none", "--cidfile", str(cidfile), "busybox", "true")
    assert p.returncode == 125 and "exists" in p.stderr
    cli("wait", cid)
    cli("rm", cid)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    assert cli("run", "--rm", "--net", "none", "--platform", f"linux/{arch}", "busybox",
               "true").returncode == 0
    other = "linux/s390x" if arch != "s390x" else "linux/amd64"
    p = cli("run", "--rm", "--net", "none", "--platform", other, "busybox", "true")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1


def test_tmpfs_shm_ulimit_hosts_dns(cli, dleak):
    p = cli("run", "--rm", "--net", "none", "--tmpfs", "/scratch", "--shm-size", "1m",
            "--ulimit", "nofile=100:200", "--add-host", "db:10.1.2.3", "--dns", "192.0.2.53",
            "--dns-search", "example.org", "busybox", "sh", "-c",
            "grep -E ' /(scratch|dev/shm) ' /proc/mounts; ulimit -n; ulimit -Hn; "
            "grep db /etc/hosts; cat /etc/resolv.conf")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec" in out
    assert "size=1024k" in out.split("/dev/shm")[1].splitlines()[0]
    assert "\n100\n200\n" in out
    assert "10.1.2.3\tdb" in out and "nameserver 192.0.2.53" in out and "search example.org" in out
    for bad in (["--ulimit", "nofile=9:1"], ["--shm-size", "huge"], ["--tmpfs", "rel"],
                ["--add-host", "x"], ["--dns", "nope"]):
        p = cli("run", "--rm", "--net", "none", *bad, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, (bad, p.stderr)
    # a file onto a directory: docker's hint (the kernel says only "Not a directory")
    p = cli("run", "--rm", "--net", "none", "-v", "/etc/hostname:/etc", "busybox", "true")
    assert p.returncode == 125 and p.stderr.strip().splitlines() == [
        "pycontainer: mount bind '/etc/hostname' on '/etc': Not a directory (a directory onto a "
        "file, or a file onto a directory?)"]
    # options only the kernel refuses: the error names them (was "mount tmpfs 0: Invalid argument")
    p = cli("run", "--rm", "--net", "none", "--tmpfs", "/x:size=abc", "busybox", "true")
    assert p.returncode == 125 and p.stderr.strip().splitlines() == [
        "pycontainer: mount tmpfs 'tmpfs' on '/x' with options 'size=abc': Invalid argument"]


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_label_file_dns_option_and_volume_driver(cli, dleak, tmp_path):
    f = tmp_path / "labels"
    f.write_text("# team\ntier=web\nowner=ci\n")
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "--label-file", str(f), "-l", "tier=db",
            "--dns-option", "ndots:2", "--dns-option", "timeout:1", "--volume-driver", "local",
            "busybox", "grep", "^options", "/etc/resolv.conf")
    try:
        assert (p.returncode, p.stdout) == (0, "options ndots:2 timeout:1\n"), p.stderr
        labels = json.loads(cli("inspect", "-f", "{{json .Config.Labels}}", cid).stdout)
        assert labels == {"tier": "db", "owner": "ci"}             # -l wins over the file
    finally:
        cli("rm", cid)
    for bad in (("--label-file", str(tmp_path / "none")), ("--volume-driver", "nfs")):
        p = cli("run", "--rm", "--net", "none", *bad, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.splitlines()) == 1, (bad, p.stderr)


def test_a_stopped_container_gives_back_its_port_and_ip(cli, dleak):
    port = _free_port()
    cid = new_id()
    assert cli("run", "-d", "--name", cid, "-p", f"127.0.0.1:{port}:80", "busybox",
               "sleep", "60").returncode == 0
    try:
        ip = cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid).stdout.strip()
        assert ip.count(".") == 3
        p = cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
        assert p.returncode == 125                             # taken while it runs
        assert cli("stop", "-t", "0", cid).returncode == 0
        for _ in range(100):                                   # the monitor gives them back
            if cli("port", cid).stdout.strip() == "":
                break
            time.sleep(0.05)
        assert cli("port", cid).stdout.strip() == ""
        assert cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid).stdout.strip() == ""
        assert cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true").returncode == 0
        assert cli("start", cid).returncode == 0                # and they come back on start
        assert cli("port", cid).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
    finally:
        cli("rm", "-f", cid)


def test_foreground_run_gives_back_its_ip(cli, dleak):
    cid = new_id()
    port = _free_port()
    assert cli("run", "--name", cid, "-p", f"127.0.0.1:{port}:80", "busybox", "true").returncode == 0
    assert cli("port", cid).stdout.strip() == ""
    assert cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true").returncode == 0
    cli("rm", cid)


def test_restart_policies(cli, dleak):
    a = new_id()
    assert cli("run", "-d", "--net", "none", "--name", a, "--restart", "on-failure:2", "busybox",
               "sh", "-c", "echo ran; exit 4").returncode == 0
    for _ in range(100):
        if cli("logs", a).stdout.count("ran") == 3 and \
                cli("inspect", "-f", "{{.State.Status}}", a).stdout.strip() == "exited":
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert cli("logs", a).stdout.count("ran") == 3                # 1 run + 2 restarts, then no more
    assert cli("inspect", "-f", "{{.RestartCount}} {{.State.ExitCode}}", a).stdout.split() == ["2", "4"]
    b = new_id()
    assert cli("run", "-d", "--net", "none", "--name", b, "--restart", "always", "busybox",
               "sh", "-c", "echo up; sleep 0.2").returncode == 0
    for _ in range(100):
        if cli("logs", b).stdout.count("up") >= 2:
            break
        time.sleep(0.1)
    assert cli("logs", b).stdout.count("up") >= 2                  # exit 0 restarts too
    # a user's stop ends it, at once: also one waiting out its backoff, or being restarted
    # (test_restart_stop_race.py holds it there), is "exited" when stop returns
    assert cli("stop", "-t", "1", b).returncode == 0
    assert cli("inspect", "-f", "{{.State.Status}}", b).stdout.strip() == "exited"
    n = cli("logs", b).stdout.count("up")
    time.sleep(1.5)                     # a guard (past the backoffs it can have reached): no new run
    assert cli("logs", b).stdout.count("up") == n
    assert cli("inspect", "-f", "{{.State.Status}}", b).stdout.strip() == "exited"
    for bad in (["--restart", "sometimes"], ["--restart", "always:3"], ["--rm", "--restart", "always"]):
        p = cli("run", "--net", "none", *bad, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, (bad, p.stderr)
    cli("rm", "-f", a, b)


def _processes_of(cid: str) -> list[str]:
    out = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if f"--id {cid} ".encode() in f.read().replace(b"\0", b" "):
                    out.append(p)
        except OSError:
            pass
    return out


def test_rm_f_of_a_restart_always_container_leaves_nothing(cli, dleak):
    # the monitor restarted what rm -f had killed: a new run came up, with its monitor and
    # cgroup, after the container's dir and state were gone
    cid = new_id()
    p = cli("run", "-d", "--net", "none", "--name", cid, "--restart", "always", "busybox", "sleep", "60")
    assert p.returncode == 0
    full = p.stdout.strip()                   # the ID: what the monitor's --id and the dir say
    time.sleep(0.3)
    assert cli("rm", "-f", cid).returncode == 0
    time.sleep(1.5)                                       # past the first restart's 100 ms backoff
    assert cid not in cli("ps", "-a", "--format", "{{.Names}}").stdout
    assert _processes_of(full) == []                     # no monitor of it (its --id) is left
    assert not os.path.exists(os.path.join("/var/lib/pycontainer/containers", full))
    # rm (no -f) of a created one: its init is killed too, and came back as a running husk
    p = cli("create", "--net", "none", "--name", cid, "--restart", "on-failure:2", "busybox", "true")
    assert p.returncode == 0
    full = p.stdout.strip()
    assert cli("rm", cid).returncode == 0
    time.sleep(1.0)
    assert cid not in cli("ps", "-a", "--format", "{{.Names}}").stdout
    assert not os.path.exists(os.path.join(ROOT, full)) and _processes_of(full) == []
    # a refused rm (running, no -f) leaves the policy working: the mark is taken back
    p = cli("run", "-d", "--net", "none", "--name", cid, "--restart", "always", "busybox", "sleep", "60")
    assert p.returncode == 0
    try:
        p2 = cli("rm", cid)                  # docker's words (were runc's "delete ... --force")
        assert p2.returncode == 1 and p2.stderr.strip().splitlines() == [
            f'pycontainer: cannot remove container "/{cid}": container is running: stop the '
            "container before removing or force remove (rm -f)"]
        assert not os.path.exists(os.path.join("/var/lib/pycontainer/containers", p.stdout.strip(),
                                               "stopped-by-user"))
    finally:
        cli("rm", "-f", cid)


def test_init_is_pid_1_forwards_signals_and_reaps(cli, dleak):
    p = cli("run", "--rm", "--init", "--net", "none", "busybox", "sh", "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 3")
    assert p.returncode == 3 and p.stdout.startswith("/run/pycontainer-init -- sh"), p.stdout
    cid = new_id()
    assert cli("run", "-d", "--init", "--net", "none", "--name", cid, "busybox", "sleep", "60").returncode == 0
    t0 = time.monotonic()
    assert cli("stop", cid).returncode == 0
    assert time.monotonic() - t0 < 5                       # SIGTERM reached sleep: no 10 s wait
    assert cli("wait", cid).stdout.strip() == "143"
    cli("rm", cid)


def test_health_cmd_shows_in_ps_and_inspect(cli, dleak):
    cid = new_id()
    assert cli("run", "-d", "--net", "none", "--name", cid, "--health-cmd", "test -e /ok",
               "--health-interval", "200ms", "--health-retries", "2", "busybox",
               "sleep", "60").returncode == 0
    try:
        def status():
            return cli("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip()
        for _ in range(100):
            if status() == "unhealthy":
                break
            time.sleep(0.1)
        assert status() == "unhealthy"
        assert "(unhealthy)" in cli("ps").stdout
        assert cli("exec", cid, "touch", "/ok").returncode == 0
        for _ in range(100):
            if status() == "healthy":
                break
            time.sleep(0.1)
        assert status() == "healthy" and "(healthy)" in cli("ps").stdout
        log = json.loads(cli("inspect", "-f", "{{json .State.Health.Log}}", cid).stdout)
        assert log[-1]["ExitCode"] == 0 and len(log) <= 5
        assert log[-1]["Start"] <= log[-1]["End"] and log[-1]["End"].endswith("Z")   # RFC 3339
        hc = json.loads(cli("inspect", "-f", "{{json .Config.Healthcheck}}", cid).stdout)
        assert hc["Interval"] == 200_000_000 and hc["Retries"] == 2 and "test -e /ok" in hc["Test"][-1]
    finally:
        cli("rm", "-f", cid)
    p = cli("run", "--rm", "--net", "none", "--health-interval", "5x", "busybox", "true")
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1
    # docker create, then start: the checker starts with the program, as with run -d
    cid = new_id()
    assert cli("create", "--net", "none", "--name", cid, "--health-cmd", "true",
               "--health-interval", "200ms", "busybox", "sleep", "60").returncode == 0
    try:
        assert cli("start", cid).returncode == 0
        for _ in range(100):
            if cli("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() == "healthy":
                break
            time.sleep(0.1)
        assert cli("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() == "healthy"
    finally:
        cli("rm", "-f", cid)


def test_sig_proxy_false_the_container_outlives_its_client(cli, dleak):
    # docker run --sig-proxy=false: Ctrl-C ends the client, not the program (docker's daemon
    # keeps it); here the program runs under its monitor and the client only attaches
    cid = new_id()
    p = cli("run", "--rm", "--net", "none", "--sig-proxy=false", "busybox", "sh", "-c",
            "echo out; echo err >&2; exit 3")
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    p = cli("run", "-i", "--rm", "--net", "none", "--sig-proxy=false", "busybox", "cat", input="piped\n")
    assert (p.returncode, p.stdout) == (0, "piped\n")
    # the program runs until the test ends it (USR1), so a stalled host cannot let it finish
    # before the check; it says "ready" once its traps are set, and a forwarded INT would
    # show as "int" and exit 9
    prog = ("trap 'echo int; exit 9' INT; trap 'echo finished; exit 0' USR1; echo ready; "
            "while :; do sleep 0.05; done")
    client = subprocess.Popen(cli.cmd("run", "--net", "none", "--sig-proxy=false", "--name", cid,
                                      "busybox", "sh", "-c", prog),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        logged(cli, cid, "ready")
        client.send_signal(signal.SIGINT)
        assert client.wait(10) != 0
        assert cli("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "running"
        assert cli("kill", "-s", "USR1", cid).returncode == 0
        assert cli("wait", cid).stdout.strip() == "0"
        assert cli("logs", cid).stdout == "ready\nfinished\n"
        p = cli("run", "--rm", "--net", "none", "--sig-proxy=maybe", "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1
    finally:
        cli("rm", "-f", cid)


def test_attach_picks_the_streams_as_docker(cli, dleak):
    # docker run -a STREAM: only those streams reach the caller (the log keeps both); stdin
    # only with -i and -a stdin; -a with -d is docker's conflict; a bad stream is 125
    prog = ["busybox", "sh", "-c", "echo out; echo err >&2; cat"]
    cid = new_id()
    p = cli("run", "--net", "none", "--name", cid, "-i", "-a", "stdout", *prog, input="in\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "out\n", "")
    assert cli("logs", cid).stdout == "out\n"                       # stdin never reached cat
    got = cli("inspect", "-f", "{{.Config.AttachStdin}} {{.Config.AttachStdout}} "
              "{{.Config.AttachStderr}}", cid).stdout.split()
    assert got == ["false", "true", "false"]
    cli("rm", cid)
    p = cli("run", "--rm", "--net", "none", "-i", "-a", "STDERR", "-a", "stdin", *prog, input="in\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "err\n")
    p = cli("run", "--rm", "--net", "none", "-i", "-a", "stdin", "-a", "stdout", *prog, input="in\n")
    assert (p.returncode, p.stdout) == (0, "out\nin\n")
    for args, msg in ((("-d", "-a", "stdout"), "Conflicting options: -a and -d"),
                      (("-a", "stdio"), 'invalid argument "stdio" for "-a, --attach" flag')):
        p = cli("run", "--rm", "--net", "none", *args, "busybox", "true")
        assert p.returncode == 125 and msg in p.stderr and len(p.stderr.splitlines()) == 1
    assert cli("ps", "-aq").stdout == ""


def _free_run(n: int) -> int:
    """The first of ``n`` consecutive host ports that are free on 127.0.0.1 now."""
    for _ in range(50):
        base = _free_port()
        if base + n > 65535:
            continue
        held = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise AssertionError("no run of free ports")


def test_published_ports_are_discarded_off_the_bridge_with_dockers_warning(cli, dleak):
    """-p or -P with --network host: docker runs the container and warns that the ports are
    discarded (podman does the same for none); it was refused with 'ports can only be
    published in bridge mode'. Nothing is published: no nft element, no NAT rule."""
    for net in ("host", "none"):
        for flags in (("-p", "8099:80"), ("-P", "--expose", "80")):
            p = cli("run", "--rm", "--network", net, *flags, "busybox", "echo", "ran")
            assert (p.returncode, p.stdout) == (0, "ran\n"), (net, flags, p.stderr)
            assert p.stderr == f"pycontainer: warning: Published ports are discarded when using {net} network mode\n"
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert "8099" not in nft


def test_publish_port_ranges_as_docker(cli, dleak):
    # docker's -p ranges (nat.ParsePortSpec): A-B:C-D one to one; A-B:C the first free host
    # port of the range; C-D alone a free host port each. All were "malformed port".
    base = _free_run(3)
    cid = new_id()
    p = cli("run", "-d", "--name", cid, "-p", f"127.0.0.1:{base}-{base + 1}:80-81",
            "busybox", "httpd", "-f", "-p", "81")
    assert p.returncode == 0, p.stderr
    try:
        assert cli("port", cid).stdout.splitlines() == [
            f"80/tcp -> 127.0.0.1:{base}", f"81/tcp -> 127.0.0.1:{base + 1}"]
        for _ in range(50):                       # httpd answers on 81 through base+1
            try:
                with socket.create_connection(("127.0.0.1", base + 1), timeout=2) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1"):
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("nothing answered on the second port of the range")
    finally:
        cli("rm", "-f", cid)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", base))               # the range's first host port is in use
    try:
        p = cli("run", "-d", "--name", cid, "-p", f"127.0.0.1:{base}-{base + 2}:80/udp",
                "-p", "90-91", "busybox", "sleep", "30")
        assert p.returncode == 0, p.stderr
        out = cli("port", cid).stdout.splitlines()
        assert f"80/udp -> 127.0.0.1:{base + 1}" in out, out
        assert {line.split()[0] for line in out} == {"80/udp", "90/tcp", "91/tcp"}
    finally:
        taken.close()
        cli("rm", "-f", cid)
    for bad, words in ((f"{base}-{base + 1}:80-82", "ranges"), ("82-80", "must go up")):
        p = cli("run", "--rm", "-p", bad, "busybox", "true")
        assert p.returncode == 125 and p.stderr.count("\n") == 1 and words in p.stderr, p.stderr
