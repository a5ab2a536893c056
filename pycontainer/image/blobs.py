"""Writing the store's files safely: blobs verified before they become reachable, atomic
replaces, and flock(2) locks.

A blob is written under ``ingest/`` and renamed into ``blobs/sha256/<hex>``
only once its sha256 and size match what the descriptor announced
(image-spec ``descriptor.md``), so a reader never sees half of one. Small
files (index.json, holds) are written to a temp file, fsync(2)ed and
rename(2)d over the old one. Locks are flock(2) on files under ``locks/``:
the kernel drops them when a process dies (see store.py for which lock
guards what).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from ..errors import ImageError
from .manifest import sha256_hex


@contextmanager
def flock(path: str, exclusive: bool = True):
    import fcntl
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, durable: bool = True) -> None:
    """The store's small files (index.json, holds): atomicfile.write, owner-only, fsync(2)ed
    unless ``durable`` is False."""
    from .. import atomicfile
    atomicfile.write(path, data, mode=0o600, durable=durable)


class Ingest:
    """A blob being written: verified against its digest and size, then renamed in.

    ``with store.ingest(expected) as w: w.write(...); digest = w.commit()``;
    leaving the block without commit (an error, a full disk) removes the
    temporary file, so nothing half-written is ever reachable by digest.
    """

    def __init__(self, store, expected: str | None = None, size: int | None = None):
        import hashlib
        self.store, self.expected, self.size = store, expected, size
        if expected:
            sha256_hex(expected)
        fd, self.tmp = mkstemp(store.path("ingest"))
        self.f = os.fdopen(fd, "wb")
        self.sha = hashlib.sha256()
        self.count = 0
        self.digest: str | None = None

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.count += len(data)
        if self.size is not None and self.count > self.size:
            raise ImageError(f"blob {self.expected}: more than the {self.size} bytes announced")
        try:
            self.f.write(data)
        except OSError as exc:
            raise ImageError(f"writing blob {self.expected or ''} under {self.store.root}: "
                             f"{exc.strerror}", errno=exc.errno) from exc

    def commit(self) -> str:
        digest = "sha256:" + self.sha.hexdigest()
        if self.expected and digest != self.expected:
            raise ImageError(f"blob digest mismatch: expected {self.expected}, got {digest} "
                             "(corrupt or tampered download)")
        if self.size is not None and self.count != self.size:
            raise ImageError(f"blob {digest}: {self.count} bytes, descriptor says {self.size} "
                             "(truncated)")
        try:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
            final = self.store.blob_path(digest)
            os.replace(self.tmp, final)
        except OSError as exc:
            raise ImageError(f"storing blob {digest} under {self.store.root}: {exc.strerror}",
                             errno=exc.errno) from exc
        self.tmp = None
        self.digest = digest
        return digest

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.f.closed:
            try:
                self.f.close()
            except OSError:
                pass                 # e.g. ENOSPC flushing a blob we are discarding anyway
        if self.tmp:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
        return False


def mkstemp(dirpath: str):
    import tempfile
    return tempfile.mkstemp(dir=dirpath, prefix="blob-")
