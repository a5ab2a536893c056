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
                              idle_timeout=3)
    # 2.5 idle timeouts of calls every 0.4 s; the 3 s timeout leaves room for a stalled host
    until = time.monotonic() + 7.5
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


class FakeMachine:
    """``watch_idle``'s clock, sleep and sample, faked. Each ``sleep`` moves the clock on and
    a busy container runs meanwhile (its CPU time grows); the sleep numbered ``stall_at`` lasts
    ``stall`` seconds more, in which nothing ran (the machine stood still: not the container
    either). The container goes (``alive()`` false) after ``runs`` sleeps."""

    def __init__(self, busy: bool, stall_at: int = 0, stall: float = 0.0, runs: int = 40):
        self.t, self.cpu, self.sleeps = 0.0, 0, 0
        self.busy, self.stall_at, self.stall, self.runs = busy, stall_at, stall, runs

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += seconds
        if self.sleeps == self.stall_at:
            self.t += self.stall
        elif self.busy:
            self.cpu += 1

    def sample(self) -> tuple:
        return (self.cpu, 0)

    def alive(self) -> bool:
        return self.sleeps < self.runs


def watch(m: FakeMachine, idle: float) -> None:
    from pycontainer.api.operations import watch_idle
    watch_idle(m.sample, m.alive, idle, clock=m.clock, sleep=m.sleep)


def test_a_stall_of_the_machine_is_no_idleness():
    """On cue, without a container: the machine stands still for 5 idle timeouts right after
    a sample of a busy container. The first sample after it sees no new CPU time (nothing ran),
    yet judges nothing (the container was taken for idle and killed); then it runs again."""
    m = FakeMachine(busy=True, stall_at=3, stall=5.0)
    watch(m, 1.0)
    assert m.sleeps == m.runs                      # it went of itself, never found idle


def test_idleness_is_counted_again_from_after_a_stall():
    m = FakeMachine(busy=False, stall_at=2, stall=5.0)
    watch(m, 1.0)                                  # steps of 0.25 s; the stall ends at 5.5
    assert m.t == pytest.approx(6.5)


def test_an_idle_one_is_found_idle_at_its_timeout():
    m = FakeMachine(busy=False)
    watch(m, 1.0)
    assert m.t == pytest.approx(1.0)
