"""What the hot verbs need of ``os.path``, on the ``posix`` module alone.

``posix`` is the interpreter's built-in module of system calls (open(2),
stat(2), rename(2), kill(2), ...); ``os`` re-exports all of it and adds
Python-level helpers: ``os.path``, ``os.environ`` as a mapping of str,
``makedirs``, ``walk``. Importing ``os`` builds those helpers (``os``,
``posixpath``, ``stat`` and ``_collections_abc``'s ~30 abstract classes):
about 1 ms of CPU, every time, where runc's whole ``start`` or ``delete``
takes 6-7 ms. So the modules on the path of ``create``, ``run``, ``start``,
``delete``, ``state`` and ``kill`` (the runtime's and the init's: state.py,
container.py, spec.py, cgroups/, mounts.py, rootfs.py, devices.py,
process/init.py, process/finalize.py, ...) call ``posix`` directly, and this
module gives them the few path and environment functions they use, with
``os.path``'s and ``os.environ``'s meaning (tests/unit/test_paths.py compares
them on every path of a corpus). Rare branches (a --root that does not exist
yet, a path that is not normal) import ``os`` where they need it; ``exec``,
the monitor, the API and the docker layer import it as usual.

A path here is a str. Read stat(2), path_resolution(7).
"""

import posix

_S_IFMT, _S_IFDIR, _S_IFREG = 0o170000, 0o040000, 0o100000


def join(a: str, *parts: str) -> str:
    """``os.path.join``: an absolute part starts over."""
    for p in parts:
        if p.startswith("/"):
            a = p
        elif not a or a.endswith("/"):
            a += p
        else:
            a += "/" + p
    return a


def _mode(path: str, follow: bool = True) -> int | None:
    try:
        return (posix.stat if follow else posix.lstat)(path).st_mode
    except (OSError, ValueError):
        return None


def exists(path: str) -> bool:
    return _mode(path) is not None


def lexists(path: str) -> bool:
    """True for a dangling symbolic link too (lstat(2))."""
    return _mode(path, follow=False) is not None


def isdir(path: str) -> bool:
    m = _mode(path)
    return m is not None and m & _S_IFMT == _S_IFDIR


def isfile(path: str) -> bool:
    m = _mode(path)
    return m is not None and m & _S_IFMT == _S_IFREG


def abspath(path: str) -> str:
    """``os.path.abspath``: made absolute from the current directory. A path that is not
    already normal (``.``, ``..``, repeated or trailing slashes) goes to os.path itself:
    the hot verbs' paths (--root, the state dir) are normal, and the rest is rare."""
    full = path if path.startswith("/") else posix.getcwd().rstrip("/") + "/" + path
    if "/." in full or "//" in full or (full != "/" and full.endswith("/")):
        import os
        return os.path.abspath(path)
    return full


def isabs(path: str) -> bool:
    return path.startswith("/")


def normpath(path: str) -> str:
    """``os.path.normpath``: no empty or "." components, ".." folded into the one before
    it (a ".." right under "/" stays "/"; leading ".." of a relative path stay). POSIX lets
    exactly two leading slashes mean something else: they are kept; three or more are one."""
    if not path:
        return "."
    lead = 0
    if path.startswith("/"):
        lead = 2 if path.startswith("//") and not path.startswith("///") else 1
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != ".." or (not lead and not out) or (out and out[-1] == ".."):
            out.append(part)
        elif out:
            out.pop()
    return "/" * lead + "/".join(out) or "."


def split(path: str) -> tuple[str, str]:
    """``os.path.split``: (dirname, basename)."""
    return dirname(path), basename(path)


def dirname(path: str) -> str:
    """``os.path.dirname``: everything before the last slash, trailing slashes dropped
    (but "/" stays)."""
    head = path[:path.rfind("/") + 1]
    return head.rstrip("/") or head


def basename(path: str) -> str:
    return path[path.rfind("/") + 1:]


def popenv(name: str) -> str | None:
    """``os.environ.pop(name, None)``: the value, and the variable gone from the
    environment that an exec without an explicit environment passes on (unsetenv(3))."""
    import sys
    os = sys.modules.get("os")
    if os is not None:
        return os.environ.pop(name, None)
    value = posix.environ.pop(name.encode(), None)
    if value is None:
        return None
    posix.unsetenv(name)
    return value.decode(errors="surrogateescape")


def getenv(name: str) -> str | None:
    """``os.environ.get(name)``. ``posix.environ`` is the environment as the process
    started (bytes); once ``os`` is imported, ``os.environ`` is the one Python changes
    (putenv follows it), so that one is asked then."""
    import sys
    os = sys.modules.get("os")
    if os is not None:
        return os.environ.get(name)
    value = posix.environ.get(name.encode())
    return None if value is None else value.decode(errors="surrogateescape")
