"""The cgroup attach lock, and why the first write to ``cgroup.procs`` waits ~10 ms.

Moving a process into a cgroup (a write to ``cgroup.procs``, v1 or v2) takes
the kernel's ``cgroup_threadgroup_rwsem`` for writing (kernel/cgroup/cgroup.c:
``cgroup_procs_write_start`` -> ``cgroup_attach_lock`` ->
``percpu_down_write``): one system-wide lock, shared by every hierarchy, that
fork, exit and exec take for reading. It is a per-CPU rwsem, so readers are
cheap while no writer is around; a writer first switches the readers to
their slow path through an ``rcu_sync`` (kernel/rcu/sync.c:
``rcu_sync_enter``), and when the ``rcu_sync`` is idle that switch waits for
a whole RCU grace period (``synchronize_rcu``), 6-15 ms on the hosts we
measured: often the biggest single step of ``create``. When the writer is
done, ``rcu_sync_exit`` lets the ``rcu_sync`` fall back to idle only after
another grace period, so a writer that comes within about a grace period of
the previous one finds it passed and pays ~0.1 ms.

``start`` uses that: at the start of a verb that will attach a process
(``create``, ``run``, ``exec``), a thread writes this process's own pid into
the ``cgroup.procs`` of the cgroup it is already in, and repeats it every
couple of ms until ``finish`` (called once the real attach is done) or a
deadline. The write takes the lock like any attach, so the grace period runs
out in the background while the main thread imports modules and reads
config.json; the real attach then finds the ``rcu_sync`` passed. The write
changes no membership: the kernel finds the process already in that cgroup
(``cgroup_migrate_prepare_dst`` drops a source set equal to its destination)
and moves nothing; no other process is named. Before each write the thread
reads /proc/self/cgroup again and stops if it changed: a manager that moves
the runtime meanwhile is not undone by the next write. Any failure (no cgroupfs,
EACCES when rootless, a read-only mount) ends the thread quietly: the attach
then costs what it costs without it. A host that mounts a hierarchy with
``favordynmods`` keeps the ``rcu_sync`` entered for good (writers are always
fast), and there the thread is not started.

The kernel takes ``cgroup_mutex`` before that lock (``cgroup_kn_lock_live``),
so while the first write waits, whatever else needs the mutex waits with it:
mkdir of a cgroup, a limit, another attach. ``create`` therefore forks the init
(or stage 1) before it makes the container's cgroup (process/launcher.py), and
the child's own imports overlap the rest of the grace period.

The first write is one trace step, ``prime cgroup attach``, in the runtime's
timeline (it runs beside the main thread, so its time is overlapped, not
added). Read cgroups(7), Documentation/admin-guide/cgroup-v2.rst ("Processes")
and the comments of kernel/rcu/sync.c.
"""

from __future__ import annotations

import posix
import time

from .. import paths
from .. import trace
from .mounts import V1_CONTROLLERS, unescape

EVERY = 0.002       # s between writes: well inside one grace period (6-15 ms)
DEADLINE = 0.1      # s: a verb attaches well before this; the thread stops by then anyway

PROC_CGROUP = "/proc/self/cgroup"

_active: Primer | None = None


class Primer:
    """One priming thread; ``writes``, ``first_ms`` and ``error`` say what it did."""

    def __init__(self, path: str | None, deadline: float, every: float, held: int | None = None,
                 own: bytes | None = None):
        import _thread
        self.path, self.deadline, self.every = path, deadline, every
        self.held, self.own = held, own     # prepare()'s fd of ``path``, /proc/self/cgroup then
        self.owner = posix.getpid()
        self.writes, self.first_ms, self.error = 0, None, None
        self.stopped = _thread.allocate_lock()
        self.stopped.acquire()              # released by stop(): the thread's wake-up
        self.done = _thread.allocate_lock()
        self.done.acquire()                 # released by the thread when it ends
        writing = _thread.allocate_lock()
        writing.acquire()                   # released by the thread as it starts its first write
        _thread.start_new_thread(self._run, (writing,))
        # Wait (briefly) until the thread is in its first write(2): a new thread runs only
        # once it gets the GIL, which the main thread, busy importing, may hold for ms.
        writing.acquire(True, 0.005)

    def _run(self, writing) -> None:
        held, own = self.held, self.own
        try:
            if held is None:
                own, self.path = _own(), self.path or target()
                if self.path is None or own is None:
                    return
            end = time.monotonic() + self.deadline
            data = str(posix.getpid()).encode()
            while True:
                if _own() != own:
                    # someone moved this process meanwhile (a manager placing its child): our
                    # next write would move it back into the cgroup it has just left
                    self.error = ProcessLookupError("moved to another cgroup: priming stopped")
                    return
                t = time.monotonic()
                if writing is not None:
                    writing.release()
                    writing = None
                fd = held if held is not None else posix.open(self.path, posix.O_WRONLY | posix.O_CLOEXEC)
                try:                            # (an error of that open ends the thread)
                    posix.write(fd, data)
                except OSError as e:
                    # the kernel took the lock before it checked the write (cgroup v2's rules
                    # on where a process may live): the grace period was waited all the same
                    self.error = e
                finally:
                    if fd != held:
                        posix.close(fd)
                self.writes += 1
                if self.first_ms is None:
                    self.first_ms = (time.monotonic() - t) * 1000
                    trace.event("prime cgroup attach", "linux.cgroupsPath", self.first_ms, file=self.path,
                                note="no-op write of our own pid, in a thread: the RCU grace period "
                                     "of the first attach passes while the runtime works")
                if self.stopped.acquire(True, self.every) or time.monotonic() > end:
                    return
        except OSError as e:
            self.error = e
        except Exception as e:  # noqa: BLE001 - never let the helper thread raise
            self.error = e
        finally:
            if held is not None:
                posix.close(held)
            if writing is not None:
                writing.release()
            self.done.release()

    def stop(self, wait: bool = False) -> None:
        """Stop the thread (idempotent); ``wait`` until it has ended."""
        if self.owner != posix.getpid():
            return                          # a forked child's copy: the thread is not here
        try:
            self.stopped.release()
        except RuntimeError:
            pass                            # already stopped
        if wait:
            self.done.acquire()
            self.done.release()


def _own() -> bytes | None:
    """This process's cgroups (proc(5) /proc/self/cgroup), as the kernel says them now."""
    try:
        fd = posix.open(PROC_CGROUP, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        return posix.read(fd, 65536)
    except OSError:
        return None
    finally:
        posix.close(fd)


def target(proc_cgroup: str | None = None,
           mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The ``cgroup.procs`` of this process's own cgroup in one mounted hierarchy.

    The cgroup2 one if it is mounted, else a v1 hierarchy, those without
    controllers (``name=systemd``) first: the write is a no-op anyway, and
    there no controller's attach callback even looks at it. None when none is
    mounted here, or when a hierarchy is mounted with ``favordynmods``.
    """
    try:
        with open(proc_cgroup or PROC_CGROUP) as f:
            own = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
        with open(mountinfo) as f:
            mounts = f.read().splitlines()
    except OSError:
        return None
    found = {}                     # the controllers field of /proc/self/cgroup -> directory
    for line in mounts:
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        fstype, superopts = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
        if fstype not in ("cgroup", "cgroup2"):
            continue
        opts = superopts.split(",")
        if "favordynmods" in opts:
            return None            # the attach never waits a grace period here
        if fstype == "cgroup2":
            key = ""
        else:
            key = ",".join(sorted(o for o in opts if o in V1_CONTROLLERS or o.startswith("name=")))
        root, mountpoint = unescape(fields[3]).rstrip("/"), unescape(fields[4])
        for _, ctrls, path in own:
            if key in found or ",".join(sorted(ctrls.split(","))) != key or "/.." in path:
                continue
            if path == root or path.startswith(root + "/") or not root:
                found[key] = mountpoint.rstrip("/") + path[len(root):].rstrip("/")
    order = sorted(found, key=lambda k: (k != "", not k.startswith("name="), k))
    for key in order:
        f = found[key] + "/cgroup.procs"
        if posix.access(f, posix.W_OK):
            return f
    return None


PRIMER_FD = "PYCONTAINER_PRIMER_FD"
_launcher_fd = -1
_prepared: tuple | None = None     # prepare()'s (fd, path, /proc/self/cgroup, pid)


def prepare() -> None:
    """Open this process's ``cgroup.procs`` now, so that ``start`` writes at once.

    For a process that waits for work which will attach (an API worker forked
    ahead of its request, api/workers.py): the mountinfo walk and the open, and
    with them ~1 ms, leave the request's path. The fd is this cgroup's own file,
    not a path that a remount could point elsewhere, and ``start`` uses it only
    if /proc/self/cgroup still says what it said here. ``unprepare`` closes it
    (a request that attaches nothing); ``drop_inherited`` in a forked child.
    """
    global _prepared
    unprepare()
    own, path = _own(), target()
    if own is None or path is None:
        return
    try:
        _prepared = (posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC), path, own, posix.getpid())
    except OSError:
        pass


def unprepare() -> None:
    global _prepared
    if _prepared is not None:
        fd, pid = _prepared[0], _prepared[3]
        _prepared = None
        if pid == posix.getpid():
            posix.close(fd)


def _take_prepared():
    """prepare()'s (fd, path, own) if made in this process and we are still where it was."""
    global _prepared
    p, _prepared = _prepared, None
    if p is None or p[3] != posix.getpid():
        return None
    if _own() != p[2]:
        posix.close(p[0])
        return None
    return p[:3]


def launcher_primer() -> bool:
    """Whether the ``pycontainer`` command (csrc/launcher.c) started priming before Python
    did, or joined the primer another command started. Closing the connection named in
    PYCONTAINER_PRIMER_FD (``finish``) says we attached; a primer writes until the runtime
    of the command that started it has said so, or for 100 ms. The fd is taken out of the
    environment and made close-on-exec here, so no hook or program inherits it."""
    global _launcher_fd
    fd = paths.popenv(PRIMER_FD)
    if fd is None or not fd.isdigit():
        return _launcher_fd >= 0
    try:
        posix.set_inheritable(int(fd), False)
    except OSError:
        return False                        # not an open fd: nothing started
    _launcher_fd = int(fd)                  # (its trace event comes at finish: tracing is on)
    return True


def start(*, deadline: float = DEADLINE, every: float = EVERY, path: str | None = None) -> Primer | None:
    """Start priming (see the module's docstring); a no-op if a primer already runs here
    or the launcher's does."""
    global _active
    if _active is not None and _active.owner == posix.getpid() and _active.done.locked():
        return _active                      # still running
    if path is None and launcher_primer():
        return None
    held, own = None, None
    if path is None and (prepared := _take_prepared()) is not None:
        held, path, own = prepared
    try:
        _active = Primer(path, deadline, every, held, own)
    except Exception:  # noqa: BLE001 - no thread, no priming: the attach just costs more
        if held is not None:
            posix.close(held)
        _active = None
    return _active


def finish() -> None:
    """The real attach is done: stop priming (no-op when none runs in this process)."""
    global _active, _launcher_fd
    if _launcher_fd >= 0:
        trace.event("prime cgroup attach", "linux.cgroupsPath", file="(launcher)",
                    note="started (or joined) by the pycontainer command at exec time "
                         "(csrc/launcher.c), before the interpreter: the grace period passed "
                         "while Python started")
        try:
            posix.close(_launcher_fd)           # the primer sees EOF (and stops, if it is ours)
        except OSError:
            pass
        _launcher_fd = -1
    p = _active
    if p is not None and p.owner == posix.getpid():
        p.stop()
        _active = None


def drop_inherited() -> None:
    """In a child forked while priming runs (the init or stage 1, exec's joiner): close what
    the priming holds, none of which may reach the container: the thread's ``cgroup.procs``
    fd, if the fork came in the middle of a write (a host cgroupfs fd in the init: the
    CVE-2024-21626 class; it is close-on-exec, but the created init would hold it until
    then), and the launcher's connection to its primer."""
    global _active, _launcher_fd, _prepared
    if _launcher_fd >= 0:
        try:
            posix.close(_launcher_fd)
        except OSError:
            pass
        _launcher_fd = -1
    if _prepared is not None:               # a prepared fd no thread took
        try:
            posix.close(_prepared[0])
        except OSError:
            pass
        _prepared = None
    if _active is None:
        return                              # no thread ran in the parent: nothing to look for
    _active = None                          # the parent's; its thread is not in this process
    for name in posix.listdir("/proc/self/fd"):
        try:
            if posix.readlink(f"/proc/self/fd/{name}").endswith("/cgroup.procs"):
                posix.close(int(name))
        except OSError:
            continue                        # the listdir's own fd, already gone
