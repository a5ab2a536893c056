"""The sync protocol between the runtime (stage 0) and the container's processes.

One ``socketpair(AF_UNIX, SOCK_SEQPACKET)`` (unix(7)) links the runtime to
stage 1 and, after stage 1 forks, to the container's init. SEQPACKET keeps
message boundaries: one ``recv`` is one message, a JSON object with a
``type``. The order is fixed; each side ``expect``s the next type::

    runtime (stage 0)                         stage 1 / init
    ─────────────────                         ──────────────
    fork stage 1
    write stage 1's pid to cgroup.procs
    GO  ───────────────────────────────────▶  join/unshare namespaces
                                              [new user ns]
         ◀───────────────────────────────────  MAP_PLS
    write uid_map, gid_map (proc(5))
    MAP_ACK ───────────────────────────────▶
                                              fork the init (pid 1), exit
         ◀───────────────────────────────────  INIT_PID {pid}
    network, prestart/createRuntime hooks
    CONTINUE ──────────────────────────────▶  rootfs, mounts, pivot_root, ...
         ◀───────────────────────────────────  READY   (init waits at the start barrier)

    any step may instead send  ERROR {kind, msg, stage, errno}  and exit.

Without a user or time namespace there is no stage 1 (pidns.py): the runtime
forks the init into its PID namespace itself, and after ``GO`` the init
joins and unshares the others and sends ``INIT_PID`` without a pid (its
parent knows it); no ``MAP_PLS``. The rest is the same.

The child's failure is a message, not a guess from an exit status: the
runtime re-raises it as the same exception class with the same one-line text
(crun forwards its child's errors the same way; runc's procError).
"""

from __future__ import annotations

from .. import jsonio

from ..errors import ContainerSetupError, from_message

GO, MAP_PLS, MAP_ACK, INIT_PID, CONTINUE, READY, ERROR = (
    "GO", "MAP_PLS", "MAP_ACK", "INIT_PID", "CONTINUE", "READY", "ERROR")


class SyncSocket:
    def __init__(self, sock):
        self.sock = sock            # a _socket.socket: the C object under socket.socket

    @classmethod
    def pair(cls) -> tuple["SyncSocket", "SyncSocket"]:
        """socketpair(2) as the C socket objects of _socket, without importing ``socket``
        (its enums and selectors cost ~2 ms of every create and exec); send/recv/settimeout/
        detach/close are the same calls."""
        import _socket
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msgtype: str, **fields) -> None:
        fields["type"] = msgtype
        self.sock.send(jsonio.dumps(fields).encode())

    def send_error(self, exc: BaseException, stage: str) -> None:
        kind = type(exc).__name__
        errno = getattr(exc, "errno", None)
        msg = str(exc) if not isinstance(exc, OSError) else _oserror_text(exc)
        try:
            self.send(ERROR, kind=kind, msg=msg, stage=getattr(exc, "stage", "") or stage, errno=errno)
        except OSError:
            pass

    def recv(self, timeout: float | None = None) -> dict:
        self.sock.settimeout(timeout)
        try:
            data = self._recv()
        except TimeoutError:        # socket.timeout is TimeoutError (Python 3.10+)
            raise ContainerSetupError("container setup timed out waiting for the container process",
                                      stage="sync") from None
        if not data:
            raise ContainerSetupError("container process exited during setup without saying why",
                                      stage="sync")
        return jsonio.loads(data)

    def expect(self, kind: str, timeout: float | None = None) -> dict:
        msg = self.recv(timeout)
        if msg.get("type") == ERROR:
            raise from_message(msg.get("kind", ""), msg.get("msg", "container setup failed"),
                               stage=msg.get("stage", ""), errno=msg.get("errno"))
        if msg.get("type") != kind:
            raise ContainerSetupError(f"sync: expected {kind}, received {msg.get('type')}", stage="sync")
        return msg

    def queued_error(self) -> Exception | None:
        """The error the other side has already sent, if one waits in the socket (never
        blocks). For a caller already failing: another message waiting is read and dropped."""
        self.sock.settimeout(0)
        try:
            data = self._recv()
        except OSError:             # BlockingIOError: nothing waiting
            return None
        msg = jsonio.loads(data) if data else {}
        if msg.get("type") != ERROR:
            return None
        return from_message(msg.get("kind", ""), msg.get("msg", "container setup failed"),
                            stage=msg.get("stage", ""), errno=msg.get("errno"))

    def _recv(self) -> bytes:
        """One message. A peer that exits with a message of ours unread (a child that fails
        before reading GO) resets the connection: unix(7) reports ECONNRESET to the next
        recv, once, before the messages the peer sent; its last one (the ERROR) still waits.
        Read after a reset without waiting: that message, or b"" (closed) when none."""
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            self.sock.settimeout(0)
            try:
                return self.sock.recv(65536)
            except OSError:
                return b""

    def close(self) -> None:
        self.sock.close()


def _oserror_text(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    if exc.filename is not None and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return text


# --- unix(7) fd passing on the C socket objects of _socket ------------------------------
# socket.send_fds/recv_fds/accept without importing ``socket`` (its enums and selectors
# cost ~6 ms of stage 1, on the critical path of every create).

def accept(listener):
    """``listener.accept()`` for a _socket.socket: the connection as a _socket.socket."""
    import _socket
    fd, _addr = listener._accept()          # what socket.socket.accept calls
    return _socket.socket(fileno=fd)


def send_fds(sock, buffers, fds) -> int:
    """socket.send_fds: ``buffers`` with ``fds`` as SCM_RIGHTS (unix(7)). _struct (struct's
    C module, which the init imports before pivot_root), not array: the array module imports
    collections (~2.5 ms)."""
    import _socket
    import _struct
    return sock.sendmsg(buffers, [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                   _struct.pack(f"{len(fds)}i", *fds))])


def recv_fds(sock, bufsize: int, maxfds: int):
    """socket.recv_fds: -> (data, fds, flags, address)."""
    import _socket
    import _struct
    data, anc, flags, addr = sock.recvmsg(bufsize, _socket.CMSG_LEN(maxfds * 4))
    fds: list[int] = []
    for level, kind, cdata in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            n = len(cdata) // 4
            fds.extend(_struct.unpack(f"{n}i", cdata[:n * 4]))
    return data, fds, flags, addr
