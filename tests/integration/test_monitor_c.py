"""The C monitor (csrc/monitor.c, ``pycontainer-monitor``) writes what the Python monitor
(pycontainer/monitor.py) writes, byte for byte but the time stamps: json.log (docker's
json-file lines, 16 KiB splits, UTF-8 with U+FFFD for bad bytes, JSON escapes, rotation),
exit.json (status, signal, OOM), then execs its follow-up command; and it stays under the
issue's 2 MiB of private memory. Each monitor is given a child of its own (the "init") that
writes the same bytes, as detach.py sets it up: the init is the monitor's child across execve.
The end-to-end duties (attach, logs, wait, --rm) run through the monitor detach.py picks, in
test_porcelain.py, test_tty.py, test_docker_logopts.py and the API tests."""

import json
import os
import random
import re
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "pycontainer")
C_MONITOR = os.path.join(PKG, "pycontainer-monitor")

pytestmark = pytest.mark.skipif(not os.access(C_MONITOR, os.X_OK),
                                reason="pycontainer-monitor not built (setup.py build_ext)")

# The launcher: pipes, a child that writes the payload and exits as told, then exec the monitor.
LAUNCH = textwrap.dedent("""
    import json, os, signal, sys, time
    spec = json.load(open(sys.argv[1]))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r); os.close(err_r)
        for stream, hexdata, pause in spec["payload"]:
            data = bytes.fromhex(hexdata)
            fd = out_w if stream == 1 else err_w
            while data:
                data = data[os.write(fd, data):]
            time.sleep(pause)
        if spec.get("signal"):
            os.kill(os.getpid(), spec["signal"])
        os._exit(spec.get("code", 0))
    os.close(out_w); os.close(err_w)
    os.set_inheritable(out_r, True); os.set_inheritable(err_r, True)
    argv = spec["cmd"] + ["--pid", str(pid), "--log", spec["log"], "--exit", spec["exit"],
                          "--fd", "stdout=%d" % out_r, "--fd", "stderr=%d" % err_r] + spec["args"]
    os.execv(argv[0], argv)
""")


def monitor(kind: str, d, payload, *, args=(), code=0, signal=0, during=None):
    """Run one monitor over ``payload`` [(stream, bytes, pause)] in directory ``d``."""
    os.makedirs(d, exist_ok=True)
    cmd = [C_MONITOR] if kind == "c" else [sys.executable, "-I", "-S", "-c",
                                           "import sys; sys.path.insert(0, sys.argv[1]); import monitor; "
                                           "monitor.run(sys.argv[2:])", PKG]
    spec = {"payload": [(s, b.hex(), p) for s, b, p in payload], "code": code, "signal": signal,
            "cmd": cmd, "log": os.path.join(d, "json.log"), "exit": os.path.join(d, "exit.json"),
            "args": list(args)}
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(spec, f)
    p = subprocess.Popen([sys.executable, "-I", "-c", LAUNCH, os.path.join(d, "spec.json")])
    if during:
        during(p.pid)
    assert p.wait(timeout=60) == 0


def entries(path: str) -> list:
    """The lines of a json.log, the time checked for its format and taken out."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            e = json.loads(line)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", e.pop("time")), line
            out.append(e)
    return out


def per_stream(es):
    return {s: [e["log"] for e in es if e["stream"] == s] for s in ("stdout", "stderr")}


def raw_without_time(path: str) -> bytes:
    with open(path, "rb") as f:
        return re.sub(rb'"time":"[^"]*"', b'"time":""', f.read())


NASTY = [
    (1, b"plain line\n", 0),
    (2, b'quotes " and \\ backslash \\n not a newline\n', 0),
    (1, bytes(range(0, 32)) + b"\x7f\n", 0),
    (1, "héllo wörld € 𝄞 日本\n".encode(), 0),
    (2, b"bad: \xff \xfe \xc0\xaf \xe0\x80\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xf0\x9f\x98 end\n", 0),
    (1, b"crlf\r\n", 0),
    (1, b"x" * 40000 + b"\n", 0),                        # split at 16 KiB, as docker does
    (2, b"a" * 16383 + "€".encode() + b"tail\n", 0),    # a split in the middle of a character
    (1, b"no newline at the end", 0),
]


def test_same_log_and_exit_as_the_python_monitor(tmp_path):
    rnd = random.Random(14)
    fuzz = [(rnd.choice((1, 2)), bytes(rnd.choice(b"ab\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\x00\"\\")
                                       for _ in range(rnd.randrange(1, 3000))), 0) for _ in range(60)]
    payload = NASTY[:-1] + fuzz + NASTY[-1:]
    got = {}
    for kind in ("py", "c"):
        monitor(kind, tmp_path / kind, payload, code=3)
        got[kind] = (per_stream(entries(tmp_path / kind / "json.log")),
                     json.load(open(tmp_path / kind / "exit.json")))
    (py_log, py_exit), (c_log, c_exit) = got["py"], got["c"]
    assert c_log == py_log
    assert sum(len(v) for v in c_log["stdout"]) > 40000
    assert "\ufffd" in "".join(c_log["stderr"])
    assert c_log["stdout"][-1].endswith("no newline at the end")   # flushed at the end
    assert py_exit.pop("finished_at") and c_exit.pop("finished_at")
    assert c_exit == py_exit == {"exit_code": 3, "signal": 0, "oom_killed": False}
    assert not os.path.exists(tmp_path / "c" / "exit.json.tmp")


def test_rotation_signal_oom_and_the_follow_up_command(tmp_path):
    # one stream: the order of two pipes' reads is the scheduler's, not the monitor's
    payload = [(1, b"line %04d %s\n" % (i, b"z" * (i % 50)), 0) for i in range(300)]
    oom = tmp_path / "memory.events"
    oom.write_text("oom 2\noom_kill 2\n")
    for kind in ("py", "c"):
        d = tmp_path / kind
        then = ["/bin/sh", "-c", f"echo $0 > {d}/then.txt", "ran"]
        monitor(kind, d, payload, signal=15,
                args=["--log-max-size", "2000", "--log-max-file", "3", "--oom", str(oom),
                      "--oom-before", "1", "--", *then])
    for name in ("json.log", "json.log.1", "json.log.2"):
        assert raw_without_time(tmp_path / "c" / name) == raw_without_time(tmp_path / "py" / name)
        assert os.path.getsize(tmp_path / "c" / name) <= 2000
    assert not os.path.exists(tmp_path / "c" / "json.log.3")
    c_exit = json.load(open(tmp_path / "c" / "exit.json"))
    c_exit.pop("finished_at")
    assert c_exit == {"exit_code": 143, "signal": 15, "oom_killed": True}
    assert (tmp_path / "c" / "then.txt").read_text() == "ran\n"


def private_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return sum(int(ln.split()[1]) for ln in f if ln.startswith(("Private_Clean", "Private_Dirty")))


def test_the_c_monitor_stays_under_2_mib_private(tmp_path):
    seen = []

    def measure(launcher_pid):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:          # the launcher has become the monitor
            try:
                if os.readlink(f"/proc/{launcher_pid}/exe") == C_MONITOR:
                    break
            except OSError:
                pass
            time.sleep(0.02)
        time.sleep(0.5)                              # after a 1 MiB burst of output
        seen.append(private_kb(launcher_pid))
    monitor("c", tmp_path, [(1, b"y" * 1000 + b"\n", 0)] * 1000 + [(1, b"done\n", 2)], during=measure)
    assert seen and seen[0] < 2048, f"private memory of the C monitor: {seen} kB"
    print(f"C monitor private memory after 1 MiB of output: {seen[0]} kB")
    assert len(entries(tmp_path / "json.log")) == 1001
