"""pycontainer: a runc-compatible OCI container runtime in Python.

Import cost matters (this package is on the path of every ``create``), so
nothing heavy is imported here.
"""

__version__ = "0.1.0"
