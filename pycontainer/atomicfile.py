"""Replacing a small file whole: write a temporary file beside it, then rename(2) it over.

rename(2) within one filesystem is atomic: a reader opening the path sees
either the old file or the new one, never a half-written one, and a writer
killed half-way leaves the old file in place (and a temporary one, which the
next write of the same process ID replaces). With ``durable``, fsync(2)
first: without it, a power cut soon after the rename can leave the new name
pointing at an empty file on some filesystems (ext4's ``auto_da_alloc``
covers only some cases).

The temporary file is ``.NAME.tmp.PID`` in the same directory: hidden from
whatever lists that directory, and never shared by two writers. Its name is
16 characters longer than the file's (state.py's ID limit counts them).
Read rename(2), fsync(2), open(2) (O_CREAT's mode and the umask).
"""

from __future__ import annotations

import os


def write(path: str, data: bytes | str, *, mode: int = 0o666, durable: bool = False) -> None:
    """``path`` now holds ``data``; ``mode`` as open(2)'s (the umask applies); an OSError
    leaves the old file and no temporary one."""
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.tmp.{os.getpid()}")
    if isinstance(data, str):
        data = data.encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            while data:
                data = data[os.write(fd, data):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path: str, obj, *, mode: int = 0o666, durable: bool = False, **dump_kw) -> None:
    """``write`` of ``json.dumps(obj, **dump_kw)``."""
    import json                  # here: the hot verbs that only ``write`` pay nothing for it
    write(path, json.dumps(obj, **dump_kw), mode=mode, durable=durable)
