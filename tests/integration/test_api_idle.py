"""``idle_timeout=`` for detached sandboxes (issue 14): a detached container with no activity
for that long is killed and removed. Activity: CPU time of its cgroup changing, or an API call
on it (exec_run, put/get_archive, logs, attach). Margins are generous: these check what
happens, never how fast."""

import os
import time

import pytest

import pycontainer
from test_api_sandbox import client  # noqa: F401  -- the fixture: nothing left behind

pytestmark = pytest.mark.root


def gone(client, cid, within: float) -> bool:  # noqa: F811
    deadline = time.monotonic() + within
    while os.path.exists(os.path.join(client.root, cid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not os.path.exists(os.path.join(client.root, cid))


def test_an_idle_detached_sandbox_goes(client):  # noqa: F811
    c = client.containers.run("busybox", ["sleep", "120"], detach=True, network_mode="none",
                              idle_timeout=1.5)
    assert c.status == "running"
    assert gone(client, c.id, 20)
    for _ in range(100):            # its directory goes right after its runtime state
        if client.containers.list(all=True) == []:
            break
        time.sleep(0.05)
    assert client.containers.list(all=True) == []


def test_a_busy_one_stays_past_it(client):  # noqa: F811
    c = client.containers.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True,
                              network_mode="none", cpus=0.2, idle_timeout=1)
    time.sleep(4)                                  # four idle timeouts, never idle
    c.reload()
    assert c.status == "running"
    c.remove(force=True)


@pytest.mark.parametrize("call", ["exec_run", "get_archive"])
def test_api_calls_reset_it(client, call):  # noqa: F811
    c = client.containers.run("busybox", ["sleep", "120"], detach=True, network_mode="none",
                              idle_timeout=2)
    until = time.monotonic() + 5                   # 2.5 idle timeouts of calls every 0.4 s
    while time.monotonic() < until:
        if call == "exec_run":
            assert c.exec_run(["true"]).exit_code == 0
        else:                                      # runs nothing in the container: the activity mark
            c.get_archive("/etc/hostname")
        time.sleep(0.4)
    c.reload()
    assert c.status == "running"
    assert gone(client, c.id, 20)                  # and once the calls stop, it goes


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan"), float("inf"), None.__class__])
def test_bad_values_are_refused_before_anything_is_made(client, bad):  # noqa: F811
    with pytest.raises(pycontainer.APIError, match="idle_timeout"):
        client.containers.run("busybox", ["sleep", "5"], detach=True, network_mode="none",
                              idle_timeout=bad)
    assert client.containers.list(all=True) == []
    assert client.seen_ids == set()                # no request reached the helper
