"""The ``pycontainer`` command: the click-free fast path first, then click.

See ``_fastcli`` for why; this module imports nothing but ``sys`` (and the built-in ``gc``).
"""

import sys


def main() -> None:
    argv = sys.argv[1:]
    # The hot verbs live for milliseconds (or wait, allocating nothing): the cyclic garbage
    # collector would only run ~10 young-generation passes during the imports, in each of
    # the runtime and the init (and stage 1), the children's passes copying the pages they touch
    # (fork(2) is copy-on-write). Reference counting still frees everything else.
    import gc
    gc.disable()
    from . import _fastcli
    _fastcli.main(argv)          # exits when it handled the command line
    gc.enable()                  # click's verbs (build, pull, logs -f, ...) may run for long
    from .cli import main as full
    full(argv)
