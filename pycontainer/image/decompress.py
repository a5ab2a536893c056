"""A layer's bytes, decompressed: gzip, zstd, bzip2, xz or none, told apart by their magic.

Image layers are tar archives, usually gzip-compressed (``+gzip`` media
types); OCI also allows zstd (``+zstd``). The media type in a manifest can
lie or be generic, so, as containerd does, the first bytes decide:
``1f 8b`` gzip (RFC 1952), ``28 b5 2f fd`` zstd (RFC 8878), ``BZh`` bzip2,
``fd 37 7a 58 5a 00`` xz. Python's standard library reads all but zstd;
zstd goes through the ``zstd`` program (a child fed by a thread), since
Python 3.11 has no zstd module.
"""

from __future__ import annotations

import os

from ..errors import ImageError


def kind(head: bytes) -> str | None:
    """The compression its first six bytes say: "gzip", "zstd", "bzip2", "xz", or None."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:3] == b"BZh":
        return "bzip2"
    return "xz" if head[:6] == b"\xfd7zXZ\x00" else None


class opened:  # noqa: N801 - used as a context manager, like open()
    """Context manager: open ``src`` and undo its compression (sniffed by magic)."""

    def __init__(self, src, label: str):
        self.src, self.label = src, label
        self._close: list = []

    def __enter__(self):
        import io
        if isinstance(self.src, (str, os.PathLike)):
            try:
                f = open(self.src, "rb")
            except OSError as exc:
                raise ImageError(f"{self.label}: cannot open layer: {exc.strerror}",
                                 errno=exc.errno) from exc
            self._close.append(f)
        else:
            f = self.src
        if not hasattr(f, "peek"):
            f = io.BufferedReader(f, 1 << 16) if hasattr(f, "readinto") else f
        what = kind(f.peek(6)[:6] if hasattr(f, "peek") else b"")
        if what == "gzip":
            import gzip
            raw = gzip.GzipFile(fileobj=f, mode="rb")
        elif what == "zstd":
            raw = self._zstd(f)
        elif what == "bzip2":
            import bz2
            raw = bz2.BZ2File(f, "rb")
        elif what == "xz":
            import lzma
            raw = lzma.LZMAFile(f, "rb")
        else:
            return f
        self._close.insert(0, raw)
        return raw

    def _zstd(self, f):
        import shutil
        import subprocess
        import threading
        exe = shutil.which("zstd")
        if exe is None:
            raise ImageError(f"{self.label}: zstd-compressed layer and no zstd binary "
                             "(apt-get install zstd)")
        proc = subprocess.Popen([exe, "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        def pump():
            try:
                while chunk := f.read(1 << 20):
                    proc.stdin.write(chunk)
            except (OSError, ValueError):
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        self._proc = proc
        self._close.append(_Waiter(proc, t))
        return proc.stdout

    def __exit__(self, *exc):
        for c in self._close:
            try:
                c.close()
            except Exception:
                pass
        return False


class _Waiter:
    """Closing a zstd child: kill it if it still runs, reap it, join its feeder."""

    def __init__(self, proc, thread):
        self.proc, self.thread = proc, thread

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.thread.join(1)
