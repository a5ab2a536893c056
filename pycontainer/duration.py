"""Go's duration syntax (``time.ParseDuration``), which docker's flags and Containerfiles use.

``--health-interval 1m30s``, ``HEALTHCHECK --timeout=1.5s``, ``--stop-timeout`` in
compose files: a sequence of decimal numbers, each with a unit (``ns``, ``us``/``µs``,
``ms``, ``s``, ``m``, ``h``), optionally signed, ``0`` alone allowed. One parser here
so the porcelain's flags and the builder's HEALTHCHECK accept the same spellings
(docker's: github.com/docker/cli opts.DurationOpt -> time.ParseDuration). No kernel
interface is involved; see Go's documentation of ``time.ParseDuration``. The other way,
``human``/``ago`` say how long ago a time was as docker's tables do (go-units'
``HumanDuration``: "About a minute", "3 hours").
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
       "h": 3600 * 10**9}


def nanoseconds(text: str, *, bare_seconds: bool = False) -> int:
    """``"1m30s"`` -> 90_000_000_000. ValueError if it is not a Go duration.

    ``bare_seconds``: also take a plain number as seconds (pycontainer's flags always
    did; Go refuses it as "missing unit").
    """
    t = str(text).strip()
    sign = -1 if t.startswith("-") else 1
    body = t[1:] if t[:1] in "+-" else t
    if body == "0":
        return 0
    if bare_seconds and re.fullmatch(r"\d+(?:\.\d+)?", body):
        return sign * round(float(body) * 10**9)
    pos, total = 0, 0.0
    while pos < len(body):
        m = _PART.match(body, pos)
        if not m:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _NS[m.group(2)]
        pos = m.end()
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * round(total)


def seconds(text: str, *, bare_seconds: bool = False) -> float:
    """The same duration in seconds (a float)."""
    return nanoseconds(text, bare_seconds=bare_seconds) / 10**9


def point_in_time(value: str | None, what: str) -> float | None:
    """docker's time flags and filters (``logs --since``, ``prune --filter until=``) -> Unix
    seconds: a Go duration back from now (``10m``, ``1h30m``), a Unix time
    (``1764480000.5``), or an RFC 3339 / ISO 8601 time (``2026-11-30T06:00:00Z``; without
    a zone, local time), as docker's timetypes.GetTimestamp."""
    if value is None:
        return None
    import time
    v = str(value).strip()
    try:
        return time.time() - seconds(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        pass
    import datetime
    try:
        t = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        from .errors import PyContainerError
        raise PyContainerError(f"{what} {value!r}: give a time (2026-11-30T06:00:00Z, Unix "
                               "seconds) or a duration back from now (10m)") from None
    return (t if t.tzinfo else t.astimezone()).timestamp()


def parse_time(ts: str):
    """An RFC 3339 time (nanoseconds allowed) -> an aware datetime, or None."""
    import datetime
    try:
        ts = ts.replace("Z", "+00:00")
        if "." in ts:                       # Python wants at most 6 fractional digits
            head, _, tail = ts.partition(".")
            frac = tail[:len(tail) - len(tail.lstrip("0123456789"))]
            ts = head + "." + frac[:6] + tail[len(frac):]
        t = datetime.datetime.fromisoformat(ts)
        return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


# --- the other way: how long ago, in docker's words -----------------------------------------

def human(ts: str) -> str:
    """docker's go-units HumanDuration: ``Less than a second``, ``5 seconds``, ``About a minute``."""
    import datetime
    t = parse_time(ts)
    if t is None:
        return "-"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{int(s)} seconds"
    m = int(s // 60)
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{int(m)} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    d = h // 24
    if h < 24 * 7 * 2:
        return f"{d} days"
    if h < 24 * 30 * 2:
        return f"{d // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{d // 30} months"
    return f"{d // 365} years"


def ago(ts: str) -> str:
    """``human`` + " ago" (ps's CREATED, images' CREATED), "-" for no time."""
    d = human(ts)
    return d if d == "-" else d + " ago"


def go_string(ts: str) -> str:
    """An RFC 3339 time as Go's ``time.Time.String()`` of its Unix seconds in local time, what
    docker's ps and images show as ``{{.CreatedAt}}``: ``2006-01-02 15:04:05 +0000 UTC``
    ("" for no time)."""
    import time
    t = parse_time(ts)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(int(t.timestamp()))) if t else ""
