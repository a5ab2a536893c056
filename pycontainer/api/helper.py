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

The helper, single-threaded and with the runtime already imported (the
``PRELOAD`` list), forks a worker per request: no interpreter start per
container ("start" starts a stopped one again). The worker makes the fds its stdio, runs the operation
(api/operations.py) and writes one JSON reply on the reply socket: the
operation's result, or ``{"error": errors.encode(exc)}``. An empty
control message (the client closed) ends the helper.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from ..errors import PyContainerError, encode
from .operations import op_create, op_exec, op_run


PRELOAD = ("pycontainer.container", "pycontainer.process.launcher", "pycontainer.process.init",
           "pycontainer.process.execute", "pycontainer.spec", "pycontainer.state", "pycontainer.cgroups",
           "pycontainer.cgroups.convert", "pycontainer.image.store", "pycontainer.image.rootfs",
           "pycontainer.image.overlay", "pycontainer.image.runconfig", "pycontainer.network",
           "pycontainer.detach", "pycontainer.containerdir", "pycontainer.cleanup", "pycontainer.monitor",
           "pycontainer.capabilities", "pycontainer.terminal", "pycontainer.porcelain",
           "pycontainer.hooks", "pycontainer.errors",
           # what the first container would import lazily (measured): each worker is a
           # fork of the helper, so anything not loaded here is loaded once per container
           "pycontainer.cgroups.devices", "pycontainer.cgroups.stats", "pycontainer.cgroups.v1",
           "pycontainer.cgroups.v2", "pycontainer.image.layers", "pycontainer.image.manifest",
           "pycontainer.image.blobs", "pycontainer.network.files", "pycontainer.network.ipam",
           "pycontainer.network.nat", "pycontainer.network.netns", "pycontainer.security.seccomp",
           "pycontainer.security.libseccomp", "pycontainer.security.seccomp_profile", "shutil",
           "subprocess", "tempfile", "hashlib", "random", "locale", "bz2", "lzma", "bisect")


# ``python -I -m pycontainer.api --serve FD``, but of this very copy of pycontainer: -I keeps
# the environment and the working directory out of sys.path, so an installed pycontainer
# would be found first and a checkout's client would talk to another checkout's helper.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVE = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from pycontainer.api.helper import serve; serve(int(sys.argv[2]))")


DIED = {"error": {"kind": "PyContainerError", "msg": "the pycontainer helper died before it answered"}}


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
                        socket.send_fds(self.sock, [data], fds)
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
    """Requests go to the helper; the program's output comes back on pipes."""

    def __init__(self):
        self.helper = Helper()

    def close(self) -> None:
        self.helper.close()

    def request(self, req: dict, *, capture: bool = False, separate: bool = True,
                stdin: bytes | None = None) -> tuple[dict, bytes, bytes]:
        """-> (reply, stdout, stderr); without ``capture`` the program's stdio is /dev/null."""
        if not capture:
            return recv_reply(self.helper.call(req)), b"", b""
        return self._collect(req, separate=separate, stdin_data=stdin)

    def _collect(self, req, *, separate: bool, stdin_data: bytes | None = None):
        """Send ``req`` with pipes for stdout/stderr (and stdin); read both and the reply."""
        import selectors
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        if separate:
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
        else:
            err_r, err_w = -1, out_w
        in_r = in_w = -1
        if stdin_data is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
        try:
            sock = self.helper.call(req, (None if in_r < 0 else in_r, out_w, err_w))
        except BaseException:
            for fd in {out_r, out_w, err_r, err_w, in_r, in_w} - {-1}:
                os.close(fd)
            raise
        os.close(out_w)
        if separate:
            os.close(err_w)
        if in_r >= 0:
            os.close(in_r)
            os.set_blocking(in_w, False)
        pending = memoryview(stdin_data or b"")
        bufs = {out_r: [], err_r: []}
        reply_data = None
        sel = selectors.DefaultSelector()
        try:
            sel.register(out_r, selectors.EVENT_READ)
            if separate:
                sel.register(err_r, selectors.EVENT_READ)
            sel.register(sock, selectors.EVENT_READ)
            if in_w >= 0:
                if pending:
                    sel.register(in_w, selectors.EVENT_WRITE)
                else:
                    os.close(in_w)
                    in_w = -1
            open_fds = {out_r} | ({err_r} if separate else set())
            while open_fds or reply_data is None:
                for key, _ in sel.select():
                    if key.fd == in_w:
                        try:
                            pending = pending[os.write(in_w, pending[:65536]):]
                        except BlockingIOError:
                            continue
                        except OSError:          # the program closed its stdin
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(in_w)
                            os.close(in_w)
                            in_w = -1
                        continue
                    if key.fileobj is sock:
                        reply_data = sock.recv(1 << 20) or b""
                        sel.unregister(sock)
                        if not reply_data:
                            reply_data = json.dumps(DIED).encode()
                        continue
                    data = os.read(key.fd, 65536)
                    if data:
                        bufs[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
                        open_fds.discard(key.fd)
        finally:
            sel.close()
            sock.close()
            if in_w >= 0:
                os.close(in_w)
            os.close(out_r)
            if separate:
                os.close(err_r)
        return json.loads(reply_data), b"".join(bufs[out_r]), b"".join(bufs.get(err_r, []))


def recv_reply(sock, timeout=None) -> dict:
    """The one reply message on ``sock`` (an error reply if the helper died first)."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1 << 20)
    finally:
        sock.close()
    if not data:
        return DIED
    return json.loads(data)


def serve(ctl_fd: int) -> None:
    """The helper's loop: one message = one request; fork a worker for it."""
    import importlib
    import socket
    for m in PRELOAD:
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    ctl = socket.socket(fileno=ctl_fd)
    os.set_inheritable(ctl_fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, lambda _n, _f: reap_workers())   # no zombie workers
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
        if "pyroute2" not in sys.modules and req.get("op") in ("run", "create") and \
                (req.get("options") or {}).get("network", "bridge") not in ("none", "host"):
            # The first bridge container pays pyroute2's import (~150 ms) here, once:
            # every later worker is a fork that has it, and its setup is ~13 ms.
            try:
                importlib.import_module("pyroute2.iproute")
            except ImportError:
                pass
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)   # the worker waits for its own
                ctl.close()
                code = worker(req, fds)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
    reap_workers()


def reap_workers():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def worker(req: dict, fds: list[int]) -> int:
    """One request in a forked worker: stdio from the caller, the answer on fds[0]."""
    reply_fd, stdio = fds[0], fds[1:4]
    for i, fd in enumerate(stdio):
        os.dup2(fd, i)
        os.close(fd)
    op = req.pop("op")
    root = req.pop("root")
    image_root = req.pop("image_root", None)
    try:
        if op == "run":
            res = op_run(root, req["id"], req["options"], remove=req["remove"], timeout=req.get("timeout"),
                         image_root=image_root)
        elif op == "create":
            res = op_create(root, req["id"], req["options"], start=req["start"], remove=req["remove"],
                            image_root=image_root)
        elif op == "start":                  # docker's start of a stopped container
            from .. import lifecycle
            res = {"pid": lifecycle.start(root, req["id"])}
        elif op == "exec":
            res = {"exit_code": op_exec(root, req["id"], req["args"], env=req.get("env", ()),
                                        user=req.get("user"), workdir=req.get("workdir"),
                                        privileged=req.get("privileged", False),
                                        detach=req.get("detach", False), tty=req.get("tty", False))}
        else:
            raise PyContainerError(f"unknown operation {op!r}")
        out = json.dumps(res)
        code = 0
    except PyContainerError as exc:
        from .. import exitcodes
        if op == "create" and not req.get("start") and exitcodes.is_exec_error(exc):
            out, code = json.dumps({"id": req["id"], "pid": 0}), 0    # docker: start() fails
        elif op not in ("run", "exec") or not exitcodes.is_exec_error(exc):
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
    os.write(reply_fd, out.encode())
    return code
