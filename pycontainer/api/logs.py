"""A container's output for the API: ``logs`` (since/until/tail/timestamps, follow) and ``attach``,
and ``Recorder``, which keeps a foreground ``containers.run``'s output for them.

The monitor (detach.py) appends the program's output to the container's
json.log (containerdir.py), one JSON object a line with its RFC 3339 time,
as docker's json-file driver does. Reading it needs no process of ours: the
lines are read from an offset, and ``follow`` polls until the monitor is
gone (its pid, from monitor.json). ``since``/``until`` (a datetime or Unix
seconds, as the docker SDK takes them; the CLI's spellings through
``duration.point_in_time``) compare with each line's time.
Reading marks the container active (``containerdir.touch``, for ``idle_timeout``).
"""

from __future__ import annotations

import os
import time

from .. import containerdir as cd


def _seconds(t) -> float | None:
    if t is None:
        return None
    if hasattr(t, "timestamp"):
        return t.timestamp()
    return float(t)


def line_time(prefix: bytes) -> float:
    """'2026-11-29T16:40:00.123456789Z' -> Unix seconds."""
    import calendar
    text = prefix.decode()
    base, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def end(cdir: str) -> int:
    """The log's offset now (attach without ``logs`` starts there)."""
    return cd.read_logs(cdir, stdout=False, stderr=False)[1]


def chunks(cdir: str, *, stdout=True, stderr=True, timestamps=False, tail=None, since=None, until=None,
           follow=False, offset: int = 0, poll: float = 0.1, alive=None):
    """Yield (stream, bytes) of the log from byte ``offset``; with ``follow`` until the log's
    writer is gone: ``alive()`` says (default: the container's monitor runs). A container
    made with ``--log-driver none`` has no log to read: PyContainerError, as docker's."""
    from ..detach import log_opts
    if log_opts(cdir).get("driver") == "none":
        from ..errors import PyContainerError
        raise PyContainerError("logs: configured logging driver does not support reading "
                               "(--log-driver none)")
    lo, hi = _seconds(since), _seconds(until)
    cd.touch(cdir)                  # a reader of the container: activity for idle_timeout
    off = offset
    first = True
    while True:
        writing = (alive() if alive else bool(cd.monitor_pid(cdir))) if follow else False
        got, off = cd.read_logs(cdir, stdout=stdout, stderr=stderr, timestamps=True, since_offset=off,
                                tail=tail if first and tail not in (None, "all") else None)
        first = False
        for stream, data in got:
            stamp, _, text = data.partition(b" ")
            if lo is not None or hi is not None:
                t = line_time(stamp)
                if (lo is not None and t < lo) or (hi is not None and t >= hi):
                    continue
            yield stream, (data if timestamps else text)
        if not writing:
            return
        time.sleep(poll)


class Recorder:
    """``containers.run`` without ``remove``: the program writes into the caller's pipes
    (api/streams.py), so no monitor sees its output; the caller feeds each chunk into the
    kept container's json.log as it comes, and ``logs()`` has it afterwards, as docker's."""

    def __init__(self, container_id: str):
        self.path, self.log = os.path.join(cd.path(container_id), cd.LOG), None

    def feed(self, stream: str, data: bytes) -> None:
        if self.log is None:
            try:
                self.log = cd.Log(self.path)
            except OSError:                  # no container directory: nothing is kept
                return
        self.log.feed(stream, data)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
