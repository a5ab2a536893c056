"""api/logs.Reader against the real writer (containerdir.Log) on real files: every line once,
in order, across rotations and truncation, however the reads fall between the writes."""

import os
import random

import pytest

from pycontainer import containerdir as cd
from pycontainer.api.logs import Reader, entries


def texts(lines):
    return [int(t.decode()[1:]) for _s, _t, t in entries(lines)]


def write(log, i):
    log.feed("stdout", b"f%d\n" % i)


def test_every_line_once_whatever_the_read_points(tmp_path):
    # a read between any two writes, or several writes (several rotations) between reads
    for seed in range(20):
        d = tmp_path / str(seed)
        d.mkdir()
        rng = random.Random(seed)
        log = cd.Log(str(d / cd.LOG), max_size=300, max_file=3)
        r, got = Reader(str(d)), []
        for i in range(400):
            write(log, i)
            if rng.random() < 0.3:
                got += texts(r.read())
        log.close()
        got += texts(r.read())
        r.close()
        # what is read is read once, in order; what fell off the oldest file between two
        # reads is gone (as with docker), but what the files still hold was read
        assert got == sorted(set(got)), seed
        kept = texts(Reader(str(d)).read())
        assert kept and kept[-1] == 399 and set(kept) <= set(got), seed


def test_no_loss_when_reads_keep_up(tmp_path):
    log = cd.Log(str(tmp_path / cd.LOG), max_size=200, max_file=2)
    r, got = Reader(str(tmp_path)), []
    for i in range(300):
        write(log, i)
        got += texts(r.read())          # one rotation at most between two reads
    log.close()
    assert got == list(range(300))


def test_the_moment_between_rename_and_new_file(tmp_path):
    # json.log renamed to json.log.1, the new json.log not there yet: nothing read twice
    log = cd.Log(str(tmp_path / cd.LOG), max_size=10 ** 6, max_file=3)
    r = Reader(str(tmp_path))
    for i in range(5):
        write(log, i)
    assert texts(r.read()) == [0, 1, 2, 3, 4]
    write(log, 5)
    os.replace(tmp_path / cd.LOG, tmp_path / (cd.LOG + ".1"))
    assert texts(r.read()) == [5]
    assert texts(r.read()) == []
    log.close()
    log = cd.Log(str(tmp_path / cd.LOG))
    write(log, 6)
    assert texts(r.read()) == [6]
    log.close()


def test_truncation_with_one_file(tmp_path):
    log = cd.Log(str(tmp_path / cd.LOG), max_size=300, max_file=1)
    r, got = Reader(str(tmp_path)), []
    for i in range(200):
        write(log, i)
        got += texts(r.read())
    log.close()
    assert got == list(range(200))


def test_at_end_and_partial_lines(tmp_path):
    p = tmp_path / cd.LOG
    log = cd.Log(str(p))
    write(log, 1)
    r = Reader(str(tmp_path), at_end=True)
    assert r.read() == []
    with open(p, "ab") as f:             # half a line: it waits for the rest
        f.write(b'{"log":"f2\\n","stream":"stdout",')
    assert r.read() == []
    with open(p, "ab") as f:
        f.write(b'"time":"2026-12-01T00:00:00.000000000Z"}\n')
    assert texts(r.read()) == [2]
    log.close()
    r.close()
    assert texts(Reader(str(tmp_path)).read()) == [1, 2]


def test_no_log_yet(tmp_path):
    r = Reader(str(tmp_path), at_end=True)
    assert r.read() == []
    log = cd.Log(str(tmp_path / cd.LOG))
    write(log, 7)
    assert texts(r.read()) == [7]
    log.close()


@pytest.mark.parametrize("max_file", [1, 2, 3])
def test_a_writer_process_racing_the_reader(tmp_path, max_file):
    # the writer and the reader at once, on two CPUs, as the monitor and `logs -f` are;
    # several rounds, so the reads fall in every moment of a rename or a truncation
    for k in range(8):
        d = tmp_path / str(k)
        d.mkdir()
        pid = os.fork()
        if pid == 0:                         # the writer: the monitor's Log
            try:
                log = cd.Log(str(d / cd.LOG), max_size=2048, max_file=max_file)
                for i in range(3000):
                    write(log, i)
                log.close()
            finally:
                os._exit(0)
        r, got = Reader(str(d)), []
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            got += texts(r.read(limit=700 if k % 2 else Reader.LIMIT))   # small reads too
        while True:
            got += texts(r.read())
            if not r.more:
                break
        r.close()
        assert got == sorted(set(got)), (max_file, k)
        kept = texts(Reader(str(d)).read())
        assert kept and kept[-1] == 2999 and set(kept) <= set(got), (max_file, k)


# The two races a loaded machine makes, made to happen on cue: the writer acts inside the
# reader's step through the module's ``open`` (the files and the writer stay real).

class Cue:
    """A file of the reader's whose ``read`` first runs ``before`` (once)."""

    def __init__(self, f, before):
        self.f, self.before = f, before

    def read(self, *a):
        if self.before:
            self.before, go = None, self.before
            go()
        return self.f.read(*a)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


def test_two_rotations_inside_one_walk(tmp_path, monkeypatch):
    import builtins
    from pycontainer.api import logs
    log = cd.Log(str(tmp_path / cd.LOG), max_size=200, max_file=3)
    r, got, n = Reader(str(tmp_path)), [], 0
    for n in range(4):
        write(log, n)
    got += texts(r.read())
    for n in range(n + 1, n + 4):            # json.log rotated once: the next read walks
        write(log, n)
    calls = []

    def opening(name, *a, **kw):
        f = builtins.open(name, *a, **kw)
        calls.append(name)
        if len(calls) == 1:                  # json.log met; two rotations before json.log.1
            nonlocal n
            for _ in range(2):
                ino = os.stat(tmp_path / cd.LOG).st_ino
                while os.stat(tmp_path / cd.LOG).st_ino == ino:
                    n += 1
                    write(log, n)
        return f
    monkeypatch.setattr(logs, "open", opening, raising=False)
    got += texts(r.read())
    monkeypatch.undo()
    got += texts(r.read())
    log.close()
    assert got == sorted(set(got)) and got[-1] == n, got


def test_truncated_while_read(tmp_path, monkeypatch):
    import builtins
    from pycontainer.api import logs
    log = cd.Log(str(tmp_path / cd.LOG), max_size=300, max_file=1)

    def opening(name, *a, **kw):
        return Cue(builtins.open(name, *a, **kw), None)
    monkeypatch.setattr(logs, "open", opening, raising=False)
    r, got = Reader(str(tmp_path)), []
    for i in range(3):
        write(log, i)
    got += texts(r.read())
    write(log, 3)

    def truncate_and_more():                 # json.log truncated and past where the reader is
        i, size = 4, log.size
        while log.size >= size:
            size = log.size
            write(log, i)
            i += 1
        while log.size <= r.f.tell():
            write(log, i)
            i += 1
    r.f.before = truncate_and_more
    got += texts(r.read())
    got += texts(r.read())
    log.close()
    assert got == sorted(set(got)), got
    assert set(texts(Reader(str(tmp_path)).read())) <= set(got)


def test_reads_are_bounded_and_go_on(tmp_path):
    # a long log comes in reads of about ``limit`` bytes, each line once, in order
    log = cd.Log(str(tmp_path / cd.LOG), max_size=5000, max_file=4)
    for i in range(200):
        write(log, i)
    r, got, reads = Reader(str(tmp_path)), [], 0
    while True:
        got += texts(r.read(limit=1000))
        reads += 1
        if not r.more:
            break
    kept = texts(Reader(str(tmp_path)).read())
    assert got == kept and got[-1] == 199
    assert reads > len(got) * 60 // 1000              # ~74 bytes a line: many reads
    write(log, 200)
    assert texts(r.read()) == [200]
    log.close()


def test_tail_reads_backwards_across_files(tmp_path):
    from pycontainer.api.logs import chunks
    log = cd.Log(str(tmp_path / cd.LOG), max_size=300, max_file=3)
    for i in range(30):
        write(log, i)
        log.feed("stderr", b"e%d\n" % i)
    log.flush()
    # half a line at the end: not a line yet
    with open(tmp_path / cd.LOG, "ab") as f:
        f.write(b'{"log":"f30\\n","stream":"stdout",')
    every = [t for s, _t, t in entries(Reader(str(tmp_path)).read()) if s == "stdout"]
    out = [d for _s, d in chunks(str(tmp_path), tail="5", stderr=False)]
    assert out == [b"f%d\n" % i for i in range(25, 30)]
    both = [d for _s, d in chunks(str(tmp_path), tail="3")]
    assert both == [b"e28\n", b"f29\n", b"e29\n"]
    many = [d for _s, d in chunks(str(tmp_path), tail="1000", stderr=False)]
    assert many == every                             # all that the three files hold
    assert [d for _s, d in chunks(str(tmp_path), tail="0")] == []
    # after --tail, follow goes on from the end: the half line, once finished, and what follows
    r = Reader(str(tmp_path))
    r.tail(2, lambda line: True)
    with open(tmp_path / cd.LOG, "ab") as f:
        f.write(b'"time":"2026-12-01T00:00:00.000000000Z"}\n')
    write(log, 31)
    assert texts(r.read()) == [30, 31]
    log.close()


def test_follow_reads_on_past_the_limit_after_the_writer_is_gone(tmp_path):
    # the writer wrote more than one read's limit and is gone: follow still reads it all
    log = cd.Log(str(tmp_path / cd.LOG), max_size=400_000, max_file=5)
    for i in range(20000):                  # ~1.5 MB over four files
        write(log, i)
    log.close()
    calls = []

    def alive():
        calls.append(1)
        return len(calls) < 2               # gone after the first look
    r = Reader(str(tmp_path))
    got = [x for lines in r.follow(alive, poll=0) for x in texts(lines)]
    assert got == list(range(20000))
    r.close()


def test_at_end_waits_for_a_half_written_line(tmp_path):
    p = tmp_path / cd.LOG
    log = cd.Log(str(p))
    write(log, 1)
    with open(p, "ab") as f:                # a line being written when the reader starts
        f.write(b'{"log":"f2\\n","stream":"stdout",')
    r = Reader(str(tmp_path), at_end=True)
    with open(p, "ab") as f:
        f.write(b'"time":"2026-12-01T00:00:00.000000000Z"}\n')
    assert texts(r.read()) == [2]
    log.close()
    r.close()
