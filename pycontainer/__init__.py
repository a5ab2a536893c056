"""pycontainer: a runc-compatible OCI container runtime in Python.

Import cost matters (this package is on the path of every ``create``), so
nothing heavy is imported here.
"""

__version__ = "0.1.0"

# The Python API (pycontainer.api), loaded on first use so `import pycontainer`
# (and every `create`) stays cheap: pycontainer.Client(), pycontainer.APIError, ...
_API = ("APIError", "Client", "Container", "ContainerError", "ExecResult", "Image",
        "ImageNotFound", "NotFound", "SandboxResult")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'pycontainer' has no attribute {name!r}")
