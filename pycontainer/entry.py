"""The ``pycontainer`` command: the click-free fast path first, then click.

See ``_fastcli`` for why; this module imports nothing but ``sys``.
"""

import sys


def main() -> None:
    argv = sys.argv[1:]
    from . import _fastcli
    _fastcli.main(argv)          # exits when it handled the command line
    from .cli import main as full
    full(argv)
