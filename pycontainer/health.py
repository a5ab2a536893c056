"""Health checks: ``--health-cmd`` (or the image's HEALTHCHECK) run in the container on a timer.

docker's rules (its "HEALTHCHECK" reference): every ``interval`` (30 s) the
command runs in the container, as ``exec`` would; exit 0 is healthy, anything
else (or running past ``timeout``, 30 s) a failure; ``retries`` (3) failures
in a row make the container ``unhealthy``; failures during ``start-period``
do not count. ``CMD-SHELL x`` (and ``--health-cmd x``) run ``/bin/sh -c x``.

A small process per checked container does it (started detached, with
setsid, by ``run -d`` and by ``start``; it ends when the container stops)
and keeps ``health.json`` in the container's directory: ``{"Status":
"starting|healthy|unhealthy", "FailingStreak", "Log": [the last 5 results]}``,
which ``inspect`` shows as ``State.Health`` and ``ps`` as ``(healthy)``.

Read: docker's Dockerfile reference "HEALTHCHECK", "docker run --health-*".
"""

from __future__ import annotations

import json
import os
import sys
import time

from .errors import PyContainerError

FILE = "health.json"
_NS = 1_000_000_000


def config(opts: dict, image_config: dict | None) -> dict | None:
    """The check to run: the flags over the image's HEALTHCHECK; None for none."""
    img = ((image_config or {}).get("config") or {}).get("Healthcheck") or {}
    if opts.get("no_healthcheck"):
        return None
    test = img.get("Test") or []
    if opts.get("health_cmd"):
        test = ["CMD-SHELL", opts["health_cmd"]]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        cmd = ["/bin/sh", "-c", " ".join(test[1:])]
    elif test[0] == "CMD":
        cmd = list(test[1:])
    else:
        raise PyContainerError(f"healthcheck {test!r}: want CMD, CMD-SHELL or NONE")

    def dur(flag, key, default):
        v = opts.get(flag)
        return _seconds(v, "--" + flag.replace("_", "-")) if v else \
            (img.get(key) / _NS if img.get(key) else default)
    retries = opts.get("health_retries")
    return {"cmd": cmd, "interval": dur("health_interval", "Interval", 30.0),
            "timeout": dur("health_timeout", "Timeout", 30.0),
            "start_period": dur("health_start_period", "StartPeriod", 0.0),
            "retries": int(retries) if retries is not None else int(img.get("Retries") or 3)}


def check_flags(opts: dict) -> None:
    for flag in ("health_interval", "health_timeout", "health_start_period"):
        if opts.get(flag):
            _seconds(opts[flag], "--" + flag.replace("_", "-"))
    if opts.get("health_retries") is not None and opts["health_retries"] < 0:
        raise PyContainerError(f"--health-retries {opts['health_retries']}: must be 0 or more")


def _seconds(text: str, flag: str) -> float:
    from .duration import seconds
    try:
        value = seconds(text, bare_seconds=True)
    except ValueError:
        raise PyContainerError(f"{flag} {text!r}: give a duration like 500ms, 10s or 1m30s") from None
    if value < 0:
        raise PyContainerError(f"{flag} {text!r}: cannot be negative")
    return value


def read(cdir: str) -> dict | None:
    try:
        with open(os.path.join(cdir, FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write(cdir: str, h: dict) -> None:
    from . import atomicfile
    atomicfile.write_json(os.path.join(cdir, FILE), h)


def spawn(root: str, cid: str) -> None:
    """Start the checker for ``cid`` in the background (nobody's child, own session)."""
    from . import selfcmd
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.execv(sys.executable, selfcmd.argv(root, ["health-loop", cid]))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def loop(root: str, cid: str, check: dict, cdir: str) -> None:
    """Run the check until the container stops."""
    import subprocess                   # here: config() runs on every `run`, the loop only in the checker
    from . import containerdir, selfcmd
    from .container import Runtime
    rt = Runtime(root)
    t0 = time.monotonic()
    h = {"Status": "starting", "FailingStreak": 0, "Log": []}
    _write(cdir, h)
    while True:
        time.sleep(check["interval"])
        try:
            if rt.state(cid)["status"] not in ("running", "paused"):
                return
        except PyContainerError:
            return
        start = containerdir.rfc3339(time.time_ns())
        try:
            p = subprocess.run(selfcmd.argv(root, ["exec", cid, *check["cmd"]]), capture_output=True,
                               timeout=check["timeout"], stdin=subprocess.DEVNULL)
            code, out = p.returncode, (p.stdout + p.stderr).decode(errors="replace")
        except subprocess.TimeoutExpired:
            code, out = -1, f"Health check exceeded timeout ({check['timeout']}s)"
        end = containerdir.rfc3339(time.time_ns())      # docker's RFC 3339 times
        h["Log"] = (h["Log"] + [{"Start": start, "End": end, "ExitCode": code, "Output": out[-4096:]}])[-5:]
        if code == 0:
            h["Status"], h["FailingStreak"] = "healthy", 0
        elif time.monotonic() - t0 >= check["start_period"]:
            h["FailingStreak"] += 1
            if h["FailingStreak"] >= check["retries"]:
                h["Status"] = "unhealthy"
        if not os.path.isdir(cdir):
            return
        _write(cdir, h)
