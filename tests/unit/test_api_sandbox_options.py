"""The sandbox API's options and bounds, in-process (MockTransport: no helper, no root)."""

import pytest

import pycontainer
from pycontainer.api import MockTransport
from pycontainer.api.streams import Sink, check_limits


def _client(tmp_path, handler):
    t = MockTransport(handler)
    return pycontainer.Client(root=str(tmp_path / "state"), transport=t), t


OK = {"exit_code": 0, "oom_killed": False, "timed_out": False}


def test_sink_keeps_the_head_and_says_it_truncated():
    seen = []
    s = Sink(5, seen.append)
    for chunk in (b"abc", b"def", b"ghi"):
        s.feed(chunk)
    assert s.value() == b"abcde" and s.truncated and seen == [b"abc", b"def", b"ghi"]
    s = Sink(None)
    s.feed(b"x" * 100)
    assert len(s.value()) == 100 and not s.truncated


@pytest.mark.parametrize("timeout", [0, -1, 0.0, True, "3"])
def test_non_positive_timeouts_are_usage_errors(timeout):
    with pytest.raises(pycontainer.APIError, match="timeout"):
        check_limits(timeout, None)


def test_sandbox_truncates_and_defaults_to_deny_private(tmp_path):
    client, t = _client(tmp_path, lambda req, stdin: (OK, b"o" * 50, b"e" * 10))
    r = client.containers.sandbox("busybox", ["x"], max_output=20)
    assert r.stdout == b"o" * 20 and r.stdout_truncated and not r.stderr_truncated and r.truncated
    assert t.requests[0]["options"]["egress"] == "deny-private"
    client.containers.run("busybox", ["x"], remove=True)
    assert t.requests[1]["options"]["egress"] == "allow-all"           # docker's run: no policy


def test_labels_storage_egress_lifetime_options(tmp_path):
    client, t = _client(tmp_path, lambda req, stdin: (OK, b"", b""))
    client.containers.sandbox("busybox", ["x"], labels={"a": "b"}, storage_opt={"size": "100m"},
                              egress_allow=["10.0.0.1/32:80", "192.168.0.0/16"])
    o = t.requests[0]["options"]
    assert o["labels"] == {"a": "b"} and o["storage_opt"] == {"size": "100m"}
    assert o["egress_allow"] == ["10.0.0.1/32:80", "192.168.0.0/16"]
    for bad in (["10.0.0.300"], ["10.0.0.1/32:0"], ["example.com"]):
        with pytest.raises(pycontainer.APIError, match="egress_allow"):
            client.containers.sandbox("busybox", ["x"], egress_allow=bad)
    with pytest.raises(pycontainer.APIError, match="egress="):
        client.containers.sandbox("busybox", ["x"], egress="sometimes")
    with pytest.raises(pycontainer.APIError, match="lifetime"):
        client.containers.sandbox("busybox", ["x"], lifetime=-1)
    assert len(t.requests) == 1                                       # usage errors send nothing
