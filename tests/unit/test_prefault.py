"""api/prefault.py on the real kernel: a forked child's first writes to pages it shares
with its parent fault (copy-on-write); /proc/self/pagemap shows which pages it copied; a
later child that has those copied first (MADV_POPULATE_WRITE) writes them without a fault."""

import json
import os
import resource

import pytest

from pycontainer.api import prefault

PAGES = 64


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def in_child(fn) -> object:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, json.dumps(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return json.loads(out)


def test_dirtied_pages_are_found_and_copied_ahead():
    buf = bytearray(PAGES * prefault.PAGE)
    for i in range(0, len(buf), prefault.PAGE):
        buf[i] = 1                                  # present in the parent
    base = prefault.mappings()

    def write_all():
        before = faults()
        for i in range(0, len(buf), prefault.PAGE):
            buf[i] = 2
        return faults() - before

    def learn():
        write_all()
        return prefault.dirtied(base)
    runs = in_child(learn)
    assert sum(n for _, n in runs) >= PAGES * prefault.PAGE      # at least the buffer's pages
    assert in_child(write_all) >= PAGES                          # each page copied on its write

    def after_populate():
        if prefault.populate(runs) == 0:
            return -1
        return write_all()
    left = in_child(after_populate)
    if left == -1:
        pytest.skip("MADV_POPULATE_WRITE refused (a kernel before 5.14)")
    assert left < PAGES // 4, left
