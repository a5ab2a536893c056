"""A docker-style container's directory, ``/var/lib/pycontainer/containers/<id>``: the one owner of its layout.

::

    <id>/config.json     the OCI config ``run IMAGE`` built (api/config.py); the bundle is <id>/
         rootfs/         the overlay's mount point; upper/ work/ (image/overlay.py)
         root            the state root the container lives under (gc of another root skips it)
         monitor.json    {"pid", "start"} of the monitor (detach.py, monitor.py)
         json.log        docker's json-file log, one {"log", "stream", "time"} per line;
                         with --log-opt max-size the older ones are json.log.1 (newest) .. .N-1
         exit.json       {"exit_code", "signal", "oom_killed", "finished_at"} once the program exited
         attach.sock     the monitor's SOCK_SEQPACKET socket for ``attach``
         activity        empty; its mtime is the last API call on the container (``touch``):
                         with the CPU time its cgroup used, what ``idle_timeout`` watches

The OCI state records the directory in the annotation ``org.pycontainer.dir``. Whoever
creates such a container passes ``on_delete=delete_plan()``, so ``delete`` runs
``remove_after_delete`` (cleanup.py): it waits for the monitor to write exit.json, then
removes the directory and releases the image hold. The OCI runtime never imports this.
A waiter (``wait``) holds a shared flock(2) on the directory until it has read exit.json
(``hold_for_reading``), and ``remove`` takes it exclusively first: the status of an --rm
container, whose monitor removes it right after writing exit.json, reaches its waiters.

OOM kills are counted from the container's cgroup: ``memory.oom_control`` (v1) or
``memory.events`` (v2), field ``oom_kill`` (Documentation/admin-guide/cgroup-v2.rst).

The monitor imports this file by path as a top-level module (no package, no site): what
it uses (``Log``, ``write_exit``, ``oom_kills``, ``rfc3339``) imports only ``os``, ``_json``.
"""

import os
import time

ANN_DIR = "org.pycontainer.dir"        # the OCI annotation naming a container's dir
CONFIG = "config.json"
ROOT = "root"
LOG = "json.log"
EXIT = "exit.json"
MONITOR = "monitor.json"
ATTACH = "attach.sock"
ACTIVITY = "activity"
ANON_VOLUMES = "anonymous-volumes"    # the names of its anonymous volumes, one per line (volumes.py)
LOG_OPTS = "org.pycontainer.log-opts"  # the annotation of --log-opt's {"max-size", "max-file"}
MAX_LINE = 16 * 1024                   # docker splits longer log lines


def path(container_id: str, containers_dir: str | None = None) -> str:
    """The directory of ``container_id`` (the ID is checked to be one safe path component)."""
    from .image.rootfs import container_dir
    return container_dir(container_id, containers_dir)


def du(path: str) -> int:
    """Bytes ``path`` takes on disk (st_blocks, as du(1); links counted, not followed)."""
    total = 0
    for d, dirs, files in os.walk(path):
        for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            try:
                total += os.lstat(os.path.join(d, n)).st_blocks * 512
            except OSError:
                pass
    return total


def of(record: dict) -> str:
    """The container's directory from its OCI state record, or ''."""
    return (record.get("annotations") or {}).get(ANN_DIR) or ""


# --- json.log -------------------------------------------------------------------------------

def rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


class Log:
    """The writer of json.log (the monitor's): lines split at 16 KiB, appended, never blocking.

    ``max_size`` > 0 rotates as docker's json-file driver does: a write that
    would take json.log past ``max_size`` bytes first renames json.log.N-2 to
    .N-1 ... json.log to json.log.1 (``max_file`` files in all; with 1 the
    file is truncated), so no file grows past ``max_size`` (unless one write
    alone is larger).
    """

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1):
        from _json import encode_basestring
        self.q = encode_basestring
        self.path, self.max_size, self.max_file = path, max_size, max(1, max_file)
        self.fd = self._open(0)
        self.size = os.fstat(self.fd).st_size
        self.partial = {}

    def _open(self, trunc: int) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | trunc, 0o640)

    def _rotate(self) -> None:
        try:
            for n in range(self.max_file - 1, 0, -1):
                src = self.path if n == 1 else f"{self.path}.{n - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{n}")
            fd = self._open(os.O_TRUNC)
        except OSError:
            return          # keep writing where we were
        os.close(self.fd)
        self.fd, self.size = fd, 0

    def feed(self, stream: str, data: bytes) -> None:
        buf = self.partial.get(stream, b"") + data
        out = []
        while True:
            i = buf.find(b"\n")
            if i < 0 or i >= MAX_LINE:
                if len(buf) >= MAX_LINE:
                    out.append(buf[:MAX_LINE])
                    buf = buf[MAX_LINE:]
                    continue
                break
            out.append(buf[:i + 1])
            buf = buf[i + 1:]
        self.partial[stream] = buf
        self._write(stream, out)

    def flush(self) -> None:
        for stream, buf in list(self.partial.items()):
            if buf:
                self._write(stream, [buf])
            self.partial[stream] = b""

    def close(self) -> None:
        """The unfinished lines, then the file."""
        self.flush()
        os.close(self.fd)

    def _write(self, stream: str, lines) -> None:
        if not lines:
            return
        now = rfc3339(time.time_ns())
        entries = ['{"log":%s,"stream":"%s","time":"%s"}\n'
                   % (self.q(line.decode("utf-8", "replace")), stream, now) for line in lines]
        if not self.max_size:
            self._put("".join(entries).encode())
            return
        batch = b""
        for e in entries:
            e = e.encode()
            if self.size + len(batch) + len(e) > self.max_size and self.size + len(batch) > 0:
                self._put(batch)
                batch = b""
                self._rotate()
            batch += e
        self._put(batch)

    def _put(self, data: bytes) -> None:
        while data:
            try:
                n = os.write(self.fd, data)
            except OSError:
                return          # disk full or dir removed: drop, keep the container going
            self.size += n
            data = data[n:]


def log_limits(opts: dict) -> tuple[int, int]:
    """(max_size bytes or 0, max_file) from docker's json-file ``--log-opt`` values
    (``max-size=10m``: k/m/g as powers of 1024, as docker's units.RAMInBytes;
    ``max-file=N`` >= 1). Raises PyContainerError naming the bad value."""
    import re
    from .errors import PyContainerError
    size, files = 0, 1
    if "max-size" in opts:
        m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kKmMgGtT]?)[iI]?[bB]?", str(opts["max-size"]))
        size = int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " ")) if m else 0
        if size <= 0:
            raise PyContainerError(f"--log-opt max-size={opts['max-size']}: give a positive size "
                                   "(e.g. 10k, 10m, 1g)")
    if "max-file" in opts:
        v = str(opts["max-file"])
        if not v.isdigit() or int(v) < 1:
            raise PyContainerError(f"--log-opt max-file={v}: give a whole number, 1 or more")
        files = int(v)
        if files > 1 and not size:
            raise PyContainerError("--log-opt max-file needs max-size (nothing to rotate at)")
    return size, files


# --- exit.json and OOM kills ------------------------------------------------------------------

def write_exit(path: str, exit_code: int, oom_killed: bool, signal: int | None = None) -> None:
    """Write exit.json at ``path`` (a temp file renamed over it); ``signal`` defaults from 128+n."""
    from _json import encode_basestring
    if signal is None:
        signal = exit_code - 128 if exit_code > 128 else 0
    body = '{"exit_code":%d,"signal":%d,"oom_killed":%s,"finished_at":%s}\n' % (
        exit_code, signal, "true" if oom_killed else "false", encode_basestring(rfc3339(time.time_ns())))
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, body.encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        pass


def read_exit(cdir: str) -> dict | None:
    import json
    try:
        with open(os.path.join(cdir, EXIT)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def oom_files(record: dict) -> list[str]:
    """The files that count OOM kills for this container's cgroup (v1 and v2)."""
    p = (record.get("cgroup") or "").lstrip("/")
    return [f for f in (f"/sys/fs/cgroup/memory/{p}/memory.oom_control",
                        f"/sys/fs/cgroup/{p}/memory.events") if os.path.exists(f)]


def oom_kills(files) -> int:
    """The sum of ``oom_kill`` over ``files`` (unreadable ones count 0)."""
    return _sum_lines(files, lambda k, v: int(v) if k == "oom_kill" else 0)


def _sum_lines(files, value) -> int:
    """Sum ``value(key, rest)`` over the "key value" lines of ``files`` (unreadable: 0)."""
    n = 0
    for f in files:
        try:
            with open(f) as fh:
                for line in fh:
                    k, _, v = line.partition(" ")
                    n += value(k, v)
        except (OSError, ValueError):
            pass
    return n


def cpu_files(record: dict) -> list[str]:
    """The files that count the CPU time of this container's cgroup: ``cpuacct.usage`` (v1,
    nanoseconds) and ``cpu.stat`` (v2, its ``usage_usec`` line); those that exist."""
    p = (record.get("cgroup") or "").lstrip("/")
    return [f for f in (f"/sys/fs/cgroup/cpuacct/{p}/cpuacct.usage", f"/sys/fs/cgroup/{p}/cpu.stat")
            if p and os.path.exists(f)]


def cpu_usage(files) -> int:
    """The CPU time counted in ``files`` (in their own units: only compared with itself)."""
    return _sum_lines(files, lambda k, v: int(v) if k == "usage_usec" else int(k) if not v else 0)


def touch(cdir: str) -> None:
    """Mark an API call on the container (exec_run, archives, logs, attach): the mtime of its
    ``activity`` file, which ``idle_timeout`` reads. Tolerant: no dir, no mark."""
    if not cdir:
        return
    try:
        os.close(os.open(os.path.join(cdir, ACTIVITY), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        os.utime(os.path.join(cdir, ACTIVITY))
    except OSError:
        pass


def last_activity(cdir: str) -> int:
    """The mtime (ns) of ``activity``; 0 when there is none."""
    try:
        return os.stat(os.path.join(cdir, ACTIVITY)).st_mtime_ns
    except OSError:
        return 0


# --- the monitor: monitor.json and attach.sock -----------------------------------------------

def write_monitor(cdir: str, pid: int) -> None:
    import json
    from .state import proc_start_time
    with open(os.path.join(cdir, MONITOR), "w") as f:
        json.dump({"pid": pid, "start": proc_start_time(pid)}, f)


def monitor_pid(cdir: str) -> int:
    """The monitor's pid if it is still alive (checked by start time), else 0."""
    import json
    from .state import proc_start_time
    try:
        with open(os.path.join(cdir, MONITOR)) as f:
            m = json.load(f)
    except (OSError, ValueError):
        return 0
    pid = m.get("pid", 0)
    if pid > 0 and proc_start_time(pid) == m.get("start"):
        return pid
    return 0


def wait_monitor(cdir: str, timeout: float | None = None) -> bool:
    """Block until the monitor has exited (a pidfd, no polling); False on timeout."""
    import select
    pid = monitor_pid(cdir)
    if not pid:
        return True
    try:
        pfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if monitor_pid(cdir) != pid:       # it exited and the pid was reused in between
            return True
        r, _, _ = select.select([pfd], [], [], timeout)
        return bool(r)
    finally:
        os.close(pfd)


def bind_attach(cdir: str):
    """Listen on ``<cdir>/attach.sock`` (through a dirfd: sun_path is 108 bytes, IDs are longer)."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dirfd = os.open(cdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        s.bind(f"/proc/self/fd/{dirfd}/{ATTACH}")
    finally:
        os.close(dirfd)
    s.listen(8)
    return s


def connect_attach(cdir: str):
    """A client socket on the monitor's attach.sock (ConnectionError if nobody listens)."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    dirfd = os.open(cdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{dirfd}/{ATTACH}")
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        raise ConnectionError("the container's monitor is not running") from None
    finally:
        os.close(dirfd)
    return s


# --- removal --------------------------------------------------------------------------------

def delete_plan() -> list[dict]:
    """The delete plan (cleanup.py) a container with a directory is created with."""
    return [{"call": "pycontainer.containerdir:remove_after_delete"}]


READERS_GRACE = 5.0     # seconds ``remove`` waits for the waiters to read exit.json


def hold_for_reading(cdir: str) -> int | None:
    """A shared flock(2) on the directory for a waiter, until it has read exit.json: ``remove``
    waits for it (READERS_GRACE at most: a stopped waiter must not keep a container forever).
    -> the fd to close when done (that drops the lock); None: no directory, or being removed."""
    return _flock(cdir, shared=True)


def _flock(cdir: str, shared: bool) -> int | None:
    """An fd of the directory holding its flock(2), shared or exclusive, taken without waiting;
    None when there is no directory or the lock is held the other way."""
    import fcntl
    try:
        fd = os.open(cdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove(container_id: str, cdir: str | None = None) -> None:
    """Remove the directory and release the image hold (tolerant, idempotent); first let the
    waiters holding it (``hold_for_reading``) read the exit status."""
    import shutil
    from .image import rootfs
    cdir = cdir or path(container_id)
    deadline = time.monotonic() + READERS_GRACE
    while (lock := _flock(cdir, shared=False)) is None and os.path.isdir(cdir) and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        from . import events, shm
        if not container_id.startswith("build-") and os.path.isdir(cdir):   # a build's step: none
            events.destroyed(container_id, cdir)
        shm.release(cdir)                                   # --ipc shareable's host tmpfs
        try:
            rootfs.cleanup(container_id)
        except Exception:  # noqa: BLE001 - tolerant: remove what we can
            pass
        shutil.rmtree(cdir, ignore_errors=True)
    finally:
        if lock is not None:
            os.close(lock)                              # (after rmtree: no new waiter holds it)


def remove_after_delete(record: dict) -> None:
    """``delete``'s cleanup step: let the monitor finish exit.json, then ``remove`` (tolerant).

    Only a dir this module made (``<containers>/<id>`` named by the
    annotation) is removed: never what we did not make.
    """
    cdir = of(record)
    if not cdir:
        return
    cdir = os.path.normpath(cdir)
    parent, cid = os.path.split(cdir)
    if cid != record.get("id") or parent != os.path.dirname(path(cid)):
        return
    mpid = monitor_pid(cdir)
    if mpid and mpid != os.getpid():
        # The init is dead; its monitor is writing exit.json: let it finish,
        # or it would write into a directory being removed.
        if not wait_monitor(cdir, 5):
            try:
                os.kill(mpid, 9)
            except ProcessLookupError:
                pass
    anonymous = anonymous_volumes(cdir) if record.get("autoremove") else []
    remove(cid, cdir)
    if anonymous:                       # docker's --rm takes the anonymous volumes too
        from . import volumes
        volumes.remove_anonymous(anonymous)


def anonymous_volumes(cdir: str) -> list[str]:
    """The anonymous volumes the container was made with (ANON_VOLUMES; none: no file)."""
    try:
        with open(os.path.join(cdir, ANON_VOLUMES)) as f:
            return f.read().split()
    except OSError:
        return []


def _kept(cdir: str) -> bool:
    """A container dir kept on purpose without runtime state (``lifecycle.not_started``)."""
    import json
    try:
        with open(os.path.join(cdir, EXIT)) as f:
            return json.load(f).get("started") is False
    except (OSError, ValueError, AttributeError):
        return False


def gc(live_ids, root: str | None = None) -> tuple[list[str], list[str]]:
    """Release image holds and remove container dirs of containers that no longer exist.

    A container dir records its state root (``root`` file); one whose
    container lives under another root is left alone.
    """
    live = set(live_ids)
    parent = os.path.dirname(path("x"))
    names = os.listdir(parent) if os.path.isdir(parent) else []
    if root is not None:
        for name in names:
            try:
                with open(os.path.join(parent, name, ROOT)) as f:
                    owner = f.read().strip()
            except OSError:
                continue
            if owner and owner != root and os.path.isdir(os.path.join(owner, name)):
                live.add(name)
            elif owner and os.path.isdir(owner) and _kept(os.path.join(parent, name)):
                live.add(name)       # docker's Created container (its program could not start)
    from .image.rootfs import creator_alive
    live.update(n for n in names if n not in live and creator_alive(os.path.join(parent, n)))
    holds: list[str] = []                    # (a container still being made is live, above)
    try:
        from .image.store import Store
        holds = Store().prune_holds(live)
    except Exception:  # noqa: BLE001 - no store yet
        pass
    dirs = [n for n in names if n not in live]
    for name in dirs:
        remove(name, os.path.join(parent, name))
    return holds, dirs
