"""atomicfile: the whole new content or the old one, never a stray temporary file."""

import json
import os

import pytest

from pycontainer import atomicfile


def test_write_replaces_whole_with_mode_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "f.json"
    atomicfile.write_json(str(p), {"a": 1})
    atomicfile.write(str(p), b"second", mode=0o600)
    assert p.read_bytes() == b"second" and os.stat(p).st_mode & 0o777 == 0o600
    atomicfile.write_json(str(p), [1, 2], indent=1)
    assert json.loads(p.read_text()) == [1, 2]
    assert os.listdir(tmp_path) == ["f.json"]


def test_a_failed_write_keeps_the_old_content_and_no_temporary(tmp_path):
    target = tmp_path / "d"
    target.mkdir()                                  # rename(2) of a file over a directory fails
    (target / "keep").write_text("x")
    with pytest.raises(IsADirectoryError):
        atomicfile.write(str(target), "new")
    assert (target / "keep").read_text() == "x" and sorted(os.listdir(tmp_path)) == ["d"]
    with pytest.raises(FileNotFoundError):
        atomicfile.write(str(tmp_path / "missing" / "f"), "x")
    assert sorted(os.listdir(tmp_path)) == ["d"]
