"""Container state on disk: one directory per container under the state root.

The OCI runtime spec (runtime.md, "State") defines what ``state`` prints:
``ociVersion, id, status, pid, bundle, annotations``; runc adds ``rootfs``,
``created`` and ``owner``. pycontainer keeps that, plus what later commands
need (the cgroup path, the namespaces to join for exec, what networking
made), in ``<root>/<id>/state.json``:

* the directory is created with ``mkdir(2)``, which fails with EEXIST if the
  ID is taken: that is the atomic "reserve this ID" step of ``create``;
* every write goes to a temporary file that is ``rename(2)``d over the old
  one, so a reader never sees half a file, even after ``kill -9``;
* commands that change a container hold ``flock(2)`` on the directory, so two
  ``pycontainer`` processes never act on one container at once.

A process ID alone cannot identify the container's init: PIDs are reused. As
runc does, the init's start time (field 22 of ``/proc/PID/stat``, proc(5)) is
stored beside the PID, and a PID whose start time differs is a dead init.
"""

from __future__ import annotations

import fcntl
import posix       # os without its Python helpers: importing os is ~1 ms of every verb (paths.py)

from . import jsonio, paths

from .errors import ContainerExists, ContainerNotFound, InvalidID, InvalidName, StateError

DEFAULT_ROOT = "/run/pycontainer"
OCI_VERSION = "1.2.0"
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")


def _id_ok(s: str) -> bool:
    return bool(s) and all(c in _ID_CHARS for c in s)

# Status values of the OCI spec; "paused" is runc's addition.
CREATING, CREATED, RUNNING, STOPPED, PAUSED = "creating", "created", "running", "stopped", "paused"
START_SOCK = "start.sock"         # the init's start barrier (process/startsock.py)


# Every path made from an ID must fit in a file name (NAME_MAX, 255): the longest is an
# image hold's temporary file, ".<id>.json.tmp.<pid>" (18 more: atomicfile.py), so 200
# leaves room to spare. Engines use
# 64 hex digits.
MAX_ID_LEN = 200


def validate_id(container_id: str) -> str:
    """Reject IDs that cannot safely name a directory (runc's validateID rule, plus a
    length bound that every path built from the ID respects)."""
    if not container_id:
        raise InvalidID("invalid container ID: it is empty")
    if len(container_id) > MAX_ID_LEN:
        raise InvalidID(f"invalid container ID: {len(container_id)} characters, at most "
                        f"{MAX_ID_LEN} (it names files and cgroups)")
    if container_id in (".", "..") or not _id_ok(container_id):
        raise InvalidID(f"invalid container ID {container_id!r}: use only letters, digits and _+.-, "
                        "and not . or ..")
    return container_id


def validate_name(name: str) -> str:
    """A docker container name (``[a-zA-Z0-9][a-zA-Z0-9_.-]+``, a leading ``/`` allowed),
    kept beside its ID (names.py): docker's message, exit status 125."""
    n = name[1:] if name.startswith("/") else name
    if len(n) < 2 or not n[0].isascii() or not n[0].isalnum() or \
            not all(c.isascii() and (c.isalnum() or c in "_.-") for c in n):
        raise InvalidName(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                          "are allowed")
    if len(n) > MAX_ID_LEN:
        raise InvalidName(f"Invalid container name: {len(n)} characters, at most {MAX_ID_LEN}")
    return n


def now_rfc3339() -> str:
    """UTC now as 2006-01-02T15:04:05.000000Z (what datetime.isoformat gives, without
    importing datetime: ~1 ms of every create)."""
    import time
    sec, us = divmod(time.time_ns() // 1000, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{us:06d}Z"


def proc_start_time(pid: int) -> int | None:
    """Field 22 (starttime) of /proc/PID/stat, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and ')': split after the last ')'.
    rest = data[data.rfind(b")") + 2:].split()
    try:
        if rest[0] == b"Z":           # a zombie has exited: treat as gone
            return None
        return int(rest[19])
    except (IndexError, ValueError):
        return None


class StateDir:
    """The state of one container: ``<root>/<id>/``."""

    def __init__(self, root: str, container_id: str):
        self.root = root
        self.id = validate_id(container_id)
        self.path = paths.join(root, container_id)
        self._lock_fd = -1

    # --- existence ---------------------------------------------------------
    def create(self) -> None:
        """Reserve the ID (mkdir fails if it is taken) and lock it."""
        try:
            try:
                posix.mkdir(self.path, 0o711)
            except FileNotFoundError:      # the first container under this --root
                import os
                os.makedirs(self.root, mode=0o711, exist_ok=True)
                posix.mkdir(self.path, 0o711)
        except FileExistsError:
            raise ContainerExists(f"container {self.id!r} already exists") from None
        self.lock()

    def exists(self) -> bool:
        return paths.isfile(paths.join(self.path, "state.json")) or paths.isdir(self.path)

    def remove(self) -> None:
        """Remove the state dir (flat: state.json, start.sock, network files, ...)."""
        try:
            with posix.scandir(self.path) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        import shutil
                        shutil.rmtree(e.path, ignore_errors=True)
                    else:
                        try:
                            posix.unlink(e.path)
                        except FileNotFoundError:
                            pass
            posix.rmdir(self.path)
        except FileNotFoundError:
            pass
        self.unlock()

    # --- locking -------------------------------------------------------------
    def lock(self, blocking: bool = True) -> None:
        if self._lock_fd >= 0:
            return
        try:
            fd = posix.open(self.path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(f"container {self.id!r} does not exist") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            posix.close(fd)
            raise StateError(f"container {self.id!r} is busy: another pycontainer command holds it")
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            posix.close(self._lock_fd)
            self._lock_fd = -1

    # --- the record --------------------------------------------------------------
    def read(self) -> dict:
        from . import trace
        try:
            with trace.step("read state.json", "--root", id=self.id):
                with open(paths.join(self.path, "state.json")) as f:
                    record = jsonio.loads(f.read())
            if record.get("status") == CREATED and not paths.lexists(self.file(START_SOCK)):
                record["status"] = RUNNING     # `start` removed the barrier: the init has the word
            return record
        except FileNotFoundError:
            if paths.isdir(self.path):
                # create was killed before its first write: a stopped husk.
                return {"id": self.id, "status": CREATING, "pid": 0, "bundle": "", "husk": True}
            raise ContainerNotFound(f"container {self.id!r} does not exist") from None
        except ValueError as exc:
            raise StateError(f"state of container {self.id!r} is corrupt: {exc}") from None

    def write(self, record: dict) -> None:
        """Atomically replace state.json (write a temp file, fsync-free rename)."""
        from . import trace
        with trace.step("write state.json", "--root", status=record.get("status")):
            tmp = paths.join(self.path, f".state.json.{posix.getpid()}")
            with open(tmp, "w") as f:
                f.write(jsonio.dumps(record, separators=(",", ":")))
            posix.rename(tmp, paths.join(self.path, "state.json"))

    def file(self, name: str) -> str:
        return paths.join(self.path, name)

    def started(self) -> None:
        """The init has the word: remove its start barrier ``start.sock`` (the init keeps its
        listening socket), which is how a read tells "running" from "created" from now on, as
        runc tells them by whether exec.fifo is still there. Cheaper than another state.json."""
        try:
            posix.unlink(self.file(START_SOCK))
        except FileNotFoundError:
            pass


def status_of(record: dict, frozen: bool = False) -> str:
    """The live status: the recorded one, corrected by whether the init still exists."""
    pid = record.get("pid") or 0
    recorded = record.get("status", STOPPED)
    if pid <= 0:
        return CREATING if recorded == CREATING and not record.get("husk") else STOPPED
    if proc_start_time(pid) != record.get("pid_start"):
        return STOPPED
    if recorded == CREATING:
        return CREATING
    if frozen:
        return PAUSED
    return recorded


def settled(sd: StateDir, record: dict, wait: float = 5.0) -> tuple[dict, str]:
    """(record, status) for a record that says "creating": wait (up to ``wait`` s) for
    the ``create`` that holds the lock, then read again. A create that died without
    finishing leaves "stopped": "creating" is never reported once create returned."""
    import time
    deadline = time.monotonic() + wait
    while True:
        try:
            sd.lock(blocking=False)
            break
        except ContainerNotFound:
            raise
        except StateError:
            if time.monotonic() >= deadline:
                return record, CREATING           # still being created
            time.sleep(0.01)
    try:
        record = sd.read()
    finally:
        sd.unlock()
    status = status_of(record)
    return record, (STOPPED if status == CREATING else status)


def list_ids(root: str) -> list[str]:
    try:
        names = posix.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _id_ok(n) and n not in (".", "..")
                  and paths.isdir(paths.join(root, n)))


def oci_state(record: dict, status: str) -> dict:
    """The JSON ``state`` prints: the OCI fields plus runc's rootfs/created/owner."""
    out = {
        "ociVersion": record.get("ociVersion", OCI_VERSION),
        "id": record["id"],
        "pid": record.get("pid", 0) if status not in (STOPPED,) else 0,
        "status": status,
        "bundle": record.get("bundle", ""),
        "rootfs": record.get("rootfs", ""),
        "created": record.get("created", ""),
        "owner": record.get("owner", ""),
    }
    if record.get("annotations"):
        out["annotations"] = record["annotations"]
    return out


def write_pid_file(path: str, pid: int) -> None:
    """``--pid-file``: the init's pid, written whole (a temp file renamed over it)."""
    path = paths.abspath(path)
    tmp = paths.join(paths.dirname(path), f".{paths.basename(path)}.{posix.getpid()}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    posix.rename(tmp, path)
