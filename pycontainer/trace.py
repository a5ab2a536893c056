"""The trace: a structured event for every setup step, for teaching and profiling.

Each step of container setup calls ``trace.step(stage, action, **args)`` as a
context manager (or ``trace.event`` for an instant). An event records

* ``stage``  – which process did it: ``runtime`` (the pycontainer command),
  ``stage1`` (the namespace creator, where a user or time namespace needs one: pidns.py),
  ``init`` (pid 1 of the container),
* ``action`` – what was done, in kernel terms (``unshare``, ``mount``,
  ``pivot_root``, ``write cgroup.procs``, ...),
* ``args``   – with which arguments (flags spelled out),
* ``field``  – which config.json field asked for it (``linux.namespaces``), or
  the docker flag (``-p 8080:80/tcp``); a layer that does not know it (the
  netlink calls of the network setup) gets it from its caller's ``asked_by``,
* ``ms``     – how long it took.

Two kinds of steps are Python's own: ``startup`` (from the process's start,
proc(5), to the moment tracing was turned on: the interpreter, the imports
and the argument parsing) and ``import MODULE`` (a module imported on first
use, with what it imports in turn), so the timeline has no silent gaps.

Tracing is off unless ``--trace`` is given or ``PYCONTAINER_TRACE`` is set
(``1`` = readable timeline on stderr, ``json`` = one JSON object per line,
a file path to append JSON lines to, or ``FILE.html`` for a self-contained
page with the timeline drawn, written when the command ends: ``timeline.py``). When off, ``step`` costs one
attribute lookup. The sink is a plain file descriptor that every stage of the
runtime writes to directly (a single ``write(2)`` per event, so lines from
different processes do not interleave) and that is closed before the
container's program is executed.
"""

from __future__ import annotations

import posix       # os without its Python helpers: importing os is ~1 ms of every verb (paths.py)
import time

from . import jsonio, paths

_fd: int = -1          # where events go, or -1 when tracing is off
_json: bool = False
_t0: float = 0.0
_stage: str = "runtime"
_html: tuple[str, int, int] | None = None   # (page to write, fd to read events back, owner pid)
_asked_by: str = ""    # the field of steps that name none (see ``asked_by``)


def enable(target: str = "1") -> None:
    """Turn tracing on. ``target``: "1"/"text", "json", or a file path (JSON lines)."""
    global _fd, _json, _t0
    if _fd >= 0:
        return
    # PYCONTAINER_TRACE_T0: CLOCK_MONOTONIC seconds at which a caller (bench/breakdown.py)
    # spawned this command, so that ``t`` includes the interpreter's start and the imports.
    t0 = paths.getenv("PYCONTAINER_TRACE_T0")
    try:
        _t0 = float(t0) if t0 else time.monotonic()
    except ValueError:
        _t0 = time.monotonic()
    if target in ("1", "text", "true", "yes"):
        _fd, _json = posix.dup(2), False
    elif target == "json":
        _fd, _json = posix.dup(2), True
    elif target.endswith(".html"):
        # Events go to an unnamed file (every stage writes to it, as to any sink);
        # the process that asked draws the page from it when it exits.
        import atexit
        folder = paths.dirname(paths.abspath(target))
        _fd = posix.open(folder, posix.O_TMPFILE | posix.O_RDWR | posix.O_APPEND | posix.O_CLOEXEC, 0o600)
        _json = True
        global _html
        _html = (target, posix.dup(_fd), posix.getpid())
        posix.set_inheritable(_html[1], False)
        atexit.register(write_html)
    else:
        _fd = posix.open(target, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
        _json = True
    posix.set_inheritable(_fd, False)
    _startup()
    _trace_imports()


def _startup() -> None:
    """One step for what came before tracing was on: the interpreter, imports, argument parsing.

    Its start is the process's start time (proc(5), /proc/self/stat field 22,
    in clock ticks of CLOCK_BOOTTIME, so it is precise to 1/100 s).
    """
    try:
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19]) / posix.sysconf("SC_CLK_TCK")
        ms = max(time.clock_gettime(time.CLOCK_BOOTTIME) - start, 0.0) * 1000
    except (OSError, ValueError, IndexError):
        return
    import sys
    event("startup", "", ms, what="execve python, import pycontainer, parse the command line",
          argv=sys.argv[1:])


class _ImportTimer:
    """A meta path finder that times the outermost import of each module as a step.

    Python imports lazily on first use, and an import of a large module costs
    milliseconds (pyroute2 ~100 ms): without these steps the timeline has
    silent gaps. Only imports that no other traced import encloses become
    lines ("import pycontainer.image.store"); what they pull in is in their time.
    """

    def __init__(self):
        import _thread
        self.depth, self.thread, self.get_ident = 0, _thread.get_ident(), _thread.get_ident

    def find_spec(self, name, path=None, target=None):
        if self.depth or _fd < 0 or self.get_ident() != self.thread:
            return None          # (a thread that imports traces its own step: network.preload)
        import sys
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _TimedLoader(spec.loader, self)
        return spec


class _TimedLoader:
    def __init__(self, loader, timer):
        self._loader, self._timer = loader, timer

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._timer.depth += 1
        try:
            with step("import " + module.__name__, "", file=getattr(module, "__file__", None) or ""):
                self._loader.exec_module(module)
        finally:
            self._timer.depth -= 1


def _trace_imports() -> None:
    import sys
    if not any(isinstance(f, _ImportTimer) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportTimer())


def enable_from_env() -> None:
    target = paths.getenv("PYCONTAINER_TRACE")
    if target and target != "0":
        enable(target)


def page_pending() -> bool:
    """Whether this process still has a --trace-to FILE.html page to draw at exit."""
    return _html is not None and _html[2] == posix.getpid()


def enabled() -> bool:
    return _fd >= 0


def sink_fd() -> int:
    return _fd


def set_stage(stage: str) -> None:
    """Name the process that emits the following events (after a fork)."""
    global _stage
    _stage = stage


def now() -> float:
    """A start time for ``since`` (0.0 when tracing is off: no clock read)."""
    return time.monotonic() if _fd >= 0 else 0.0


def since(start: float) -> float | None:
    """Milliseconds since ``now()`` returned ``start`` (None when tracing is off)."""
    return (time.monotonic() - start) * 1000 if _fd >= 0 else None


def event(action: str, field: str = "", ms: float | None = None, **args) -> None:
    """Emit one event (no-op when tracing is off)."""
    if _fd < 0:
        return
    now = time.monotonic()
    rec = {"t": round((now - _t0) * 1000, 3), "stage": _stage, "pid": posix.getpid(),
           "action": action}
    if args:
        rec["args"] = {k: _plain(v) for k, v in args.items()}
    field = field or _asked_by
    if field:
        rec["field"] = field
    if ms is not None:
        rec["ms"] = round(ms, 3)
    if _json:
        line = jsonio.dumps(rec)
    else:
        argtxt = " ".join(f"{k}={_short(v)}" for k, v in rec.get("args", {}).items())
        took = f" ({rec['ms']:.2f} ms)" if "ms" in rec else ""
        why = f"  <- {field}" if field else ""
        line = f"[{rec['t']:9.3f} ms] {_stage:<7} {action} {argtxt}{took}{why}"
    try:
        posix.write(_fd, (line + "\n").encode())
    except OSError:
        pass


class _Step:
    """The timed block of ``step`` (a class: contextlib costs ~1.5 ms of imports)."""

    __slots__ = ("action", "field", "args", "start")

    def __init__(self, action: str, field: str, args: dict):
        self.action, self.field, self.args = action, field, args

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc) -> None:      # the exception, if any, goes on
        event(self.action, self.field, (time.monotonic() - self.start) * 1000, **self.args)


class _Off:
    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


_OFF = _Off()


def step(action: str, field: str = "", **args):
    """Time a block and emit it as one event when it ends (``with trace.step(...):``)."""
    if _fd < 0:
        return _OFF
    return _Step(action, field, args)


class _AskedBy:
    __slots__ = ("field", "before")

    def __init__(self, field: str):
        self.field = field

    def __enter__(self):
        global _asked_by
        self.before, _asked_by = _asked_by, self.field

    def __exit__(self, *exc) -> None:
        global _asked_by
        _asked_by = self.before


def asked_by(field: str):
    """Steps inside the block that name no field of their own get ``field``.

    For layers that do not know the option that made them work: the netlink
    calls of the network setup are there because of ``--network``/``-p``.
    """
    if _fd < 0:
        return _OFF
    return _AskedBy(field)


def close() -> None:
    """Close the sink (init calls this just before exec)."""
    global _fd
    if _fd >= 0:
        try:
            posix.close(_fd)
        except OSError:
            pass
        _fd = -1
        import sys
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ImportTimer)]


def write_html() -> None:
    """Draw the collected events as FILE.html (only in the process that enabled it)."""
    global _html
    if _html is None or _html[2] != posix.getpid():
        return
    target, fd, _ = _html
    _html = None
    chunks, off = [], 0
    while True:
        data = posix.pread(fd, 1 << 20, off)
        if not data:
            break
        chunks.append(data)
        off += len(data)
    posix.close(fd)
    events = []
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        try:
            events.append(jsonio.loads(line))
        except ValueError:
            pass
    from . import timeline
    import sys
    argv, words = sys.argv[1:], []
    valued = ("--trace-to", "--root", "--log", "--log-format")    # global options: not the story
    for i, a in enumerate(argv):
        if not a.startswith(("--trace",) + valued) and not (i and argv[i - 1] in valued):
            words.append(a)
    title = "pycontainer " + " ".join(words)
    tmp = f"{target}.{posix.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(timeline.render(events, title=title[:200]))
    posix.rename(tmp, target)


def _plain(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def _short(v) -> str:
    # Whole values, never cut: a student reads the capability list or the
    # mount options in full.
    return v if isinstance(v, str) else jsonio.dumps(v)
