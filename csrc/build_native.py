"""cffi (API mode) builder for pycontainer._native.

setuptools runs this at install (see setup.py's ``cffi_modules``); the result
is a compiled extension module ``pycontainer._native`` exposing ``lib`` (the
functions in native.h) and ``ffi`` (for ``ffi.errno``).
"""
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent

ffibuilder = FFI()
_decls = "\n".join(
    line for line in (HERE / "native.h").read_text().splitlines()
    if line and not line.lstrip().startswith(("/*", "*"))
)
ffibuilder.cdef(_decls)
ffibuilder.set_source(
    "pycontainer._native",
    '#include "native.h"\n',
    sources=["csrc/native.c"],
    include_dirs=["csrc"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":  # python csrc/build_native.py, from the project root
    ffibuilder.compile(tmpdir=".", verbose=True)
