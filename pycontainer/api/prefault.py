"""What a forked worker copies, and copying it before its request comes.

fork(2) gives the child the parent's memory copy-on-write: both map the same
pages read-only, the first write to one faults, and the kernel copies the
page for the writer (mm/memory.c ``do_wp_page``). A worker of the API's
helper (helper.py) is such a fork of a large Python process, and Python writes
where it only reads: reference counts, the allocator's free lists, a
function's warm-up counter on its first calls. One ``sandbox(["true"])``
makes ~2,000 such copies at ~4 us each, about a third of its time.

``/proc/self/pagemap`` (proc(5); Documentation/admin-guide/mm/pagemap.rst)
has one 64-bit entry per page: bit 63 "present", bit 56 "mapped by this
process only". At the end of a request, the present and exclusive pages of
the mappings the worker was forked with are those it copied: ``dirtied``
lists them as ranges. The helper keeps the list of its first worker; every
later worker, while it waits for its request, has them copied at once by
madvise(2) ``MADV_POPULATE_WRITE`` (Linux 5.14), which faults a range in
writable from inside the kernel (no trap per page), so that the request's
own writes find the pages already private. Nothing here is needed for
correctness: on an older kernel, or with a wrong list, a worker faults as
before.
"""

from __future__ import annotations

import os

MADV_POPULATE_WRITE = 23
PAGE = os.sysconf("SC_PAGE_SIZE")
PRESENT, EXCLUSIVE = 1 << 63, 1 << 56


def mappings() -> list[tuple[int, int]]:
    """This process's private writable mappings (heap, anonymous memory, data segments), as
    (start, end): what a fork shares copy-on-write. Not the stack: it is the running code's."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if fields[1] != "rw-p" or (len(fields) > 5 and fields[5].startswith("[") and
                                       fields[5] != "[heap]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            out.append((start, end))
    return out


def dirtied(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pages of ``ranges`` this process now maps alone, as (address, length) runs."""
    import array
    out: list[tuple[int, int]] = []
    fd = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        for start, end in ranges:
            entries = array.array("Q")
            entries.frombytes(os.pread(fd, (end - start) // PAGE * 8, start // PAGE * 8))
            run = None
            for i, e in enumerate(entries):
                if e & PRESENT and e & EXCLUSIVE:
                    if run is None:
                        run = start + i * PAGE
                elif run is not None:
                    out.append((run, start + i * PAGE - run))
                    run = None
            if run is not None:
                out.append((run, start + len(entries) * PAGE - run))
    finally:
        os.close(fd)
    return out


def populate(runs: list[tuple[int, int]]) -> int:
    """Copy these pages now (MADV_POPULATE_WRITE); -> how many runs were. Stops at the first
    refusal of the advice itself (a kernel before 5.14); skips runs no longer mapped."""
    import errno

    from .. import syscalls
    done = 0
    for addr, length in runs:
        try:
            syscalls.madvise(addr, length, MADV_POPULATE_WRITE)
            done += 1
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                break
        except Exception:  # noqa: BLE001 - an extension built before pyc_madvise: no prefault
            break
    return done
