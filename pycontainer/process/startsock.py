"""The start barrier: ``start.sock``, a listening unix socket in the state dir.

``create`` leaves the init blocked in accept(2) on this socket (init.py,
``_wait_for_start``), after the rootfs is built and before the program is
exec'd; ``start`` connects and sends the word. runc does the same with a FIFO
(exec.fifo): a socket also carries an answer back, so a failed execve is
reported to ``start`` as text, and the init's end is close-on-exec, so EOF
means the program is running.

The socket is reached through ``/proc/self/fd/DIRFD/start.sock``: a state
root deeper than the 108 bytes of sun_path still works (unix(7)).

This module is all ``start`` needs of the launcher (process/launcher.py
binds the socket at ``create``): it uses the C socket objects of ``_socket``
and the ``posix`` module, because ``socket`` (its enums, selectors) and ``os``
cost ~2 ms and ~1 ms of a verb runc finishes in ~6 ms. Read unix(7), accept(2).
"""

import posix

from .. import state as st
from ..errors import ContainerSetupError, PyContainerError


def _at(statedir_path: str) -> int:
    return posix.open(statedir_path, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)


def listen(statedir_path: str):
    """Bind and listen on start.sock in the state dir -> the socket (the init inherits it)."""
    import _socket
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    dirfd = _at(statedir_path)
    try:
        sock.bind(f"/proc/self/fd/{dirfd}/{st.START_SOCK}")
        # connect(2) needs write permission on the socket file (unix(7)): only its owner,
        # whatever the umask (a start may bring a process to run, init.py).
        posix.chmod(f"/proc/self/fd/{dirfd}/{st.START_SOCK}", 0o600)
    except BaseException:
        sock.close()
        raise
    finally:
        posix.close(dirfd)
    sock.listen(1)
    return sock


def connect(statedir_path: str, timeout: float | None = None, *, process: dict | None = None,
            stdio=None, wait_exec: bool = True) -> None:
    """Open the start barrier and wait until the program has been exec'd (or, without
    ``wait_exec``, only until the word is sent).

    The init closes its end on a successful execve (the fd is close-on-exec),
    so EOF means "running"; an exec failure arrives as text. With ``process``
    (a deferred container's: args, env, cwd, user) the message is ``process LEN\\n``
    and the JSON, ``stdio`` (three fds) ride along as SCM_RIGHTS (unix(7)), and a
    failure comes back as ``errors.encode``'s JSON, raised here as its own class.
    """
    import _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    dirfd = _at(statedir_path)
    try:
        try:
            s.connect(f"/proc/self/fd/{dirfd}/{st.START_SOCK}")
        except (ConnectionRefusedError, FileNotFoundError):
            raise PyContainerError("the container's init is not waiting for start "
                                   "(it has exited or was started already)") from None
        if process is None:
            s.sendall(b"start")
            if not wait_exec:               # the init reads "start" even after our close
                return
        else:
            import json
            import struct
            body = json.dumps(process).encode()
            msg = b"process %d\n" % len(body) + body
            anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(stdio)}i", *stdio))] \
                if stdio else []
            sent = s.sendmsg([msg], anc)
            if sent < len(msg):
                s.sendall(msg[sent:])
        s.settimeout(timeout)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if data:
            from ..errors import ExecError
            if process is not None and data.startswith(b"{"):
                import json

                from ..errors import decode
                try:
                    err = json.loads(data)
                except ValueError:
                    err = None
                if isinstance(err, dict):
                    raise decode(err, ContainerSetupError)
            raise ExecError(data.decode(errors="replace"), stage="exec")
    finally:
        posix.close(dirfd)
        s.close()
