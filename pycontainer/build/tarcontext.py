"""``docker build - < context.tar``: a build context (or a lone Containerfile) on stdin.

docker reads stdin and looks at it: a tar archive (plain, or compressed with
gzip, bzip2, xz or zstd: ``image/decompress.py`` tells them apart by their
first bytes) is the whole context, with the Containerfile in it (``-f``
names one inside it); anything else is the Containerfile itself, with an
empty context. The docker SDK's ``images.build(fileobj=..., custom_context=True)``
sends such a tar, and ``fileobj`` alone a Containerfile; api.py passes both here
through the command's stdin.

The stream is spooled to a file first (a pipe cannot be read twice), then
the archive is unpacked into a fresh directory that only root can enter (``scratch``). An
archive is the sender's: a name with ``..`` that climbs out of the context
is refused, a name under a symlink the archive made earlier is refused when
the link leads out (``os.path.realpath`` of the parent, which nothing else
writes to meanwhile), files are created with ``O_EXCL|O_NOFOLLOW``, a hard
link must point at a file inside, and device nodes and fifos are skipped
(a context holds files). Absolute names are taken relative to the context,
as docker's. What the archive says of owners is not kept: COPY makes
everything 0:0 unless ``--chown`` (copy.py).

Read: docker's "docker build" reference ("Tarball contexts", "Text files");
tar(5); the docker SDK's ``images.build``.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile

from . import BuildError

USTAR_AT = 257                      # tar(5): "ustar" at this offset of every POSIX/GNU header


def scratch() -> str:
    """A fresh directory for what stdin brings, beside the containers' (``gc`` takes it once
    this process is gone, as it takes a build's step dirs: ``rootfs.mark_creator``)."""
    import tempfile
    from ..image.rootfs import DEFAULT_CONTAINERS, mark_creator
    base = os.environ.get("PYCONTAINER_CONTAINERS_DIR") or DEFAULT_CONTAINERS
    os.makedirs(base, mode=0o711, exist_ok=True)
    d = tempfile.mkdtemp(prefix="build-stdin-", dir=base)
    mark_creator(d)
    return d


def from_stream(stream, scratch: str, label: str = "stdin") -> tuple[str, str | None]:
    """Spool ``stream`` into ``scratch`` and look at it: -> (context dir, Containerfile path or
    None when the context's own is meant). A tar archive becomes ``scratch/context``; other
    bytes become ``scratch/Containerfile`` with an empty ``scratch/context``."""
    from ..errors import ImageError
    from ..image import decompress
    spool = os.path.join(scratch, "stdin")
    with open(spool, "wb") as f:
        shutil.copyfileobj(stream, f, 1 << 20)
    context = os.path.join(scratch, "context")
    os.mkdir(context, 0o700)
    with open(spool, "rb") as f:
        compressed = decompress.kind(f.read(6)) is not None
    try:
        with decompress.opened(spool, label) as raw:
            head = raw.read(512)
            if head[USTAR_AT:USTAR_AT + 5] == b"ustar":
                _extract(_Chain(head, raw), context, label)
                os.unlink(spool)
                return context, None
    except (ImageError, OSError, EOFError, tarfile.TarError) as exc:
        raise BuildError(f"{label}: not a readable tar archive: {exc}") from None
    if compressed:
        raise BuildError(f"{label}: compressed, but not a tar archive (give a tar of the "
                         "context, or the Containerfile as text)")
    file = os.path.join(scratch, "Containerfile")
    os.rename(spool, file)
    return context, file


class _Chain:
    """The 512 bytes already read, then the rest: the stream tarfile reads."""

    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                out, self.head = self.head + self.rest.read(), b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            if len(out) < n:
                out += self.rest.read(n - len(out))
            return out
        return self.rest.read(n)


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _extract(src, dest: str, label: str) -> None:
    """Unpack the tar stream ``src`` into the empty directory ``dest`` (rules: the docstring)."""
    root = os.path.realpath(dest)
    with tarfile.open(fileobj=src, mode="r|") as tar:
        for m in tar:
            name = os.path.normpath(m.name.lstrip("/"))
            if name in (".", ""):
                continue
            if name == ".." or name.startswith("../"):
                raise BuildError(f"{label}: {m.name!r} climbs out of the context")
            target = os.path.join(root, name)
            parent = os.path.dirname(target)
            if not _inside(root, parent):
                raise BuildError(f"{label}: {m.name!r} lies under a link that leads out of the context")
            os.makedirs(parent, exist_ok=True)
            if os.path.lexists(target) and not (m.isdir() and os.path.isdir(target)
                                                 and not os.path.islink(target)):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
            if m.isdir():
                os.makedirs(target, exist_ok=True)
                os.chmod(target, stat.S_IMODE(m.mode) | 0o700)
            elif m.isreg():
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                             os.O_CLOEXEC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(m), out, 1 << 20)
                    os.fchmod(out.fileno(), stat.S_IMODE(m.mode))
                os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)
            elif m.issym():
                os.symlink(m.linkname, target)
            elif m.islnk():
                src_path = os.path.join(root, os.path.normpath(m.linkname.lstrip("/")))
                if not _inside(root, src_path) or not os.path.isfile(src_path) \
                        or os.path.islink(src_path):
                    raise BuildError(f"{label}: hard link {m.name!r} -> {m.linkname!r} is not "
                                     "to a file of the context")
                os.link(src_path, target, follow_symlinks=False)
            # character/block devices and fifos: not part of a context (skipped)
