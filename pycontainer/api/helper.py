"""The API's helper process and its wire protocol: ``python -I -m pycontainer.api --serve FD``.

A program embedding pycontainer may have threads, and fork(2) of a threaded
interpreter can deadlock on a lock another thread held. So ``Client`` never
forks the caller: ``HelperTransport`` starts one helper with ``close_fds``
(no fd of the host program reaches it), and per request sends one
``SOCK_SEQPACKET`` message on the control socket:

====================================  =============================================
message (JSON)                        fds (SCM_RIGHTS)
====================================  =============================================
``{"op": "run"|"create"|"exec",       reply socket, stdin, stdout, stderr
"root", "image_root", "id", ...}``    (``/dev/null`` for those the caller has none)
====================================  =============================================

``"warm"`` (a pool's container, api/pool.py) is a conversation on its reply
socket: the worker answers once the container is created, then waits there
for one run message (its stdio as SCM_RIGHTS), runs it and answers again.

The helper, single-threaded and with the runtime already imported (the
``PRELOAD`` list), hands each request to a worker it forked ahead: no interpreter
start or fork per container ("start" starts a stopped one again). The worker
makes the fds its stdio, runs the operation (api/operations.py) and writes one
JSON reply on the reply socket: the
operation's result, or ``{"error": errors.encode(exc)}``. An empty
control message or end of file (the client closed or died) ends the helper,
after it force-deleted the client's owned containers (a pool's); a worker
whose reply socket closes (the caller gave up, was interrupted, died)
cancels its request: a sandbox is killed and removed, an exec's process tree
killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from ..errors import PyContainerError, encode
from .execs import op_exec_timed
from .operations import op_create, op_run
from .pool import serve as serve_warm
from .streams import DIED
from .workers import Spares


PRELOAD = ("pycontainer.container", "pycontainer.process.launcher", "pycontainer.process.startsock",
           "pycontainer.process.init", "pycontainer.process.execute", "pycontainer.spec", "pycontainer.state",
           "pycontainer.cgroups",
           "pycontainer.cgroups.convert", "pycontainer.image.store", "pycontainer.image.rootfs",
           "pycontainer.image.overlay", "pycontainer.image.runconfig", "pycontainer.network",
           "pycontainer.detach", "pycontainer.containerdir", "pycontainer.cleanup", "pycontainer.monitor",
           "pycontainer.capabilities", "pycontainer.terminal", "pycontainer.porcelain",
           "pycontainer.hooks", "pycontainer.errors",
           # what the first container would import lazily (measured): each worker is a
           # fork of the helper, so anything not loaded here is loaded once per container
           "pycontainer.cgroups.devices", "pycontainer.cgroups.stats", "pycontainer.cgroups.v1",
           "pycontainer.cgroups.v2", "pycontainer.cgroups.ebpf", "pycontainer.image.layers",
           "pycontainer.image.manifest",
           "pycontainer.image.blobs", "pycontainer.network.files", "pycontainer.network.ipam",
           "pycontainer.network.nat", "pycontainer.network.netns", "pycontainer.security.seccomp",
           "pycontainer.security.libseccomp", "pycontainer.security.seccomp_profile", "shutil",
           "subprocess", "tempfile", "hashlib", "random", "locale", "bz2", "lzma", "bisect",
           "pycontainer.network.egress", "pycontainer.api.archive", "pycontainer.api.execs", "tarfile",
           "fcntl", "pycontainer.lifecycle", "pycontainer.run_flags", "pycontainer.health",
           "pycontainer.reclaim", "pycontainer.cgroups.attachlock", "pycontainer.signals", "_sha256",
           "pycontainer.syscalls", "pycontainer.atomicfile", "pycontainer.containerconfig",
           "pycontainer.events", "pycontainer.shm")


# ``python -I -m pycontainer.api --serve FD``, but of this very copy of pycontainer: -I keeps
# the environment and the working directory out of sys.path, so an installed pycontainer
# would be found first and a checkout's client would talk to another checkout's helper.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVE = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from pycontainer.api.helper import serve; serve(int(sys.argv[2]))")


class Helper:
    """One helper process per Client; per request, one forked worker."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc = None
        self.sock = None

    def _start(self):
        import socket
        import subprocess
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", SERVE, PACKAGE_PARENT, str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                close_fds=True, cwd="/")
        finally:
            theirs.close()
        self.sock = mine

    def call(self, request: dict, stdio=(None, None, None), timeout: float | None = None) -> tuple:
        """Send ``request`` with our stdio fds; return (reply socket) to read the answer from."""
        import socket
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            fds = [theirs.fileno()] + [null if fd is None else fd for fd in stdio]
            data = json.dumps(request).encode()
            with self.lock:
                for attempt in (0, 1):
                    if self.sock is None or self.proc.poll() is not None:
                        self.close_locked()
                        self._start()
                    try:
                        # MSG_NOSIGNAL: a helper that died is restarted below, even in a
                        # caller that set SIGPIPE back to its default (which kills)
                        socket.send_fds(self.sock, [data], fds, socket.MSG_NOSIGNAL)
                        break
                    except OSError:
                        self.close_locked()
                        if attempt:
                            raise
        finally:
            theirs.close()
            os.close(null)
        return mine

    def close_locked(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self):
        with self.lock:
            self.close_locked()



class HelperTransport:
    """Requests go to the helper; the program's output comes back on pipes (api/streams.py)."""

    def __init__(self):
        self.helper = Helper()

    def close(self) -> None:
        self.helper.close()

    def request(self, req: dict, *, capture: bool = False, separate: bool = True,
                stdin: bytes | None = None, timeout: float | None = None) -> tuple[dict, bytes, bytes]:
        """-> (reply, stdout, stderr); without ``capture`` the program's stdio is /dev/null."""
        if not capture:
            return recv_reply(self.helper.call(req), timeout), b"", b""
        from .streams import Sink, collect
        sinks = {1: Sink(None), 2: Sink(None)}
        deadline = None if timeout is None else time.monotonic() + timeout
        reply = collect(self.open(req, separate=separate, stdin=stdin, deadline=deadline), sinks)
        return reply, sinks[1].value(), sinks[2].value()

    def open(self, req: dict, *, separate: bool = True, stdin: bytes | None = None,
             deadline: float | None = None):
        """Send ``req`` with pipes for stdout/stderr (and stdin): ``streams.exchange``'s generator."""
        from .streams import exchange
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        if separate:
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
        else:
            err_r, err_w = -1, out_w
        in_r = in_w = -1
        if stdin is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        try:
            sock = self.helper.call(req, (None if in_r < 0 else in_r, out_w, err_w))
        except BaseException:
            for fd in {out_r, out_w, err_r, err_w, in_r, in_w} - {-1}:
                os.close(fd)
            raise
        for fd in {out_w, err_w, in_r} - {-1}:
            os.close(fd)
        fds = {out_r: 1} if not separate else {out_r: 1, err_r: 2}
        return exchange(sock, fds, stdin_fd=in_w, stdin_data=stdin, deadline=deadline)

    def call(self, req: dict, stdio=(None, None, None)):
        """The raw call: ``req`` with these fds as the program's stdio; the reply socket."""
        return self.helper.call(req, stdio)


def recv_reply(sock, timeout=None) -> dict:
    """The one reply message on ``sock`` (an error reply if the helper died first)."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1 << 20)
    except TimeoutError:
        from .streams import Timeout
        raise Timeout(f"the pycontainer helper did not answer within {timeout}s "
                      "(the request was abandoned)") from None
    finally:
        sock.close()
    if not data:
        return DIED
    return json.loads(data)


def serve(ctl_fd: int) -> None:
    """The helper's loop: one message = one request, handed with its fds to a worker forked
    ahead of it (workers.py: the fork is then not on the request's path).

    Containers created with ``"owned": true`` (a pool's) belong to the client:
    when it goes away (end of file on the control socket: close(), exit,
    kill -9) the helper force-deletes those still there, then exits. A
    sandbox's worker cancels its own run when its reply socket closes.
    """
    import importlib
    import socket
    from .. import trace
    trace.enable_from_env()               # PYCONTAINER_TRACE: every worker's steps (bench/)
    for m in PRELOAD:
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    ctl = socket.socket(fileno=ctl_fd)
    os.set_inheritable(ctl_fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, lambda _n, _f: reap_workers())   # no zombie workers
    owned: set[tuple[str, str]] = set()
    workers = Spares(ctl, worker)       # each request's worker is forked ahead of it
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 8)
        except InterruptedError:
            continue
        reap_workers()
        if not msg:
            break                       # the client closed: we are done
        for fd in fds:
            os.set_inheritable(fd, False)
        req = json.loads(msg)
        if req.get("op") in ("create", "warm") and req.get("owned"):
            owned.add((req["root"], req["id"]))
            if len(owned) > 64:
                owned = {(r, i) for r, i in owned if os.path.isdir(os.path.join(r, i))}
        makes = req.get("op") in ("run", "create", "warm")
        if "pyroute2" not in sys.modules and makes and \
                (req.get("options") or {}).get("network", "bridge") not in ("none", "host"):
            # The first bridge container pays pyroute2's import (its rtnetlink messages,
            # ~15 ms) here, once: every later worker is a fork that has it.
            try:
                importlib.import_module("pycontainer.network.rtnl").load()
            except Exception:  # noqa: BLE001 - the worker reports it
                pass
            workers.reset()
        workers.dispatch(msg, fds, learn=makes)
    workers.close()
    release(owned)
    reap_workers()


def release(owned) -> None:
    """Force-delete the client's containers that are still there (its pools' spares)."""
    from ..container import Runtime
    for root, cid in owned:
        if os.path.isdir(os.path.join(root, cid)):
            try:
                Runtime(root).delete(cid, force=True)
            except Exception:  # noqa: BLE001 -- best effort: the next one still goes
                pass


def reap_workers():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _minflt() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def worker(req: dict, fds: list[int]) -> int:
    """One request in a forked worker: stdio from the caller, the answer on fds[0]."""
    from ..cgroups import attachlock
    op = req.pop("op")
    if op in ("run", "create", "warm", "start", "exec"):
        # each attaches a process to a cgroup: the kernel's wait on the first attach (an
        # RCU grace period, cgroups/attachlock.py) passes while the request is prepared.
        # First thing: the grace period (6-20 ms) is what the cgroup's mkdir waits for.
        attachlock.start()
    else:
        attachlock.unprepare()              # no host cgroupfs fd near a container's files
    from .. import trace
    faults = _minflt() if trace.enabled() else None
    reply_fd, stdio = fds[0], fds[1:4]
    for i, fd in enumerate(stdio):
        os.dup2(fd, i)
        os.close(fd)
    root = req.pop("root", None)
    image_root = req.pop("image_root", None)
    try:
        if op == "run":
            res = op_run(root, req["id"], req["options"], remove=req["remove"], timeout=req.get("timeout"),
                         image_root=image_root, cancel_fd=reply_fd)
        elif op == "create":
            res = op_create(root, req["id"], req["options"], start=req["start"], remove=req["remove"],
                            image_root=image_root)
            if req["start"]:                 # as the CLI's run -d: its health checker, its name
                from .. import lifecycle     # in the hosts files of its network's members
                lifecycle.started(root, req["id"], req["options"].get("user_network"))
        elif op == "warm":                   # a pool's container: it answers on reply_fd itself
            return serve_warm(root, req["id"], req["options"], image_root=image_root, reply_fd=reply_fd)
        elif op == "start":                  # docker's start of a stopped container
            from .. import lifecycle
            res = {"pid": lifecycle.start(root, req["id"])}
        elif op == "exec":
            res = op_exec_timed(root, req["id"], req["args"], env=req.get("env", ()),
                                user=req.get("user"), workdir=req.get("workdir"),
                                privileged=req.get("privileged", False),
                                detach=req.get("detach", False), timeout=req.get("timeout"),
                                cancel_fd=reply_fd, oom=req.get("oom", False), tty=req.get("tty", False),
                                mux=req.get("mux", False), attach=req.get("attach", (True,) * 3))
        elif op in ("put_archive", "get_archive"):
            from . import archive
            res = getattr(archive, op)(root, req["id"], req["path"])
        elif op == "ping":
            import pycontainer
            res = {"pid": os.getppid(), "package": os.path.dirname(pycontainer.__file__)}
        else:
            raise PyContainerError(f"unknown operation {op!r}")
        out = json.dumps(res)
        code = 0
    except PyContainerError as exc:
        from .. import exitcodes
        if op not in ("run", "exec") or not exitcodes.is_exec_error(exc):
            out, code = json.dumps({"error": encode(exc)}), 1
        else:       # docker: (126|127, message); sandbox: exit_code with the message on stderr
            os.write(2, f"{exc}\n".encode())
            out, code = json.dumps({"id": req.get("id"), "exit_code": exitcodes.for_error(exc),
                                    "oom_killed": False, "timed_out": False, "wall": 0.0}), 0
    except BaseException as exc:  # noqa: BLE001
        out = json.dumps({"error": encode(exc)})
        code = 1
    for i in (0, 1, 2):              # the container keeps its copies; ours go first
        try:
            os.dup2(os.open(os.devnull, os.O_RDWR), i)
        except OSError:
            pass
    if faults is not None:
        # A forked worker's hidden cost: each first write to a page it shares with the helper
        # (a reference count, an allocation, a function's first call) copies it (prefault.py).
        trace.event("worker page faults", "", minflt=_minflt() - faults,
                    note="minor faults of this worker from its request to its reply (mostly "
                         "copy-on-write of the helper's pages)")
    try:
        os.write(reply_fd, out.encode())
    except OSError:                  # the caller is gone
        pass
    return code
