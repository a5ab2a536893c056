"""A container's output for the API: ``logs`` (since/until/tail/timestamps, follow) and ``attach``,
and ``Recorder``, which keeps a foreground ``containers.run``'s output for them.

The monitor (detach.py) appends the program's output to the container's
json.log (containerdir.py), one JSON object a line with its RFC 3339 time,
as docker's json-file driver does. Reading it needs no process of ours:
``Reader`` keeps the file it reads open and goes on from where it stopped;
``follow`` polls until the monitor is gone (its pid, from monitor.json).
``since``/``until`` (a datetime or Unix seconds, as the docker SDK takes them;
the CLI's spellings through ``duration.point_in_time``) compare with each
line's time. Reading marks the container active (``containerdir.touch``, for
``idle_timeout``).

With ``--log-opt max-size`` the writer rotates: rename(2) moves json.log to
json.log.1 (and .1 to .2 ...) and a new json.log is opened. A rename does not
touch an open file, so the reader finishes the one it holds, then reads each
newer file once, found by its inode (fstat(2)); an inode of a file held open
cannot be reused, so the one it holds is always recognised. With max-file=1
the writer truncates json.log instead: the reader notices that the file's
first line changed and reads it again from the start.
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


class Reader:
    """The complete lines of a container's log files, oldest first, each once: the first
    ``read`` starts at the oldest file's start (or, ``at_end``, at the newest one's end; or
    after ``tail``), each later one goes on from where the last stopped, across rotations.
    A read returns at most about ``limit`` bytes of lines: ``more`` then says to read on."""

    LIMIT = 1 << 20

    def __init__(self, cdir: str, at_end: bool = False):
        self.base = os.path.join(cdir, cd.LOG)
        self.f = None             # the newest file met (FileIO), held open across calls
        self.head = b""           # its first line: a different one means it was truncated
        self.partial = b""        # a line of it still being written
        self.pending = []         # older files still to read, oldest first (no longer written)
        self.ppart = b""          # the unfinished last line read from pending[0]
        self.more = False         # the last read stopped at its limit
        if at_end:                # the end: what a --tail 0 leaves
            self.tail(0, None)

    def close(self) -> None:
        for f in self.pending + ([self.f] if self.f is not None else []):
            f.close()
        self.f, self.pending = None, []

    def read(self, limit: int = LIMIT) -> list[bytes]:
        """The lines (JSON, without their newline) written since the last call."""
        out = []
        self.more = False
        if self.f is None and not self.pending:   # first, or nothing was there: every file
            self._take(self._back(None))
        while True:
            limit = self._drain(out, limit)       # the rotated files first, each to its end
            if limit <= 0:
                self.more = True
                return out
            if self.f is None:
                return out
            limit -= self._more(out, limit)
            if limit <= 0:
                self.more = True
                return out
            if not self._moved():
                return out
            newer = self._back(os.fstat(self.f.fileno()).st_ino)
            if not newer:         # json.log is between its rename and its new file
                return out
            # the writer is done with the held file: it is read to its end, then the newer
            self.pending.append(self.f)
            self.ppart, self.partial = self.partial, b""
            self._take(newer)

    def follow(self, alive=None, poll: float = 0.1):
        """Yield what each ``read`` gives, at once while ``more``, every ``poll`` seconds
        while ``alive()`` (the log's writer runs); the last read after it stopped is whole."""
        while True:
            writing = alive() if alive else False
            yield self.read()
            if self.more:
                continue
            if not writing:
                return
            time.sleep(poll)

    def _drain(self, out, limit: int) -> int:
        """Lines of the queued files into ``out``, about ``limit`` bytes; what is left of it."""
        while self.pending and limit > 0:
            data = self.pending[0].read(limit) or b""
            if not data:
                if self.ppart:
                    out.append(self.ppart)
                self.ppart = b""
                self.pending.pop(0).close()
                continue
            limit -= len(data)
            self.ppart = _lines(self.ppart + data, out)
        return limit

    def tail(self, n: int, wanted) -> list[bytes]:
        """The last ``n`` lines that ``wanted(line)`` keeps, oldest first, read backwards
        from the end of the newest file (docker's ``--tail``: the rest is not read); the
        reader then stands at the end."""
        files = self._back(None)
        got = []
        for i, f in enumerate(reversed(files)):
            if i > 0 and len(got) >= n:
                f.close()
                continue
            fd, size = f.fileno(), os.fstat(f.fileno()).st_size
            unfinished = i == 0 and size and os.pread(fd, 1, size - 1) != b"\n"
            for line in _backwards(fd, size):
                if unfinished:    # the newest's line still being written: read it later
                    unfinished = False
                    size -= len(line)
                    continue
                if len(got) >= n:
                    break
                if line and wanted(line):
                    got.append(line)
            if i == 0:
                self.f, self.head, self.partial = f, b"", b""
                f.seek(size)
            else:
                f.close()
        return got[::-1]

    def _back(self, stop) -> list:
        """json.log, json.log.1, ... opened newest first, up to the file whose inode is ``stop``;
        returned oldest first. A rotation during the walk moves a file to an older name, so it
        is met twice (kept once) but never missed; but it also makes a new json.log, which a
        walk that went on could meet after an older file: when json.log is not the file it
        was at the walk's start, the walk is made again."""
        for attempt in range(20):
            got, start = self._walk(stop)
            try:
                now = os.stat(self.base).st_ino
            except FileNotFoundError:
                now = None        # between a rename and the new file: walk again
            # (nothing met has no order to get wrong; the 20th walk is taken as it is:
            # a writer that rotates faster than a walk loses lines to max-file anyway)
            if (now is not None and now == start) or not got or attempt == 19:
                return got
            for f in got:
                f.close()
            time.sleep(0.001)

    def _walk(self, stop) -> tuple[list, int | None]:
        """One walk of ``_back``: (the files oldest first, json.log's inode when it was opened)."""
        d, name = os.path.split(self.base)
        try:
            n = max([int(x[len(name) + 1:]) for x in os.listdir(d)
                     if x.startswith(name + ".") and x[len(name) + 1:].isdigit()] or [0])
        except OSError:
            return [], None
        got, seen, start = [], set(), None
        for i in range(n + 2):    # one beyond: a rename since the listing
            try:
                f = open(self.base if i == 0 else f"{self.base}.{i}", "rb", buffering=0)
            except OSError:
                continue
            ino = os.fstat(f.fileno()).st_ino
            if i == 0:
                start = ino
            if ino == stop:
                f.close()
                break
            if ino in seen:
                f.close()
            else:
                seen.add(ino)
                got.append(f)
        return got[::-1], start

    def _take(self, files) -> None:
        """``files`` (oldest first) to read: the newest is held, the others queued."""
        if files:
            self.pending.extend(files[:-1])
            self.f, self.head, self.partial = files[-1], b"", b""

    def _more(self, out, limit: int) -> int:
        """What the held file gained: its complete lines to ``out``, a line still being
        written kept; the bytes read. A file truncated (max-file=1) before or while it is
        read is read again from its start: a part read from the old content cannot be told
        from the new."""
        for _ in range(5):
            if self._truncated():
                self.f.seek(0)
                self.partial, self.head = b"", b""
            if not self.head:     # its first line, before reading: a new one means truncated
                first = os.pread(self.f.fileno(), 4096, 0)
                self.head = first[:first.find(b"\n") + 1]
            new = self.f.read(limit) or b""
            if not self._truncated():
                break
        self.partial = _lines(self.partial + new, out)
        return len(new)

    def _truncated(self) -> bool:
        pos = self.f.tell()
        if os.fstat(self.f.fileno()).st_size < pos:
            return True
        return bool(self.head) and os.pread(self.f.fileno(), len(self.head), 0) != self.head

    def _moved(self) -> bool:
        try:
            return os.stat(self.base).st_ino != os.fstat(self.f.fileno()).st_ino
        except FileNotFoundError:
            return True


def _lines(data: bytes, out: list) -> bytes:
    """The complete lines of ``data`` into ``out``; the unfinished rest."""
    cut = data.rfind(b"\n") + 1
    out.extend(data[:cut].splitlines())
    return data[cut:]


def _backwards(fd: int, end: int, block: int = 1 << 16):
    """The lines of ``fd`` before offset ``end``, the last first (the text after the last
    newline first of all: empty when the file ends with one), read in blocks with pread(2)."""
    buf, pos = b"", end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        parts = buf.split(b"\n")
        buf = parts[0]
        yield from reversed(parts[1:])
    yield buf


def entries(lines, stdout=True, stderr=True) -> list[tuple[str, bytes, bytes]]:
    """(stream, time, text) of each json.log line of a wanted stream; broken lines skipped."""
    import json
    want = {s for s, w in (("stdout", stdout), ("stderr", stderr)) if w}
    out = []
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("stream") in want:
            out.append((e["stream"], e.get("time", "").encode(), e.get("log", "").encode()))
    return out


def chunks(cdir: str, *, stdout=True, stderr=True, timestamps=False, tail=None, since=None, until=None,
           follow=False, reader: Reader | None = None, poll: float = 0.1, alive=None):
    """Yield (stream, bytes) of the log (from where ``reader`` stands: default the start);
    with ``follow`` until the log's writer is gone: ``alive()`` says (default: the
    container's monitor runs). A container made with ``--log-driver none`` has no log
    to read: PyContainerError, as docker's."""
    from ..detach import log_opts
    if log_opts(cdir).get("driver") == "none":
        from ..errors import PyContainerError
        raise PyContainerError("logs: configured logging driver does not support reading "
                               "(--log-driver none)")
    lo, hi = _seconds(since), _seconds(until)
    cd.touch(cdir)                  # a reader of the container: activity for idle_timeout
    reader = reader or Reader(cdir)

    def shown(got):
        for stream, stamp, text in got:
            if lo is not None or hi is not None:
                t = line_time(stamp)
                if (lo is not None and t < lo) or (hi is not None and t >= hi):
                    continue
            yield stream, (stamp + b" " + text if timestamps else text)
    try:
        if tail not in (None, "all"):         # --tail first, then the times (docker's order)
            yield from shown(entries(reader.tail(int(tail), lambda line: entries([line], stdout, stderr)),
                                     stdout, stderr))
            if not follow:
                return
        watch = (alive or (lambda: bool(cd.monitor_pid(cdir)))) if follow else None
        for lines in reader.follow(watch, poll):
            yield from shown(entries(lines, stdout, stderr))
    finally:
        reader.close()


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
