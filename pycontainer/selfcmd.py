"""The command line that runs this very pycontainer again, for a process that outlives us.

A monitor runs a verb after its container exits (``delete`` for ``--rm``,
``release-network`` otherwise) and a health checker runs ``exec``; both must
reach the same copy of pycontainer that started them, not whichever one an
installed package or ``$PYTHONPATH`` names. So: ``python -I`` (no
environment, no working directory on sys.path) with the package's parent
directory put first on sys.path, then ``pycontainer.entry.main``.
"""

from __future__ import annotations

import os
import sys


def argv(root: str, verb: list[str]) -> list[str]:
    """``[python, -I, -c, ..., --root ROOT, *verb]`` for this pycontainer tree."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
            "from pycontainer.entry import main; sys.argv[1:2] = []; main()", pkg_parent,
            "--root", root, *verb]
