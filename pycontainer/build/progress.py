"""What ``build`` prints while it works: plain lines, or docker's compact live view on a terminal.

``--progress plain`` (and any output that is not a terminal) prints one line
per step and lets RUN's output through as it comes::

    STEP 2/3: RUN make
    ...the command's output...
    --> 1.20s

``--progress tty`` on a terminal (``auto`` picks it there) keeps one line per
step: the current step is redrawn in place with its running time and the
last lines of its output beneath it (dimmed); when it ends, that block is
replaced by one line ``=> [2/3] RUN make  1.2s`` (``CACHED`` for a cache
hit). A failed RUN leaves its full output tail on the screen. The redrawing
uses ANSI escapes only: cursor up (``ESC [ n A``) and erase to the end of
the screen (``ESC [ J``), see console_codes(4). RUN's output is read from a
pipe (pipe(7)) by a thread that imports nothing (the runtime forks meanwhile).
"""

from __future__ import annotations

import os
import select
import threading
import time

TAIL = 6                  # output lines shown under the running step


def choose(mode: str, out, quiet: bool) -> "Plain":
    """The printer for ``--progress MODE`` writing to ``out``: tty only on a terminal."""
    if quiet:
        return Plain(out, quiet=True)
    try:
        is_tty = os.isatty(out.fileno())
    except (AttributeError, OSError, ValueError):
        is_tty = False
    if mode in ("tty", "auto") and is_tty:
        return Tty(out)
    return Plain(out)


class Plain:
    """One line per event, RUN's output straight through (podman's and docker's plain form)."""

    def __init__(self, out, quiet: bool = False):
        self.out, self.quiet = out, quiet

    def say(self, msg: str) -> None:
        if not self.quiet:
            self.out.write(msg + "\n")
            self.out.flush()

    def step(self, n: int, total: int, text: str) -> None:
        self.say(f"STEP {n}/{total}: {text}")

    def cached(self, hit: str) -> None:
        self.say(f"--> Using cache {hit}")

    def done(self, seconds: float) -> None:
        self.say(f"--> {seconds:.2f}s")

    def capture(self):
        """A pipe for RUN's stdout/stderr, or None: the output goes to ours."""
        return None

    def failed(self) -> None:
        pass

    def close(self) -> None:
        pass


class Tty(Plain):
    def __init__(self, out):
        super().__init__(out)
        out.flush()
        self.fd = os.dup(out.fileno())   # the terminal itself: RUN's fds 1, 2 become a pipe
        self.lock = threading.Lock()
        self.current = ""          # "[2/3] RUN make" while a step runs
        self.t0 = 0.0
        self.hit = False
        self.tail: list[str] = []
        self.partial = b""
        self.drawn = 0             # lines of the live block on the screen
        self.reader = None

    # -- the screen ---------------------------------------------------------------------

    def _write(self, text: str) -> None:
        data = text.encode(errors="replace")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def _width(self) -> int:
        try:
            cols = os.get_terminal_size(self.fd).columns
        except OSError:
            cols = 0
        return max(cols, 20) if cols else 80      # a pty nobody sized says 0

    def _erase(self) -> str:
        if not self.drawn:
            return "\r"
        up = f"\x1b[{self.drawn - 1}A" if self.drawn > 1 else ""
        self.drawn = 0
        return up + "\r\x1b[J"

    def _draw(self) -> None:
        """Redraw the live block: the step with its running time, then the output tail."""
        if not self.current:
            return
        w = self._width()
        head = f"[+] {self.current}"[:w - 8] + f"  {time.monotonic() - self.t0:.1f}s"
        lines = [head] + [f"\x1b[2m  | {ln[:w - 5]}\x1b[0m" for ln in self.tail]
        self._write(self._erase() + "\n".join(lines))
        self.drawn = len(lines)

    def _finish(self, how: str) -> None:
        if self.current:
            self._write(self._erase() + f"=> {self.current}  {how}\n")
            self.current = ""

    # -- the events -----------------------------------------------------------------------

    def say(self, msg: str) -> None:
        with self.lock:
            self._write(self._erase() + msg + "\n")
            self._draw()

    def step(self, n: int, total: int, text: str) -> None:
        with self.lock:
            if self.current:       # a step with no done() (FROM): it ends where the next begins
                self._finish(f"{time.monotonic() - self.t0:.1f}s")
            self.current, self.t0, self.hit, self.tail = f"[{n}/{total}] {text}", time.monotonic(), False, []
            self._draw()

    def cached(self, hit: str) -> None:
        self.hit = True

    def done(self, seconds: float) -> None:
        with self.lock:
            self._finish("CACHED" if self.hit else f"{seconds:.1f}s")

    def failed(self) -> None:
        with self.lock:
            self._finish("ERROR")

    def close(self) -> None:
        with self.lock:
            self._finish(f"{time.monotonic() - self.t0:.1f}s")
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    # -- RUN's output -------------------------------------------------------------------

    def capture(self) -> "Capture":
        return Capture(self)

    def _feed(self, data: bytes) -> None:
        text = (self.partial + data).replace(b"\r", b"\n").split(b"\n")
        self.partial = text.pop()
        for ln in text:
            if ln.strip():
                self.tail.append(ln.decode(errors="replace").expandtabs())
        self.tail = self.tail[-TAIL:]


class Capture:
    """A pipe whose write end becomes RUN's stdout and stderr; a thread shows what arrives."""

    def __init__(self, tty: Tty):
        self.tty = tty
        self.rfd, self.wfd = os.pipe2(os.O_CLOEXEC)
        self.log = bytearray()
        self.thread = threading.Thread(target=self._read, name="pyc-build-progress", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.rfd], [], [], 0.2)
            if ready:
                data = os.read(self.rfd, 65536)
                if not data:
                    break
                self.log += data
            with self.tty.lock:
                if ready:
                    self.tty._feed(data)
                self.tty._draw()

    def stop(self) -> bytes:
        """Close our write end (the caller has restored its fds); -> everything RUN wrote."""
        os.close(self.wfd)
        self.thread.join(timeout=2)
        if not self.thread.is_alive():
            os.close(self.rfd)
        return bytes(self.log)
