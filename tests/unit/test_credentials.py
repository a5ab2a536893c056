"""Registry credentials (image/credentials.py): flag parsing and the auth-file lookup order."""

import base64
import json

import pytest

from pycontainer.errors import ImageError
from pycontainer.image import credentials


def _file(path, auths):
    path.write_text(json.dumps({"auths": {k: {"auth": base64.b64encode(v.encode()).decode()}
                                          for k, v in auths.items()}}))
    return str(path)


def test_creds_flag():
    assert credentials.parse_creds("u:p:q") == ("u", "p:q")
    for bad in ("", "u", ":p"):
        with pytest.raises(ImageError, match="USER:PASSWORD"):
            credentials.parse_creds(bad)


def test_lookup_order_and_keys(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    assert credentials.lookup("reg:5000") is None
    _file(home / ".docker" / "config.json", {"https://index.docker.io/v1/": "hub:1",
                                            "reg:5000": "docker:2"})
    assert credentials.lookup("docker.io", "library/busybox") == ("hub", "1")
    assert credentials.lookup("reg:5000", "a/b") == ("docker", "2")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", _file(tmp_path / "a.json", {"reg:5000/a/b": "repo:3"}))
    assert credentials.lookup("reg:5000", "a/b") == ("repo", "3")     # the first file that has it
    assert credentials.lookup("reg:5000", "c/d") == ("docker", "2")   # else the next
    with pytest.raises(ImageError, match="no such file"):
        credentials.lookup("reg:5000", authfile=str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ImageError, match="cannot read"):
        credentials.lookup("reg:5000", authfile=str(tmp_path / "bad.json"))
