"""The client side of a container's attach socket: this terminal to a detached program.

A detached container's monitor (pycontainer-monitor, containerdir.bind_attach)
holds its stdio (or its pty master) and serves it on ``attach.sock`` (unix(7),
SOCK_SEQPACKET): each message a stream byte ("1" out, "2" err, "0" in, "w"
window size, "c" end of input) and data. A client sends this terminal's input
and size (SIGWINCH, tty_ioctl(4)'s TIOCGWINSZ) and prints what comes, with the
terminal raw (termios(3)) for a pty; the detach keys (docker's Ctrl-P Ctrl-Q,
or ``--detach-keys``) leave the program running. Used by ``attach``, ``start -a``
and ``start -ai`` (porcelain.py) and docker's ``run -it`` (runform.py). No click.
"""

from __future__ import annotations

import contextlib
import os
import sys

from . import containerdir
from .api import operations as ops
from .errors import PyContainerError

DETACH_KEYS = b"\x10\x11"       # Ctrl-P Ctrl-Q


def session(root: str, cid: str, info: dict, *, stdin: bool, sig_proxy: bool = True,
            keys: bytes = DETACH_KEYS, start=None) -> int:
    """The monitor's attach socket (containerdir.connect_attach) to this terminal: output,
    stdin, window size, until the program exits (-> its status) or the detach keys (-> 0).
    ``start(connect)`` (run -it, start -a): starts the program, calling ``connect()`` once
    its monitor listens and before the program runs, so nothing it writes is missed."""
    from .container import Runtime
    conn = {}

    def connect():
        try:
            conn["sock"] = containerdir.connect_attach(info["Dir"])
        except ConnectionError as exc:
            raise PyContainerError(f"attach {cid}: {exc}") from None
        conn["held"] = containerdir.hold_for_reading(info["Dir"])  # with --rm: kept until we
    try:                                                            # have read its status
        if start is None:
            connect()
        else:
            start(connect)
        if "sock" not in conn:
            raise PyContainerError(f"attach {cid}: the container was not started")
        if not _relay(cid, info, conn["sock"], rt=Runtime(root), stdin=stdin,
                      sig_proxy=sig_proxy, keys=keys):
            return 0
        code = ops.exit_code(root, cid, info["Dir"])
    finally:
        if "sock" in conn:
            conn["sock"].close()
        if conn.get("held") is not None:
            os.close(conn["held"])
    containerdir.wait_monitor(info["Dir"], 10)   # --rm's delete (or the network's release) done
    return code if code >= 0 else 125


def _relay(cid: str, info: dict, sock, *, rt, stdin: bool, sig_proxy: bool, keys: bytes) -> bool:
    """The attach socket to this terminal until the program exits (-> True) or the detach
    keys (-> False)."""
    import select
    import signal as sg
    import socket
    import struct
    from . import terminal
    tty = info["Config"]["Tty"]
    nowait = socket.MSG_DONTWAIT    # sends never block: the monitor may hold our input back
                                    # (its 1 MiB is full) while we must go on reading output

    def winch(_n=None, _f=None):
        ws = terminal.window_size(0)
        if ws:
            try:
                sock.send(b"w" + struct.pack("HH", *ws), nowait)
            except OSError:         # full: the size goes with the next resize
                pass
    if tty:
        sg.signal(sg.SIGWINCH, winch)
        winch()
    elif sig_proxy:
        def fwd(n, _f):
            try:
                rt.kill(cid, n)
            except PyContainerError:
                pass
        for s in (sg.SIGINT, sg.SIGTERM, sg.SIGHUP):
            sg.signal(s, fwd)
    out = {b"1": sys.stdout.buffer, b"2": sys.stderr.buffer}
    stdin_open = stdin
    prev, detached = b"", False
    queued = b""                    # a message of input the monitor could not take yet
    with terminal.RawMode(0) if tty and stdin_open else contextlib.nullcontext():
        try:
            while True:
                r, w, _ = select.select([sock] + ([0] if stdin_open and not queued else []),
                                        [sock] if queued else [], [])
                if w:
                    try:
                        sock.send(queued, nowait)
                        queued = b""
                    except BlockingIOError:
                        pass
                if sock in r:
                    msg = sock.recv(65536 + 1)
                    if not msg:
                        break                     # the monitor closed: the program exited
                    out.get(msg[:1], out[b"1"]).write(msg[1:])
                    out.get(msg[:1], out[b"1"]).flush()
                if 0 in r:
                    data = os.read(0, 65536)
                    if tty and keys in prev + data:        # docker's Ctrl-P Ctrl-Q, or --detach-keys
                        data = (prev + data).split(keys, 1)[0][len(prev):]
                        if data:
                            try:
                                sock.send(b"0" + data, nowait)
                            except BlockingIOError:
                                pass
                        detached = True
                        break
                    prev = data[-(len(keys) - 1):] if len(keys) > 1 else b""
                    try:
                        sock.send(b"0" + data if data else b"c", nowait)
                    except BlockingIOError:
                        queued = b"0" + data if data else b"c"
                    stdin_open = bool(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
    if detached:
        sys.stderr.write("\r\nread escape sequence\r\n")
        return False
    return True


def parse_detach_keys(text: str) -> bytes:
    """docker's --detach-keys: comma-separated keys, each a letter or ``ctrl-<key>`` (a-z, @, [,
    \\, ], ^, _): ``ctrl-x,x`` -> b"\\x18x"."""
    out = bytearray()
    for key in text.split(","):
        k = key.strip()
        if k.lower().startswith("ctrl-") and len(k) == 6 and (k[5].lower().isalpha() or k[5] in "@[\\]^_"):
            out.append(ord(k[5].upper()) & 0x1F)
        elif len(k) == 1:
            out += k.encode()
        else:
            raise PyContainerError(f"--detach-keys {text!r}: {k!r} is not a key (a letter, or ctrl-<key>)")
    return bytes(out)
