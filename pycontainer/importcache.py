"""The package's compiled code in one file, served to Python's import system.

What Python does for each ``import pycontainer.x`` (the import system: docs.python.org,
reference/import.html; CPython's Lib/importlib/_bootstrap_external.py): the path finder
stats the package's directory and probes its suffixes (.cpython-311-x86_64-linux-gnu.so,
.abi3.so, .so, .py, .pyc); the loader stats the source, opens, reads and checks its .pyc in
__pycache__ (the source's mtime and size are in the .pyc's header) and unmarshals the code.
That is ~5 system calls and a few dozen calls of importlib's own Python code per module. A
``run`` imports ~40 of this package's modules, in the runtime and in the init it forks; served
from one file, they take ~1 ms less CPU (7.5 -> 6.6 ms; bench/perf_results.md, session 17).

``build`` writes what the .pyc files hold, the code objects, into one file, with an index:
each module's name, its source's mtime (ns) and size when it was compiled, and where its code
lies. ``install`` puts a finder first on ``sys.meta_path`` (Python's list of finders, asked
in turn for every import) that serves a module from that file when its source is unchanged:
one stat(2) of the source, compared with the index (the .pyc check, at nanosecond
resolution), and one pread(2) of the code. Anything else (a changed or missing source, a
file written by another Python, an unreadable file) leaves the module to the normal finders,
which compile the source and use __pycache__ as always. Each module is still a module of its
own: its ``__file__`` is its source and tracebacks show its lines.

.ci/install.sh builds the file next to the .pyc files; the installed command (its launcher)
installs the finder before its first import of the package. Nothing else uses it.
"""

from __future__ import annotations

import marshal
import posix
import sys

from _frozen_importlib import ModuleSpec     # importlib.machinery's, without importing importlib

_SIGNATURE = b"pycimportcache1\n"          # the format's version: 1


def default_path() -> str:
    """pycontainer/__pycache__/importcache.<cache tag>.bin, beside the .pyc files."""
    here = __file__.rpartition("/")[0]
    return f"{here}/__pycache__/importcache.{sys.implementation.cache_tag}.bin"


def _magic() -> bytes:
    # The .pyc format's version: code objects unmarshal only in the Python that wrote them.
    # importlib's own module, always loaded (importlib.util would import warnings, ~0.5 ms)
    import _frozen_importlib_external
    return _frozen_importlib_external.MAGIC_NUMBER


def build(package_dir: str | None = None, path: str | None = None) -> int:
    """Compile every .py file of the package under ``package_dir`` into ``path``
    (written to a temporary file and renamed over it). -> the number of modules.

    The file: a signature, the .pyc magic number, the index's length (8 bytes), the index
    (marshal: the directory above the package, then {module name: 29 bytes of offset,
    length, source mtime in ns, source size (8, 4, 8, 8 bytes, little-endian) and 1 if a
    package}), then the code objects (marshal), one after another."""
    import os
    package_dir = os.path.abspath(package_dir or __file__.rpartition("/")[0])
    path = path or default_path()
    parent, top = os.path.split(package_dir)
    modules: list = []
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel = os.path.relpath(dirpath, package_dir)
        parts = [top] if rel == "." else [top, *rel.split(os.sep)]
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            origin = os.path.join(dirpath, fn)
            is_pkg = fn == "__init__.py"
            with open(origin, "rb") as f:
                st = os.fstat(f.fileno())
                source = f.read()
            modules.append((".".join(parts if is_pkg else [*parts, fn[:-3]]), is_pkg, st,
                            marshal.dumps(compile(source, origin, "exec", dont_inherit=True))))

    def index(base: int) -> bytes:
        entries = {}
        for name, is_pkg, st, code in modules:
            entries[name] = (base.to_bytes(8, "little") + len(code).to_bytes(4, "little") +
                             st.st_mtime_ns.to_bytes(8, "little") + st.st_size.to_bytes(8, "little") +
                             bytes([is_pkg]))
            base += len(code)
        return marshal.dumps((parent, entries))
    start = len(_SIGNATURE) + 4 + 8
    head = index(start + len(index(0)))        # the offsets are absolute; the length is the same
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(_SIGNATURE + _magic() + len(head).to_bytes(8, "little") + head)
            for m in modules:
                f.write(m[3])
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(modules)


class Finder:
    """A meta path finder and loader (importlib.abc's MetaPathFinder and Loader) over one
    file written by ``build``."""

    def __init__(self, fd: int, parent: str, index: dict):
        self._fd = fd
        self._id = _identity(fd)
        self._parent = parent
        self._index = index

    def find_spec(self, name, path=None, target=None):
        entry = self._index.get(name)
        if entry is None:
            return None
        is_pkg = entry[28]
        origin = f"{self._parent}/{name.replace('.', '/')}{'/__init__.py' if is_pkg else '.py'}"
        try:
            st = posix.stat(origin)
        except OSError:
            return None
        if (st.st_mtime_ns != int.from_bytes(entry[12:20], "little") or
                st.st_size != int.from_bytes(entry[20:28], "little")):
            return None                     # changed since the build: the normal finders
        offset, length = int.from_bytes(entry[:8], "little"), int.from_bytes(entry[8:12], "little")
        spec = ModuleSpec(name, self, origin=origin, loader_state=(offset, length),
                          is_package=is_pkg)
        spec.has_location = True            # __file__ is the source
        if is_pkg:
            spec.submodule_search_locations = [origin.rpartition("/")[0]]
        return spec

    def create_module(self, spec):
        return None                         # the default module object

    def exec_module(self, module) -> None:
        spec = module.__spec__
        offset, length = spec.loader_state
        data = None
        try:
            if _identity(self._fd) == self._id:       # still our file at that number
                data = posix.pread(self._fd, length, offset)
        except OSError:
            pass
        if data is not None and len(data) == length:
            code = marshal.loads(data)
        else:
            # the fd was closed (a process that closed every fd, then imported): the source
            with open(spec.origin, "rb") as f:
                code = compile(f.read(), spec.origin, "exec", dont_inherit=True)
        exec(code, module.__dict__)


def _identity(fd: int):
    st = posix.fstat(fd)
    return st.st_dev, st.st_ino


def install(path: str | None = None) -> bool:
    """Put a Finder over ``path`` first on sys.meta_path. -> False (and nothing installed)
    where the file is missing, unreadable or written by another Python."""
    try:
        fd = posix.open(path or default_path(), posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        n = len(_SIGNATURE)
        head = posix.pread(fd, n + 12, 0)
        if head[:n] != _SIGNATURE or head[n:n + 4] != _magic():
            raise ValueError("not this Python's")
        size = int.from_bytes(head[n + 4:n + 12], "little")
        parent, index = marshal.loads(posix.pread(fd, size, n + 12))
        finder = Finder(fd, parent, index)
    except (OSError, ValueError, EOFError, TypeError):
        posix.close(fd)
        return False
    sys.meta_path.insert(0, finder)
    return True


if __name__ == "__main__":
    print(f"importcache: {build()} modules in {default_path()}")
